import type { Config } from '../config/schema';
import type { ErrorCode } from '../errors';
import type { Logger } from '../logger';
import type { Dialog, Srf, SrfRequest, SrfResponse } from '../drachtio/srf';
import type { RoutedTarget } from '../routing/match';
import { orderTargets, type RandomSource } from '../routing/select';
import { orderLeastLoaded } from '../routing/least-loaded';
import { reservationHoldMs, type Capacity, type Reservation } from '../cluster/capacity';
import { firstReturn, selectableTargets, type TargetState } from '../routing/health';
import { copyHeaders, type HeaderMatcher } from '../sip/headers';
import { targetUri } from '../sip/uri';
import type { CallRecord, CallStore } from '../store/call-store';
import { AdoptedCall, dialogExists, type ReleaseReason } from '../cluster/adopted-call';
import { lostLegOf, sendByeOutsideDialog, type DialogCheck, type DialogChecked } from '../cluster/reconnect';
import type { CallOutcome } from '../metrics/metrics';
import type { Admitted } from './admission';
import { bridge, type Bridged } from './bridge';
import { buildCallRecord, legFacts } from './call-record';
import { forwardedParts, relayInDialogRequests } from './dialog-relay';
import { decide, groupOutcome, outcomeLabel, type AttemptOutcome } from './failover';
import type { CallRegistry } from './registry';
import { RingGroup, type RingResult } from './ring-group';

export interface HeaderPolicy {
  request: HeaderMatcher;
  response: HeaderMatcher;
  inDialog: HeaderMatcher;
}

/** What every call needs, built once at start (lib/dispatcher.ts) and shared. */
export interface CallDeps {
  srf: Srf;
  /** which drachtio-server `srf` is connected to: `host:port` from drachtio.servers[], or `outbound` */
  serverId: string;
  config: Config;
  store: CallStore;
  registry: CallRegistry;
  headers: HeaderPolicy;
  logger: Logger;
  instanceId: string;
  /** target health: this instance's view of the target states, and where attempt outcomes are reported (lib/cluster/target-health.ts) */
  health?: {
    readonly states: ReadonlyMap<string, TargetState>;
    report(targetId: string, outcome: AttemptOutcome, retryAfter: string | undefined): void;
    notePanic(route: string, panic: boolean, targets: readonly { readonly id: string }[]): void;
  };
  random?: RandomSource;
  /** failovers only within this instance's budget (lib/call/failover-budget.ts); none: unlimited */
  failoverBudget?: { noteCall(nowMs: number): void; tryFailover(nowMs: number): boolean };
  /** the Prometheus metrics, fed the outcome of each call (lib/metrics/metrics.ts); absent when the HTTP endpoints are off */
  metrics?: { callOutcome(o: CallOutcome): void };
  /** capacity per target (maxCalls, maxCps), reserved cluster-wide before each INVITE to a limited target (lib/cluster/capacity.ts) */
  capacity?: Capacity;
  /** this instance's view of the targets' loads, for the least-loaded strategy (lib/cluster/target-load.ts) */
  load?: { readonly loads: ReadonlyMap<string, number> };
}

/** Who or what ended an answered call. */
export type HangupReason =
  | 'caller'
  | 'target'
  | 'shutdown'
  | 'operator'
  | 'max-duration'
  | 'error'
  /** drachtio-server no longer knew the call's dialogs after a reconnect (it restarted) */
  | 'drachtio-restart'
  /** a watched call (see `checkDialogs`) whose two dialogs were both gone at one probe */
  | 'both';
/** Why a call stopped being wanted before it was answered. */
type AbandonReason = 'caller' | 'shutdown';

interface Tried {
  target: string;
  result: string;
  ms: number;
}

/**
 * One caller's INVITE, from its admitted route to the end of the call: hunts the route's targets in
 * RFC 2782 order (one at a time, or `parallelCount` at once), bridges the first that answers, relays
 * in-dialog requests, and on BYE from either side (or the maximum duration, or shutdown) ends the
 * other leg and removes the call's Redis record.
 */
export class CallSession implements DialogChecked {
  readonly callId: string;
  readonly key: string;
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  private readonly admitted: Admitted;
  private abandoned: AbandonReason | false = false;
  private ringing?: RingGroup;
  private readonly tried: Tried[] = [];
  /** targets skipped because they were full */
  private readonly skipped: Array<{ target: string; full: string }> = [];
  private attemptNo = 0;
  /** a failover was refused: the instance's failover budget was spent */
  private budgetSpent = false;
  private call?: Bridged & { target: RoutedTarget };
  private recorded: Promise<unknown> = Promise.resolve();
  private maxDurationTimer?: NodeJS.Timeout;
  /** the Redis record, once answered */
  record?: CallRecord;
  private ended = false;
  /** set when drachtio-server kept the dialogs over a lost connection: they have no owner there, so they are probed (see `checkDialogs`) */
  private watch?: AdoptedCall;
  /** why a watched call is being ended from this side */
  private watchEndReason?: HangupReason;

  constructor(
    private readonly deps: CallDeps,
    private readonly req: SrfRequest,
    private readonly res: SrfResponse,
    admitted: Admitted,
  ) {
    this.callId = req.get('Call-ID');
    this.key = admitted.key;
    this.admitted = admitted;
    this.log = deps.logger.child({ callId: this.callId });
  }

  private get routeName(): string {
    return this.admitted.route.name;
  }

  /** Handles the call; never rejects. An unexpected fault answers 500 if nothing was sent yet. */
  async handle(): Promise<void> {
    this.deps.registry.add(this);
    try {
      await this.connect();
    } catch (err) {
      this.log.error({ err }, 'unexpected error while setting up call');
      this.respond(500, 'Server Internal Error');
      if (this.call) await this.hangup('error');
      else this.finish();
    }
  }

  /**
   * Ends the call from this side. Shutdown: BYE to both legs if answered, else 503 to the caller and
   * CANCEL to the targets. Operator: BYE to both legs if answered; false (nothing done) if not.
   */
  async end(reason: 'shutdown' | 'operator'): Promise<boolean> {
    if (!this.call) {
      if (reason === 'operator') return false;
      this.abandoned = reason;
      this.ringing?.cancel();
      this.respond(503, 'Service Unavailable', { 'Retry-After': String(this.deps.config.call.retryAfterSeconds) });
      this.logOutcome('call abandoned: instance shutting down', 503, { code: 'B2B_ERR_SHUTTING_DOWN' });
      this.finish();
      return true;
    }
    await this.hangup(reason);
    return true;
  }

  private async connect(): Promise<void> {
    const { config } = this.deps;
    const { route } = this.admitted;
    this.req.on('cancel', (cancelReq: SrfRequest) => {
      this.abandoned = 'caller';
      this.log.debug('caller cancelled');
      const reason = cancelReq?.get?.('Reason');
      this.ringing?.cancel(reason ? { Reason: reason } : undefined);
    });
    this.req.on('update', (_u: SrfRequest, r: SrfResponse) => r.send(500, 'Not Supported Before Answer', { headers: { 'Retry-After': '1' } }));

    const failoverOn = route.failoverOn ?? config.call.failoverOn;
    // quarantined and down targets are skipped, from this instance's view (no Redis on the call path)
    const now = Date.now();
    const states = this.deps.health?.states ?? new Map<string, TargetState>();
    const { targets: usable, panic } = selectableTargets(this.admitted.targets, states, now, config.health.panicBelowPercent);
    this.deps.health?.notePanic(route.name, panic, usable);
    if (usable.length === 0) {
      // a state with no end (down while probed, drained) is taken to last until probes could bring it back
      const openEndedMs = config.health.probe.intervalMs * config.health.probe.upAfter;
      const retryAfterS = Math.max(1, Math.ceil((firstReturn(this.admitted.targets, states, now, openEndedMs) - now) / 1000));
      this.respond(config.call.allFailedStatus, 'No Target Available', { 'Retry-After': String(retryAfterS) });
      this.logOutcome('call failed: every target is quarantined or down', config.call.allFailedStatus, {
        code: 'B2B_ERR_ALL_TARGETS_DOWN',
        retryAfterS,
        targets: this.admitted.targets.map((t) => ({ target: t.id, ...states.get(t.id) })),
      });
      this.finish();
      return;
    }
    const order =
      route.strategy === 'least-loaded'
        ? orderLeastLoaded(usable, this.deps.load?.loads ?? new Map<string, number>(), this.deps.random)
        : orderTargets(usable, this.deps.random);
    const maxAttempts = route.maxAttempts ?? config.call.maxAttempts;
    // parallel ringing needs the caller's offer to send to every target; an offer-less INVITE is hunted serially
    const groupSize = route.strategy === 'parallel' && this.req.body ? route.parallelCount : 1;
    const headers = copyHeaders(this.req.headers, this.deps.headers.request);
    headers['Max-Forwards'] = String(this.admitted.maxForwards);

    let last: { outcome: AttemptOutcome; response?: SrfResponse } | undefined;
    let next = 0;
    let attempts = 0;
    this.deps.failoverBudget?.noteCall(Date.now());
    while (attempts < maxAttempts && !this.abandoned) {
      // a failover (any attempt after the first) only within this instance's budget: no retry storm under overload
      if (attempts > 0 && next < order.length && this.deps.failoverBudget?.tryFailover(Date.now()) === false) {
        this.budgetSpent = true;
        break;
      }
      // full targets are skipped (not counted as attempts); targets without limits cost no round trip
      const taken = await this.takeRoom(order, next, Math.min(groupSize, maxAttempts - attempts));
      next = taken.next;
      if (this.abandoned) {
        for (const r of taken.reservations) this.deps.capacity?.release(r, this.log);
        break;
      }
      const group = taken.group;
      if (group.length === 0) break;
      attempts += group.length;
      const t0 = Date.now();
      const result = await this.ring(group, headers);
      group.forEach((target, k) => {
        this.count(target, result.perTarget[k], Date.now() - t0);
        // the answer that becomes the call keeps its reservation, and ends the target's failure run in its call record's script (RECORD_ANSWERED)
        if (result.answered?.index === k) return;
        this.reportHealth(target, result.perTarget[k], result.responses[k]);
        this.deps.capacity?.release(taken.reservations[k], this.log);
      });
      if (result.answered) {
        const target = group[result.answered.index];
        const reservation = taken.reservations[result.answered.index];
        const answerRes = result.answered.answer.res;
        let bridged: Bridged;
        try {
          bridged = await bridge(
            this.deps.srf,
            this.req,
            this.res,
            result.answered.answer,
            copyHeaders(answerRes.headers, this.deps.headers.response),
            this.log,
          );
        } catch (err) {
          // the caller went away (CANCEL crossing the answer, no ACK): the target's leg was released
          this.log.info({ err, target: target.id }, 'caller leg could not be answered; target leg released');
          this.countAbandonedAnswer(target);
          this.deps.capacity?.release(reservation, this.log);
          this.finishUnanswered({ outcome: { kind: 'canceled' } });
          return;
        }
        this.onAnswered(bridged, target, reservation);
        return;
      }
      const outcome = groupOutcome(result.perTarget, failoverOn);
      const index = result.perTarget.indexOf(outcome);
      last = { outcome, response: index === -1 ? undefined : result.responses[index] };
      if (decide(outcome, failoverOn) === 'stop') break;
    }
    this.ringing = undefined;
    if (attempts === 0 && this.skipped.length > 0 && !this.abandoned) {
      this.refuseAllFull();
      return;
    }
    this.finishUnanswered(last);
  }

  /**
   * The next `want` targets of `order` from `from` that have room: a target with maxCalls/maxCps gets a
   * reservation (one script, cluster-wide) or is skipped as full; the others are taken as they are.
   */
  private async takeRoom(
    order: readonly RoutedTarget[],
    from: number,
    want: number,
  ): Promise<{ group: RoutedTarget[]; reservations: Reservation[]; next: number }> {
    const group: RoutedTarget[] = [];
    const reservations: Reservation[] = [];
    let next = from;
    const capacity = this.deps.capacity;
    const ringTimeoutS = this.admitted.route.ringTimeoutS ?? this.deps.config.call.ringTimeoutS;
    while (group.length < want && next < order.length && !this.abandoned) {
      const target = order[next];
      next += 1;
      if (!capacity) {
        group.push(target);
        reservations.push({ targetId: target.id, id: '', local: false });
        continue;
      }
      this.attemptNo += 1;
      const r = await capacity.reserve(target, `${this.deps.instanceId}|${this.key}|${String(this.attemptNo)}`, reservationHoldMs(ringTimeoutS), this.log);
      if ('full' in r) {
        this.skipped.push({ target: target.id, full: r.full });
        continue;
      }
      group.push(target);
      reservations.push(r);
    }
    return { group, reservations, next };
  }

  /** Every usable target was full: 503 at once with a short Retry-After (room frees as calls end), nothing tried. */
  private refuseAllFull(): void {
    const { config } = this.deps;
    const retryAfterS = 1;
    this.respond(config.call.allFailedStatus, 'No Target Available', { 'Retry-After': String(retryAfterS) });
    this.logOutcome('call failed: every target is full, quarantined or down', config.call.allFailedStatus, {
      code: 'B2B_ERR_ALL_TARGETS_FULL',
      retryAfterS,
    });
    this.finish();
  }

  private ring(group: readonly RoutedTarget[], headers: Record<string, string>): Promise<RingResult> {
    const { config } = this.deps;
    const { route } = this.admitted;
    const ringTimeoutS = route.ringTimeoutS ?? config.call.ringTimeoutS;
    this.ringing = new RingGroup(this.deps.srf, {
      uris: group.map((t) => targetUri(t, this.admitted.user)),
      headers,
      offer: this.req.body || undefined,
      callerReq: this.req,
      provisionalTimeoutMs: route.provisionalTimeoutMs ?? config.call.provisionalTimeoutMs,
      ringTimeoutMs: ringTimeoutS * 1000,
      onProvisional: (prov) => this.relayProvisional(prov),
      onHeard: () => this.deps.registry.heard(this),
      log: this.log,
      logBindings: group.length === 1 ? { target: group[0].id } : undefined,
    });
    return this.ringing.run();
  }

  /** Per-target counters for an attempt that did not become the call; answered attempts are counted with the call record. */
  private count(target: RoutedTarget, outcome: AttemptOutcome | undefined, ms: number): void {
    if (!outcome) return;
    const label = outcomeLabel(outcome);
    this.tried.push({ target: target.id, result: label, ms });
    if (outcome.kind === 'answered') return;
    if (outcome.kind === 'send-error' && outcome.requestFault) {
      // drachtio refused the request itself: not the target's fault, so not counted against it. The
      // caller's request is what drachtio could not send (e.g. a body it refuses): debug, not warn, so
      // hostile input cannot flood the log; the call's outcome line carries the code
      this.log.debug(
        { code: 'B2B_ERR_UNSENDABLE_REQUEST', target: target.id, error: outcome.message },
        'drachtio-server refused to send the INVITE; not a target failure',
      );
      return;
    }
    const counted = outcome.kind === 'canceled' ? this.deps.store.recordCanceledAttempt(target.id) : this.deps.store.recordFailedAttempt(target.id, label);
    counted.catch((err: unknown) => this.redisFailed(err, { target: target.id }, 'could not count attempt in redis'));
  }

  /** Tells the health view what this attempt said about its target (a 503's Retry-After quarantines it). */
  private reportHealth(target: RoutedTarget, outcome: AttemptOutcome | undefined, response: SrfResponse | undefined): void {
    if (!outcome || !this.deps.health) return;
    let retryAfter: string | undefined;
    try {
      retryAfter = response?.get('Retry-After') || undefined;
    } catch {
      retryAfter = undefined;
    }
    this.deps.health.report(target.id, outcome, retryAfter);
  }

  /** A target answered but the caller was gone before its leg was up: the attempt counts as canceled, not answered. */
  private countAbandonedAnswer(target: RoutedTarget): void {
    const entry = this.tried.find((t) => t.target === target.id && t.result === '200');
    if (entry) entry.result = 'canceled';
    this.deps.store.recordCanceledAttempt(target.id).catch((err: unknown) => this.redisFailed(err, { target: target.id }, 'could not count attempt in redis'));
  }

  private relayProvisional(prov: SrfResponse): void {
    if (this.res.finalResponseSent || this.abandoned) return;
    this.res.send(prov.status, prov.reason, forwardedParts(prov, this.deps.headers.response));
  }

  private finishUnanswered(last: { outcome: AttemptOutcome; response?: SrfResponse } | undefined): void {
    const { config } = this.deps;
    const failoverOn = this.admitted.route.failoverOn ?? config.call.failoverOn;
    if (this.abandoned === 'caller') {
      // drachtio-server (sofia-sip) has already answered the CANCEL with 200 and the INVITE with 487
      this.logOutcome('call canceled by caller', 487, { code: 'B2B_ERR_CALL_CANCELED' });
    } else if (this.abandoned === 'shutdown') {
      // end() has answered the caller and logged the outcome
    } else if (last?.outcome.kind === 'rejected' && decide(last.outcome, failoverOn) === 'stop') {
      const { status, reason } = last.outcome;
      this.respond(status, reason, last.response ? copyHeaders(last.response.headers, this.deps.headers.response) : {});
      this.logOutcome('call failed', status);
    } else if (last?.outcome.kind === 'no-answer') {
      this.respond(480, 'No Answer');
      this.logOutcome('call failed: no answer', 480, { code: 'B2B_ERR_RING_TIMEOUT' });
    } else if (last?.outcome.kind === 'send-error' && last.outcome.requestFault) {
      this.respond(500, 'Unsendable Request');
      this.logOutcome('call failed: request refused by drachtio-server', 500, { code: 'B2B_ERR_UNSENDABLE_REQUEST' });
    } else if (last?.outcome.kind === 'canceled') {
      // the caller's leg failed after a target answered (logged where it happened); make sure the caller has an answer
      this.respond(500, 'Call Setup Failed');
      this.logOutcome('call failed: caller leg could not be answered', 500);
    } else {
      this.respond(config.call.allFailedStatus, 'No Target Available', { 'Retry-After': String(config.call.retryAfterSeconds) });
      this.logOutcome('call failed: no target available', config.call.allFailedStatus, { code: 'B2B_ERR_NO_TARGET' });
    }
    this.finish();
  }

  private onAnswered(bridged: Bridged, target: RoutedTarget, reservation?: Reservation): void {
    const { uas, uac } = bridged;
    this.call = { ...bridged, target };
    this.deps.registry.answered(this);
    // handlers first, synchronously: a BYE or re-INVITE may already be on its way
    uas.on('destroy', () => void this.hangup('caller'));
    uac.on('destroy', () => void this.hangup('target'));
    relayInDialogRequests(uas, uac, this.deps.headers.inDialog, this.log);

    const maxDurationS = this.admitted.route.maxDurationS ?? this.deps.config.call.maxDurationS;
    if (maxDurationS > 0) this.maxDurationTimer = setTimeout(() => void this.hangup('max-duration'), maxDurationS * 1000);

    const record = (this.record = buildCallRecord({
      key: this.key,
      route: this.routeName,
      target: target.id,
      instance: this.deps.instanceId,
      server: this.deps.serverId,
      startedAt: this.startedAt,
      answeredAt: Date.now(),
      a: legFacts(uas),
      b: legFacts(uac),
    }));
    this.recorded = this.deps.store.recordAnswered(record, reservation?.id ?? '').catch((err: unknown) => {
      this.redisFailed(err, {}, 'could not store call record in redis; the call goes on uncounted');
    });
    this.logOutcome('call answered', 200, { target: target.id });
    // a leg may have hung up while the other was being answered
    if (!uas.connected) void this.hangup('caller');
    else if (!uac.connected) void this.hangup('target');
  }

  /**
   * Ends both legs once, whoever hung up first, and removes the Redis record (decrementing `active`
   * once). The record goes whatever storing it returned: a store that timed out may still have run.
   * Removal and the BYEs run side by side, so a slow BYE transaction never keeps a record alive, nor
   * the call in the registry (a drain does not wait for it).
   */
  private async hangup(by: HangupReason): Promise<void> {
    if (this.watch) return this.endWatched(by);
    if (this.ended || !this.call) return;
    this.ended = true;
    clearTimeout(this.maxDurationTimer);
    const { uas, uac } = this.call;
    if (by === 'max-duration')
      this.log.info(
        { code: 'B2B_ERR_MAX_DURATION', maxDurationS: this.admitted.route.maxDurationS ?? this.deps.config.call.maxDurationS },
        'call reached its maximum duration; ending it',
      );
    const others: Dialog[] = by === 'caller' ? [uac] : by === 'target' ? [uas] : [uas, uac];
    const byes = Promise.all(
      others.map((d) => (d.connected ? d.destroy().catch((err: unknown) => this.log.debug({ err }, 'BYE to other leg failed')) : Promise.resolve(undefined))),
    );
    await this.closeOut(by, byes);
  }

  /** Removes the Redis record (decrementing `active` once), whatever storing it returned: a store that timed out may still have run. */
  private removeRecord(by: HangupReason): Promise<void> {
    return this.recorded.then(async () => {
      try {
        await this.deps.store.endCall(this.key, by);
      } catch (err) {
        this.redisFailed(err, { code: 'B2B_ERR_RECORD_LEFT' }, 'could not remove call record from redis');
      }
    });
  }

  // ---- after a reconnect to drachtio-server (lib/cluster/reconnect.ts) -------------------------------

  /** Whether this call's dialogs live on the drachtio-server `srf` is connected to. */
  isOn(srf: Srf): boolean {
    return this.deps.srf === srf;
  }

  /**
   * Asks drachtio-server, after the connection to it came back, whether it still has this call's two
   * dialogs (a local probe, nothing on the wire). Both gone (it restarted): the call is over, each party
   * gets a BYE sent outside the dialog and the record goes. Otherwise the dialogs outlived the old
   * connection but lost their owner with it (in-dialog requests from the parties get 481 there, and a
   * BYE clears its dialog), so from now on the call is watched like an adopted one: probed every
   * `cluster.watchIntervalMs`, the other party sent BYE as soon as one leg is gone.
   */
  async checkDialogs(): Promise<DialogCheck> {
    if (!this.call || this.ended) return 'unanswered';
    if (this.watch) return 'watched'; // it probes on its own
    const { uas, uac } = this.call;
    let exists: boolean[];
    try {
      exists = await Promise.all([dialogExists(this.deps.srf, uas.id), dialogExists(this.deps.srf, uac.id)]);
    } catch (err) {
      this.log.debug({ err }, 'could not ask drachtio-server for the dialogs after the reconnect');
      return 'unknown';
    }
    if (this.ended || this.watch) return 'unanswered';
    if (!exists[0] && !exists[1]) {
      await this.endLost('drachtio-restart');
      return 'lost';
    }
    this.watchOrphaned();
    return 'watched';
  }

  /** Ends a call whose two dialogs drachtio-server no longer has: BYE outside the dialog to each party, record removed. */
  private async endLost(by: HangupReason): Promise<void> {
    if (this.ended || !this.call) return;
    this.ended = true;
    clearTimeout(this.maxDurationTimer);
    this.watch?.stop();
    const { uas, uac, target } = this.call;
    const legs = [
      { leg: 'caller', bye: lostLegOf(uas, 'uas') },
      { leg: 'target', bye: lostLegOf(uac, 'uac') },
    ];
    this.forgetDialogs();
    this.log.warn(
      { code: 'B2B_WARN_DIALOG_LOST', server: this.deps.serverId, route: this.routeName, target: target.id, by },
      "drachtio-server no longer has this call's dialogs: call ended, each party sent a BYE outside the dialog",
    );
    const byes = Promise.all(
      legs.map(({ leg, bye }) =>
        sendByeOutsideDialog(this.deps.srf, bye, (status) => this.log.debug({ leg, status }, 'BYE for the lost dialog answered')).catch((err: unknown) =>
          this.log.debug({ err, leg }, 'could not send the BYE for the lost dialog'),
        ),
      ),
    );
    await this.closeOut(by, byes);
  }

  /** The call's dialogs outlived a lost connection but have no owner in drachtio-server any more: watch them. */
  private watchOrphaned(): void {
    if (!this.record) return;
    const { config, srf, serverId } = this.deps;
    this.forgetDialogs();
    this.log.warn(
      { code: 'B2B_WARN_DIALOG_ORPHANED', server: serverId, route: this.routeName },
      'drachtio-server kept the call over a lost connection but no longer routes its requests here: watching its dialogs until a party hangs up',
    );
    this.watch = new AdoptedCall(
      this.record,
      srf,
      config.cluster.watchIntervalMs,
      config.cluster.optionsIntervalMs,
      this.log,
      (_c, by) => void this.onWatchReleased(by),
    );
    this.watch.start();
  }

  /** Ends a watched call from this side (shutdown, operator, maximum duration): BYE on each leg still up. */
  private async endWatched(by: HangupReason): Promise<void> {
    if (this.ended || !this.watch) return;
    this.watchEndReason ??= by;
    if (by === 'max-duration') this.log.info({ code: 'B2B_ERR_MAX_DURATION' }, 'call reached its maximum duration; ending it');
    await this.watch.end(by === 'shutdown' ? 'shutdown' : 'operator');
  }

  /** A watched call is over: a party hung up (its leg is gone; the other was sent BYE), or it was ended from this side. */
  private async onWatchReleased(by: ReleaseReason): Promise<void> {
    if (this.ended || !this.call) return;
    // both legs gone at once: drachtio-server may have lost them (restarted): tell both parties (a party that did hang up answers 481)
    if (by === 'both' && !this.watchEndReason) return this.endLost('both');
    this.ended = true;
    clearTimeout(this.maxDurationTimer);
    await this.closeOut(this.watchEndReason ?? (by === 'unwatchable' ? 'error' : by));
  }

  /**
   * The end of every answered call, however it ended: its record removed (decrementing `active` once),
   * one `call ended` line, and out of the registry at once, so a drain does not wait for the BYE
   * transactions `byes` (drachtio-server runs them on, up to 32 s for a silent peer).
   */
  private async closeOut(by: HangupReason, byes: Promise<unknown> = Promise.resolve()): Promise<void> {
    await this.removeRecord(by);
    if (this.call) this.deps.capacity?.ended(this.call.target, this.log);
    this.log.info({ route: this.routeName, target: this.call?.target.id, by, durationMs: Date.now() - this.startedAt }, 'call ended');
    this.deps.registry.remove(this);
    await byes;
    this.finish();
  }

  /**
   * Drops drachtio-srf's Dialog objects of this call: their requests would go out on the closed
   * connection, and nothing for them arrives on the new one.
   */
  private forgetDialogs(): void {
    if (!this.call) return;
    const srf = this.deps.srf as Srf & { removeDialog?(d: Dialog): void };
    for (const d of [this.call.uas, this.call.uac]) {
      (d as unknown as { connected: boolean }).connected = false;
      (d as unknown as NodeJS.EventEmitter).removeAllListeners();
      srf.removeDialog?.(d);
    }
  }

  /** The call is over for this instance: out of the registry, and (outbound mode) its drachtio connection closed. */
  private finish(): void {
    this.deps.registry.remove(this);
    // outbound mode: drachtio-server opened a connection for this call; close it (a no-op for inbound connections)
    try {
      this.deps.srf.endSession(this.req);
    } catch (err) {
      this.log.debug({ err }, 'endSession failed');
    }
  }

  /**
   * A Redis command of this call failed. While Redis is known to be down that is expected and said once
   * by the connection (lib/store/redis-client.ts), so it is only a debug line here; with Redis up it is a warning.
   */
  private redisFailed(err: unknown, fields: Record<string, unknown>, msg: string): void {
    if (this.deps.store.available) this.log.warn({ err, ...fields }, msg);
    else this.log.debug({ err, ...fields }, msg);
  }

  private respond(status: number, reason: string, headers: Record<string, string> = {}): void {
    if (this.res.finalResponseSent) return;
    this.res.send(status, reason, { headers });
  }

  private logOutcome(msg: string, status: number, extra: { code?: ErrorCode; [k: string]: unknown } = {}): void {
    const setupMs = Date.now() - this.startedAt;
    const skipped = this.skipped.length > 0 ? { skipped: this.skipped } : {};
    const budget = this.budgetSpent ? { failoverBudget: 'spent' } : {};
    this.log.info({ route: this.routeName, tried: this.tried, ...skipped, ...budget, status, setupMs, ...extra }, msg);
    this.deps.metrics?.callOutcome({ route: this.routeName, status, setupMs, tried: this.tried });
  }
}
