import type { Config } from '../config/schema';
import type { ErrorCode } from '../errors';
import type { Logger } from '../logger';
import type { Dialog, Srf, SrfRequest, SrfResponse } from '../drachtio/srf';
import { matchRoute, type CompiledRoute, type RoutedTarget } from '../routing/match';
import { orderTargets, type RandomSource } from '../routing/select';
import { copyHeaders, type HeaderMatcher } from '../sip/headers';
import { requestDomain, requestUser, targetUri } from '../sip/uri';
import type { CallStore, CallRecord } from '../store/call-store';
import { Attempt, type AttemptResult } from './attempt';
import { forwardedParts, relayInDialogRequests } from './dialog-relay';
import { decide, outcomeLabel, type AttemptOutcome } from './failover';
import { ParallelAttempt } from './parallel-attempt';
import type { CallRegistry } from './registry';

export interface HeaderPolicy {
  request: HeaderMatcher;
  response: HeaderMatcher;
  inDialog: HeaderMatcher;
}

/** What every call needs, built once at start (apps/dispatcher/main.ts) and shared. */
export interface CallDeps {
  srf: Srf;
  config: Config;
  routes: readonly CompiledRoute[];
  store: CallStore;
  registry: CallRegistry;
  headers: HeaderPolicy;
  logger: Logger;
  instanceId: string;
  random?: RandomSource;
}

interface Tried {
  target: string;
  result: string;
  ms: number;
}

/** A leg still ringing a minute after answer is not expected; simring's own cap for parallel legs. */
const PARALLEL_RING_TIMEOUT_S = 300;

/**
 * One caller's INVITE, from routing to the end of the call: hunts the route's targets in RFC 2782
 * order, bridges the first that answers, relays in-dialog requests, and on BYE from either side ends
 * the other leg and removes the call's Redis record exactly once.
 */
export class CallSession {
  readonly callId: string;
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  /** set when the call stops being wanted before it is answered: the caller's CANCEL, or our shutdown */
  private canceled: 'caller' | 'shutdown' | false = false;
  private current?: { cancel(reason: 'caller' | 'local'): void };
  private readonly tried: Tried[] = [];
  private dialogs?: { uas: Dialog; uac: Dialog };
  private routeName = '';
  private failoverOn: readonly number[] = [];
  private answeredTarget?: RoutedTarget;
  private recorded: Promise<boolean> = Promise.resolve(false);
  private ended = false;

  constructor(private readonly deps: CallDeps, private readonly req: SrfRequest, private readonly res: SrfResponse) {
    this.callId = req.get('Call-ID');
    this.log = deps.logger.child({ callId: this.callId });
  }

  /** Handles the call; never rejects. An unexpected fault answers 500 if nothing was sent yet. */
  async handle(): Promise<void> {
    this.deps.registry.add(this);
    try {
      await this.connect();
    } catch (err) {
      this.log.error({ err }, 'unexpected error while setting up call');
      this.respond(500, 'Server Internal Error');
      if (this.dialogs) await this.hangup('error');
      else this.deps.registry.remove(this);
    }
  }

  /** Ends the call from this side at shutdown: BYE to both legs if answered, else 503 to the caller and CANCEL to the target. */
  async end(reason: string): Promise<void> {
    if (!this.dialogs) {
      this.canceled = 'shutdown';
      this.current?.cancel('local');
      this.respond(503, 'Service Unavailable', { 'Retry-After': String(this.deps.config.call.retryAfterSeconds) });
      this.logOutcome('call abandoned: instance shutting down', 503, { code: 'B2B_ERR_SHUTTING_DOWN' });
      this.deps.registry.remove(this);
      return;
    }
    await this.hangup(reason);
  }

  private async connect(): Promise<void> {
    const { config } = this.deps;
    const facts = { domain: requestDomain(this.req.uri), sourceAddress: this.req.source_address };
    const compiled = matchRoute(this.deps.routes, facts);
    if (!compiled) {
      this.respond(config.call.noRouteStatus, 'No Route');
      this.logOutcome('call rejected: no route', config.call.noRouteStatus, { code: 'B2B_ERR_NO_ROUTE', domain: facts.domain, source: facts.sourceAddress });
      this.deps.registry.remove(this);
      return;
    }
    const route = compiled.route;
    this.routeName = route.name;
    this.req.on('cancel', () => {
      this.canceled = 'caller';
      this.log.debug('caller cancelled');
      this.current?.cancel('caller');
    });

    const maxAttempts = route.maxAttempts ?? config.call.maxAttempts;
    const failoverOn = (this.failoverOn = route.failoverOn ?? config.call.failoverOn);
    const provisionalTimeoutMs = route.provisionalTimeoutMs ?? config.call.provisionalTimeoutMs;
    const order = orderTargets(compiled.targets, this.deps.random).slice(0, maxAttempts);
    // parallel ringing needs the caller's offer to send to every target; an offer-less INVITE is hunted serially
    const groupSize = route.strategy === 'parallel' && this.req.body ? route.parallelCount : 1;
    const user = requestUser(this.req.uri);
    const headers = copyHeaders(this.req.headers, this.deps.headers.request);

    let last: AttemptResult | undefined;
    for (let i = 0; i < order.length && !this.canceled; i += groupSize) {
      const group = order.slice(i, i + groupSize);
      const t0 = Date.now();
      const { result, answered, perTarget } = await this.attemptGroup(group, user, headers, provisionalTimeoutMs);
      last = result;
      group.forEach((target, k) => this.count(target, perTarget[k], Date.now() - t0));
      const decision = decide(result.outcome, failoverOn);
      if (decision === 'answered' && result.dialogs && answered) {
        this.onAnswered(result.dialogs, answered);
        return;
      }
      if (decision === 'stop') break;
    }
    this.current = undefined;
    this.finishUnanswered(last);
  }

  private async attemptGroup(
    group: readonly RoutedTarget[],
    user: string,
    headers: Record<string, string>,
    provisionalTimeoutMs: number,
  ): Promise<{ result: AttemptResult; answered?: RoutedTarget; perTarget: AttemptOutcome[] }> {
    const common = {
      headers,
      provisionalTimeoutMs,
      isWanted: () => !this.canceled,
      onProvisional: (prov: SrfResponse) => this.relayProvisional(prov),
    };
    if (group.length === 1) {
      const [target] = group;
      const uri = targetUri(target, user);
      const attempt = new Attempt(this.deps.srf, this.req, this.res, {
        ...common,
        uri,
        responseHeaders: (res) => copyHeaders(res.headers, this.deps.headers.response),
        log: this.log.child({ target: target.id }),
      });
      this.current = attempt;
      const result = await attempt.run();
      return { result, answered: target, perTarget: [result.outcome] };
    }
    const parallel = new ParallelAttempt(this.req, this.res, {
      ...common,
      uris: group.map((t) => targetUri(t, user)),
      ringTimeoutSeconds: PARALLEL_RING_TIMEOUT_S,
      log: this.log,
    });
    this.current = parallel;
    const { result, answeredIndex, perTarget } = await parallel.run();
    return { result, answered: answeredIndex === undefined ? undefined : group[answeredIndex], perTarget };
  }

  /** Per-target counters for an unanswered attempt; answered attempts are counted with the call record. */
  private count(target: RoutedTarget, outcome: AttemptOutcome | undefined, ms: number): void {
    if (!outcome) return;
    const label = outcomeLabel(outcome);
    this.tried.push({ target: target.id, result: label, ms });
    if (outcome.kind === 'answered') return;
    const counted = outcome.kind === 'canceled' ? this.deps.store.recordCanceledAttempt(target.id) : this.deps.store.recordFailedAttempt(target.id, label);
    counted.catch((err: unknown) => {
      this.log.warn({ error: (err as Error).message, target: target.id }, 'could not count attempt in redis');
    });
  }

  private relayProvisional(prov: SrfResponse): void {
    if (this.res.finalResponseSent || this.canceled) return;
    this.res.send(prov.status, prov.reason, forwardedParts(prov, this.deps.headers.response));
  }

  private finishUnanswered(last: AttemptResult | undefined): void {
    const { config } = this.deps;
    if (this.canceled === 'caller') {
      // drachtio-server (sofia-sip) has already answered the CANCEL with 200 and the INVITE with 487
      this.logOutcome('call canceled by caller', 487, { code: 'B2B_ERR_CALL_CANCELED' });
    } else if (this.canceled === 'shutdown') {
      // end() has answered the caller and logged the outcome
    } else if (last && last.outcome.kind === 'rejected' && decide(last.outcome, this.failoverOn) === 'stop') {
      const { status, reason } = last.outcome;
      const headers = last.response ? copyHeaders(last.response.headers, this.deps.headers.response) : {};
      this.respond(status, reason, headers);
      this.logOutcome('call failed', status);
    } else {
      this.respond(config.call.allFailedStatus, 'No Target Available', { 'Retry-After': String(config.call.retryAfterSeconds) });
      this.logOutcome('call failed: no target available', config.call.allFailedStatus, { code: 'B2B_ERR_NO_TARGET' });
    }
    this.deps.registry.remove(this);
  }

  private onAnswered(dialogs: { uas: Dialog; uac: Dialog }, target: RoutedTarget): void {
    const { uas, uac } = dialogs;
    this.dialogs = dialogs;
    this.answeredTarget = target;
    // handlers first, synchronously: a BYE or re-INVITE may already be on its way
    uas.on('destroy', () => void this.hangup('caller'));
    uac.on('destroy', () => void this.hangup('target'));
    relayInDialogRequests(uas, uac, this.deps.headers.inDialog, this.log);

    const now = Date.now();
    const record: CallRecord = {
      callId: this.callId,
      route: this.routeName,
      target: target.id,
      instance: this.deps.instanceId,
      answeredAt: now,
      startedAt: this.startedAt,
      aCallId: uas.sip.callId,
      aLocalTag: uas.sip.localTag,
      aRemoteTag: uas.sip.remoteTag,
      aDialogId: uas.id,
      bCallId: uac.sip.callId,
      bLocalTag: uac.sip.localTag,
      bRemoteTag: uac.sip.remoteTag,
      bDialogId: uac.id,
      bUri: uac.remote.uri,
    };
    this.recorded = this.deps.store.recordAnswered(record).catch((err: unknown) => {
      this.log.warn({ error: (err as Error).message }, 'could not store call record in redis; the call goes on uncounted');
      return false;
    });
    this.logOutcome('call answered', 200, { target: target.id });
  }

  /** Ends both legs once, whoever hung up first, and removes the Redis record (decrementing `active` once). */
  private async hangup(by: string): Promise<void> {
    if (this.ended || !this.dialogs) return;
    this.ended = true;
    const { uas, uac } = this.dialogs;
    const other = by === 'caller' ? [uac] : by === 'target' ? [uas] : [uas, uac];
    await Promise.all(
      other.map((d) =>
        d.connected
          ? d.destroy().catch((err: unknown) => this.log.debug({ error: (err as Error).message }, 'BYE to other leg failed'))
          : undefined,
      ),
    );
    if (await this.recorded) {
      try {
        await this.deps.store.endCall(this.callId);
      } catch (err) {
        this.log.warn({ error: (err as Error).message }, 'could not remove call record from redis');
      }
    }
    this.log.info({ route: this.routeName, target: this.answeredTarget?.id, by, durationMs: Date.now() - this.startedAt }, 'call ended');
    this.deps.registry.remove(this);
  }

  private respond(status: number, reason: string, headers: Record<string, string> = {}): void {
    if (this.res.finalResponseSent) return;
    this.res.send(status, reason, { headers });
  }

  private logOutcome(msg: string, status: number, extra: { code?: ErrorCode; [k: string]: unknown } = {}): void {
    this.log.info(
      { route: this.routeName || undefined, tried: this.tried, status, setupMs: Date.now() - this.startedAt, ...extra },
      msg,
    );
  }
}
