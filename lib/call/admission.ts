/**
 * The INVITE middleware chain, one decision each, in front of the call handler (as jambonz's
 * sbc-inbound chains its steps): each either calls `next()` or answers the caller and returns.
 *
 *   srf.use('invite', guardSources(...))          403 for a blocked source, a known scanner, or a source over its call rate
 *   srf.use('invite', refuseWhenOverloaded(...))  503 + Retry-After at once while this instance is overloaded
 *   srf.use('invite', refuseWhileDraining(...))   503 + Retry-After while this instance drains
 *   srf.use('invite', limitHops(...))             483 when Max-Forwards is 0 (a forwarding loop ends here)
 *   srf.use('invite', refuseUnsupportedExtensions(...))  420 + Unsupported for a Require we do not support
 *   srf.use('invite', refuseMergedRequest(...))   482 for a second INVITE of a call already here
 *   srf.use('invite', routeCall(...))             404 (call.noRouteStatus) when no route matches; 403 when the
 *                                                 route's userParameters policy rejects the dialled number;
 *                                                 414 when no target's Request-URI fits what drachtio sends
 */
import type { Config } from '../config/schema';
import type { ErrorCode } from '../errors';
import type { SrfRequest, SrfResponse } from '../drachtio/srf';
import type { Logger } from '../logger';
import { matchRoute, type CompiledRoute, type RoutedTarget } from '../routing/match';
import { forwardedUser, inviteUriTooLong, REQUEST_URI_TOO_LONG, requestDomain, requestUser, targetUri } from '../sip/uri';
import { callKey } from './call-record';
import type { OverloadCause } from './overload';
import type { CallRegistry } from './registry';

export type Middleware = (req: SrfRequest, res: SrfResponse, next: (err?: unknown) => void) => void;

/**
 * The steps as one middleware, run in order: each either answers or calls next; next(err) leaves the
 * chain with the error. One srf.use for the chain instead of one per step spares drachtio-srf's router
 * its per-layer matching on every INVITE.
 */
export function chain(steps: readonly Middleware[]): Middleware {
  return (req, res, next) => {
    let i = 0;
    const step = (err?: unknown): void => {
      if (err !== undefined || i === steps.length) {
        next(err);
        return;
      }
      const current = steps[i];
      i += 1;
      current(req, res, step);
    };
    step();
  };
}

/** What every step needs: the logger, and srf.endSession to close an outbound-mode connection once the caller is answered. */
export interface AdmissionContext {
  logger: Logger;
  /** destructured and called on its own, so a function property, not a method (no `this`) */
  endSession: (req: SrfRequest) => void;
  /** counts a refusal by its error code (the metrics); optional */
  refused?: (code: ErrorCode) => void;
}

/** What the chain found out about a call, read by the call handler. */
export interface Admitted {
  /** the caller's Call-ID and From tag */
  key: string;
  route: CompiledRoute['route'];
  targets: readonly RoutedTarget[];
  /** the Request-URI user part to forward, after the route's userParameters policy */
  user: string;
  /** the Max-Forwards of the INVITEs sent to targets: the caller's minus one, or 70 when it sent none */
  maxForwards: number;
}

const kAdmitted = Symbol('sipd.admitted');
type Tagged = SrfRequest & { [kAdmitted]?: Partial<Admitted> };

function facts(req: SrfRequest): Partial<Admitted> {
  const tagged = req as Tagged;
  return (tagged[kAdmitted] ??= {});
}

/** What the chain decided for this request; throws if the request did not pass through it. */
export function admitted(req: SrfRequest): Admitted {
  const a = (req as Tagged)[kAdmitted];
  if (!a?.key || !a.route || !a.targets || a.user === undefined || a.maxForwards === undefined)
    throw new Error('INVITE reached the call handler without passing admission');
  return a as Admitted;
}

/** What guardSources needs: the block list, the per-source rate, the scanner matcher. */
export interface SourceGuard {
  isBlocked(address: string): boolean;
  block(address: string, cause: string): void;
  /** true when this call takes the source over its rate */
  overRate(address: string): boolean;
  readonly maxCps: number;
  scanner(userAgent: string | undefined): string | undefined;
}

/**
 * The cheapest refusals first, before any other work: a source on the cluster's block list gets 403
 * (not logged per call: a flood would flood the log; counted in the metrics); a User-Agent on the
 * scanner list, or a source going over `security.sourceMaxCps`, gets 403 and puts the source on the
 * block list for `security.blockS` (one warning per block, lib/security/block-list.ts).
 */
export function guardSources(guard: SourceGuard, { endSession, refused }: Pick<AdmissionContext, 'endSession' | 'refused'>): Middleware {
  const forbid = (req: SrfRequest, res: SrfResponse, code: ErrorCode): void => {
    res.send(403, 'Forbidden');
    endSession(req);
    refused?.(code);
  };
  return (req, res, next) => {
    const source = req.source_address;
    if (guard.isBlocked(source)) return forbid(req, res, 'B2B_ERR_SOURCE_BLOCKED');
    const scanner = guard.scanner(req.get('User-Agent'));
    if (scanner !== undefined) {
      guard.block(source, `scanner User-Agent "${scanner}"`);
      return forbid(req, res, 'B2B_ERR_SOURCE_SCANNER');
    }
    if (guard.overRate(source)) {
      guard.block(source, `more than ${String(guard.maxCps)} new calls in a second`);
      return forbid(req, res, 'B2B_ERR_SOURCE_BLOCKED');
    }
    next();
  };
}

/**
 * Overload control (lib/call/overload.ts): refused before anything else is spent on the call — no
 * Redis, no target — with 503 and a short Retry-After, so the calls taken keep normal set-up times.
 * Logged once per overload episode by the guard's owner, not per call.
 */
export function refuseWhenOverloaded(
  guard: { admit(settingUp: number): OverloadCause | undefined },
  settingUp: () => number,
  retryAfterSeconds: number,
  { endSession }: Pick<AdmissionContext, 'endSession'>,
): Middleware {
  const headers = { 'Retry-After': String(retryAfterSeconds) };
  return (req, res, next) => {
    if (guard.admit(settingUp()) === undefined) return next();
    res.send(503, 'Overloaded', { headers });
    endSession(req);
  };
}

export function refuseWhileDraining(
  isDraining: () => boolean,
  /** a function: a config reload may change it */
  retryAfterSeconds: number | (() => number),
  { logger, endSession, refused }: AdmissionContext,
): Middleware {
  return (req, res, next) => {
    if (!isDraining()) return next();
    const seconds = typeof retryAfterSeconds === 'function' ? retryAfterSeconds() : retryAfterSeconds;
    res.send(503, 'Shutting Down', { headers: { 'Retry-After': String(seconds) } });
    endSession(req);
    refused?.('B2B_ERR_SHUTTING_DOWN');
    logger.child({ callId: req.get('Call-ID') }).info({ code: 'B2B_ERR_SHUTTING_DOWN', status: 503 }, 'call rejected: instance is draining');
  };
}

/** RFC 3261 §16.6 step 3: the Max-Forwards a proxy adds to a request that has none. */
export const DEFAULT_MAX_FORWARDS = 70;

/**
 * The hop count of a Max-Forwards header value (`1*DIGIT`, RFC 3261 §20.22); undefined when the header
 * is absent or not a number (sofia-sip refuses a malformed one before the app sees it).
 */
export function parseMaxForwards(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d{1,10})\s*$/.exec(value);
  return m ? Number(m[1]) : undefined;
}

/**
 * RFC 3261 §16.3 step 3 and §16.6 step 3, as a B2BUA that forwards calls must do them though it is not
 * a proxy: an INVITE with `Max-Forwards: 0` gets 483 and is not forwarded; otherwise the INVITEs sent
 * to targets carry the caller's value minus one (70 when it sent none). drachtio-server does neither
 * for an app's new UAC request (it starts every one at 70), so without this two dispatchers pointing at
 * each other would forward one call for ever; with it, the loop ends after at most 70 hops.
 */
export function limitHops({ logger, endSession, refused }: AdmissionContext): Middleware {
  return (req, res, next) => {
    const hops = parseMaxForwards(req.get('Max-Forwards'));
    if (hops === undefined || hops > 0) {
      facts(req).maxForwards = hops === undefined ? DEFAULT_MAX_FORWARDS : Math.min(hops, 256) - 1;
      return next();
    }
    res.send(483, 'Too Many Hops');
    endSession(req);
    refused?.('B2B_ERR_TOO_MANY_HOPS');
    logger
      .child({ callId: req.get('Call-ID') })
      .warn(
        { code: 'B2B_ERR_TOO_MANY_HOPS', status: 483, source: req.source_address, uri: req.uri },
        'call rejected: Max-Forwards reached 0 (a forwarding loop, or a path longer than 70 hops)',
      );
  };
}

/**
 * SIP extensions (option tags) the dispatcher implements as a UAS: none. It does not send reliable
 * provisionals (`100rel`), run session timers (`timer`) or act on `Replaces`; an INVITE that requires
 * one of them must be refused rather than silently served without it.
 */
export const SUPPORTED_EXTENSIONS: readonly string[] = [];

/** The option tags of a Require header value (comma-separated, case-insensitive), lower case. */
export function requiredExtensions(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/**
 * RFC 3261 §8.2.2.3: a UAS that does not understand an option tag listed in Require answers
 * `420 Bad Extension` with an Unsupported header listing those tags. drachtio-server passes such an
 * INVITE up to the app unchanged, so the dispatcher does it here.
 */
export function refuseUnsupportedExtensions({ logger, endSession, refused }: AdmissionContext): Middleware {
  return (req, res, next) => {
    const unsupported = requiredExtensions(req.get('Require')).filter((t) => !SUPPORTED_EXTENSIONS.includes(t));
    if (unsupported.length === 0) return next();
    res.send(420, 'Bad Extension', { headers: { Unsupported: unsupported.join(', ') } });
    endSession(req);
    refused?.('B2B_ERR_BAD_EXTENSION');
    logger
      .child({ callId: req.get('Call-ID') })
      .info({ code: 'B2B_ERR_BAD_EXTENSION', status: 420, unsupported }, 'call rejected: requires an unsupported extension');
  };
}

/**
 * RFC 3261 §8.2.2.2: an INVITE with the Call-ID and From tag of a call already being handled here is
 * a merged request (a looped or forked copy, or a hostile one) and gets 482. drachtio-server does not
 * do this itself: it leaves sofia-sip's NTATAG_MERGE_482 off, so only retransmissions (same branch)
 * are absorbed below the app.
 */
export function refuseMergedRequest(registry: Pick<CallRegistry, 'has'>, { logger, endSession, refused }: AdmissionContext): Middleware {
  return (req, res, next) => {
    const from = req.getParsedHeader('From') as { params?: Record<string, string | undefined> } | undefined;
    const key = callKey(req.get('Call-ID'), from?.params?.tag ?? '');
    if (!registry.has(key)) {
      facts(req).key = key;
      return next();
    }
    res.send(482, 'Loop Detected');
    endSession(req);
    refused?.('B2B_ERR_MERGED_REQUEST');
    logger
      .child({ callId: req.get('Call-ID') })
      .info({ code: 'B2B_ERR_MERGED_REQUEST', status: 482 }, 'call rejected: merged request (a call with this Call-ID and From tag is already in progress)');
  };
}

export function routeCall(
  /** the routes in force, read per request (a reload may replace them) */
  routes: () => readonly CompiledRoute[],
  /** the config in force, read per request when a function (a reload may replace it) */
  settings: Config | (() => Config),
  { logger, endSession, refused }: AdmissionContext,
  /** counts a call whose user parameters were stripped (a per-route counter in Redis) */
  countStripped: (route: string) => void,
  /** puts a source on the block list (a route's `refuseSource: drop`) */
  blockSource: (address: string, cause: string) => void = () => undefined,
): Middleware {
  const warnedStrip = new Set<string>();
  const refuse = (req: SrfRequest, res: SrfResponse, status: number, reason: string, msg: string, fields: { code: ErrorCode; [k: string]: unknown }): void => {
    res.send(status, reason);
    endSession(req);
    refused?.(fields.code);
    logger.child({ callId: req.get('Call-ID') }).info({ status, ...fields }, msg);
  };
  return (req, res, next) => {
    const config = typeof settings === 'function' ? settings() : settings;
    const domain = requestDomain(req.uri);
    const compiled = matchRoute(routes(), { domain, sourceAddress: req.source_address });
    if (!compiled) {
      refuse(req, res, config.call.noRouteStatus, 'No Route', 'call rejected: no route', { code: 'B2B_ERR_NO_ROUTE', domain, source: req.source_address });
      return;
    }
    const { route } = compiled;
    if (!compiled.allows(req.source_address)) {
      if (route.refuseSource === 'drop') blockSource(req.source_address, `not in routes "${route.name}" allowSources`);
      refuse(req, res, 403, 'Forbidden', 'call rejected: source not allowed on this route', {
        code: 'B2B_ERR_SOURCE_NOT_ALLOWED',
        route: route.name,
        source: req.source_address,
      });
      return;
    }
    if (compiled.targets.length === 0) {
      // every target is a DNS name that has not resolved (yet, or to nothing): nothing to try
      res.send(config.call.allFailedStatus, 'No Target Available', { headers: { 'Retry-After': String(config.call.retryAfterSeconds) } });
      endSession(req);
      logger
        .child({ callId: req.get('Call-ID') })
        .info(
          { code: 'B2B_ERR_NO_TARGET', status: config.call.allFailedStatus, route: route.name, tried: [] },
          'call failed: no target available (the route has no resolved target)',
        );
      refused?.('B2B_ERR_NO_TARGET');
      return;
    }
    const forwarded = forwardedUser(requestUser(req.uri), route.userParameters ?? config.call.userParameters);
    if ('reject' in forwarded) {
      refuse(req, res, forwarded.reject.status, forwarded.reject.reason, 'call rejected: user parameters', {
        code: 'B2B_ERR_USER_PARAMETERS',
        route: route.name,
      });
      return;
    }
    if (forwarded.stripped.length > 0) {
      countStripped(route.name);
      if (!warnedStrip.has(route.name)) {
        warnedStrip.add(route.name);
        logger.warn(
          { route: route.name, stripped: forwarded.stripped },
          'stripping user parameters from dialled numbers on this route (logged once per route; counted in Redis)',
        );
      }
    }
    // drachtio-server refuses a Request-URI longer than it sends; such targets are not tried (nor counted)
    const targets = compiled.targets.filter((t) => !inviteUriTooLong(targetUri(t, forwarded.user)));
    if (targets.length === 0) {
      refuse(req, res, REQUEST_URI_TOO_LONG.status, REQUEST_URI_TOO_LONG.reason, 'call rejected: Request-URI too long', {
        code: 'B2B_ERR_URI_TOO_LONG',
        route: route.name,
      });
      return;
    }
    Object.assign(facts(req), { route, targets, user: forwarded.user });
    next();
  };
}
