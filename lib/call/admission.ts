/**
 * The INVITE middleware chain, one decision each, in front of the call handler (as jambonz's
 * sbc-inbound chains its steps): each either calls `next()` or answers the caller and returns.
 *
 *   srf.use('invite', refuseWhileDraining(...))   503 + Retry-After while this instance drains
 *   srf.use('invite', refuseMergedRequest(...))   482 for a second INVITE of a call already here
 *   srf.use('invite', routeCall(...))             404 (call.noRouteStatus) when no route matches
 */
import type { Config } from '../config/schema';
import type { SrfRequest, SrfResponse } from '../drachtio/srf';
import type { Logger } from '../logger';
import { matchRoute, type CompiledRoute, type RoutedTarget } from '../routing/match';
import { requestDomain, requestUser } from '../sip/uri';
import { callKey } from './call-record';
import type { CallRegistry } from './registry';

export type Middleware = (req: SrfRequest, res: SrfResponse, next: (err?: unknown) => void) => void;

/** What every step needs: the logger, and srf.endSession to close an outbound-mode connection once the caller is answered. */
export interface AdmissionContext {
  logger: Logger;
  endSession(req: SrfRequest): void;
}

/** What the chain found out about a call, read by the call handler. */
export interface Admitted {
  /** the caller's Call-ID and From tag */
  key: string;
  route: CompiledRoute['route'];
  targets: readonly RoutedTarget[];
  /** the Request-URI user part to forward (with its parameters) */
  user: string;
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
  if (!a?.key || !a.route || !a.targets || a.user === undefined) throw new Error('INVITE reached the call handler without passing admission');
  return a as Admitted;
}

export function refuseWhileDraining(isDraining: () => boolean, retryAfterSeconds: number, { logger, endSession }: AdmissionContext): Middleware {
  return (req, res, next) => {
    if (!isDraining()) return next();
    res.send(503, 'Shutting Down', { headers: { 'Retry-After': String(retryAfterSeconds) } });
    endSession(req);
    logger.child({ callId: req.get('Call-ID') }).info({ code: 'B2B_ERR_SHUTTING_DOWN', status: 503 }, 'call rejected: instance is draining');
  };
}

/**
 * RFC 3261 §8.2.2.2: an INVITE with the Call-ID and From tag of a call already being handled here is
 * a merged request (a looped or forked copy, or a hostile one) and gets 482. drachtio-server does not
 * do this itself: it leaves sofia-sip's NTATAG_MERGE_482 off, so only retransmissions (same branch)
 * are absorbed below the app.
 */
export function refuseMergedRequest(registry: Pick<CallRegistry, 'has'>, { logger, endSession }: AdmissionContext): Middleware {
  return (req, res, next) => {
    const from = req.getParsedHeader('From') as { params?: Record<string, string | undefined> } | undefined;
    const key = callKey(req.get('Call-ID'), from?.params?.tag ?? '');
    if (!registry.has(key)) {
      facts(req).key = key;
      return next();
    }
    res.send(482, 'Loop Detected');
    endSession(req);
    logger.child({ callId: req.get('Call-ID') }).info({ code: 'B2B_ERR_MERGED_REQUEST', status: 482 }, 'call rejected: merged request (a call with this Call-ID and From tag is already in progress)');
  };
}

export function routeCall(routes: readonly CompiledRoute[], config: Config, { logger, endSession }: AdmissionContext): Middleware {
  return (req, res, next) => {
    const domain = requestDomain(req.uri);
    const compiled = matchRoute(routes, { domain, sourceAddress: req.source_address });
    if (!compiled) {
      res.send(config.call.noRouteStatus, 'No Route');
      endSession(req);
      logger
        .child({ callId: req.get('Call-ID') })
        .info({ code: 'B2B_ERR_NO_ROUTE', status: config.call.noRouteStatus, domain, source: req.source_address }, 'call rejected: no route');
      return;
    }
    Object.assign(facts(req), { route: compiled.route, targets: compiled.targets, user: requestUser(req.uri) });
    next();
  };
}
