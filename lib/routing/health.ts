/**
 * Target health, the pure part: what an attempt's outcome says about its target, and which targets a
 * call may use given the cluster's target states. No I/O, no clock: `now` is passed in.
 */
import type { AttemptOutcome } from '../call/failover';

/**
 * Why a target is out of selection: `quarantined` (it asked, 503 + Retry-After), `down` (passive health
 * or probes) or `draining` (an operator drained it: no new calls, no end time).
 */
export type TargetStateKind = 'quarantined' | 'down' | 'draining';

/**
 * The `until` of a state with no fixed end (a target down while probes watch it, a drained target): the
 * largest epoch ms a Date holds (year 275760), so it compares after every real time, stays an exact
 * integer in Lua and JSON, and needs no special case where `until` is compared.
 */
export const NO_END = 8640000000000000;

/** A target out of selection until `until` (epoch ms; NO_END: until probes or an operator bring it back). A target with no state is up. */
export interface TargetState {
  readonly state: TargetStateKind;
  readonly until: number;
  /** e.g. `503 Retry-After 5`, `3 consecutive failures (timeout,timeout,timeout)` */
  readonly cause: string;
}

/**
 * The delta-seconds of a Retry-After header value (RFC 3261 §20.33, §25.1:
 * `Retry-After = delta-seconds [ comment ] *( SEMI retry-param )`), ignoring the comment and the
 * parameters; undefined when there is none or it does not start with digits. Capped at `maxS`.
 */
export function parseRetryAfter(value: string | undefined, maxS: number): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+)(?=\s|\(|;|$)/.exec(value);
  if (!m) return undefined;
  const seconds = Number(m[1]);
  if (!Number.isSafeInteger(seconds)) return maxS;
  return Math.min(seconds, maxS);
}

/** What one attempt tells about its target's health. */
export type HealthSignal =
  /** 503 with a positive Retry-After: out of selection for `seconds` */
  | { kind: 'quarantine'; seconds: number; cause: string }
  /** counts towards passive `down`: no 18x in time, a send error that is not the request's fault, 503 without Retry-After */
  | { kind: 'failure'; label: string }
  /** answered: the failure run starts again */
  | { kind: 'success' }
  /** says nothing about the target (another final response, the caller's CANCEL, a ring timeout, a request fault) */
  | { kind: 'none' };

/** Classifies an attempt; `retryAfter` is the raw Retry-After header of its final response, if any. */
export function healthSignal(outcome: AttemptOutcome, retryAfter: string | undefined, maxQuarantineS: number): HealthSignal {
  switch (outcome.kind) {
    case 'answered':
      return { kind: 'success' };
    case 'timeout':
      return { kind: 'failure', label: 'timeout' };
    case 'send-error':
      return outcome.requestFault ? { kind: 'none' } : { kind: 'failure', label: 'error' };
    case 'rejected': {
      if (outcome.status !== 503) return { kind: 'none' };
      const seconds = parseRetryAfter(retryAfter, maxQuarantineS);
      if (seconds !== undefined && seconds > 0) return { kind: 'quarantine', seconds, cause: `503 Retry-After ${String(seconds)}` };
      return { kind: 'failure', label: '503' };
    }
    case 'no-answer':
    case 'canceled':
      return { kind: 'none' };
  }
}

/** Whether a target may be tried now. */
export function isUsable(state: TargetState | undefined, now: number): boolean {
  return state === undefined || state.until <= now;
}

/** The targets a call may try now, in their given order: those with no state, or whose state has run out. */
export function usableTargets<T extends { readonly id: string }>(targets: readonly T[], states: ReadonlyMap<string, TargetState>, now: number): T[] {
  return targets.filter((t) => isUsable(states.get(t.id), now));
}

/** The targets a call may try, and whether the route is in panic (see `selectableTargets`). */
export interface Selectable<T> {
  readonly targets: T[];
  readonly panic: boolean;
}

/**
 * The targets a call may try now. Normally the usable ones (`usableTargets`). But when fewer than
 * `panicBelowPercent` of the route's targets are usable, the targets marked `down` are tried as well,
 * as if up (a load balancer's "panic mode", as Envoy's healthy panic threshold): a pool that looks
 * mostly dead is more often a symptom of overload (answers late, everywhere at once) than of dead
 * back-ends, and refusing every call then turns a slow-down into an outage. A target that asked to be
 * left alone (`quarantined`, 503 with Retry-After) or that an operator drained is never tried.
 * `panicBelowPercent` 0: never.
 */
export function selectableTargets<T extends { readonly id: string }>(
  targets: readonly T[],
  states: ReadonlyMap<string, TargetState>,
  now: number,
  panicBelowPercent: number,
): Selectable<T> {
  const usable = usableTargets(targets, states, now);
  if (usable.length * 100 >= panicBelowPercent * targets.length) return { targets: usable, panic: false };
  const down = (t: T): boolean => {
    const s = states.get(t.id);
    return s !== undefined && !isUsable(s, now) && s.state === 'down';
  };
  if (!targets.some(down)) return { targets: usable, panic: false };
  return { targets: targets.filter((t) => isUsable(states.get(t.id), now) || down(t)), panic: true };
}

/**
 * When the first of these targets comes back (epoch ms), for the Retry-After of a caller refused
 * because all are out; `now` when one is usable already.
 */
export function firstReturn(
  targets: readonly { readonly id: string }[],
  states: ReadonlyMap<string, TargetState>,
  now: number,
  /** how long a state with no end (NO_END) is taken to last from now: e.g. probe intervalMs × upAfter */
  openEndedMs = 0,
): number {
  let first = Infinity;
  for (const t of targets) {
    const s = states.get(t.id);
    if (isUsable(s, now)) return now;
    const until = (s as TargetState).until;
    first = Math.min(first, until >= NO_END ? now + openEndedMs : until);
  }
  return first === Infinity ? now : first;
}

/** The consecutive-failure run of one target, as the counter script keeps it in Redis. */
export interface FailureRun {
  /** failures in a row since the last answer or state change */
  readonly count: number;
  /** their labels, oldest first */
  readonly labels: readonly string[];
}

export const EMPTY_RUN: FailureRun = { count: 0, labels: [] };

/**
 * One step of the passive-health counter (the pure model of the Lua script HEALTH_SIGNAL in
 * lib/store/scripts.ts, which runs it atomically for the whole cluster): a failure extends the run and,
 * at `threshold` (0 = off), marks the target down and starts a new run; a success ends the run; a
 * failure on a target already out of selection is not counted.
 */
export function stepFailureRun(
  run: FailureRun,
  signal: { kind: 'failure'; label: string } | { kind: 'success' },
  threshold: number,
  outOfSelection = false,
): { run: FailureRun; down?: string } {
  if (signal.kind === 'success') return { run: EMPTY_RUN };
  if (outOfSelection) return { run };
  const next: FailureRun = { count: run.count + 1, labels: [...run.labels, signal.label] };
  if (threshold > 0 && next.count >= threshold) return { run: EMPTY_RUN, down: failureCause(next) };
  return { run: next };
}

/** The cause recorded for a target marked down: `3 consecutive failures (timeout,timeout,503)`. */
export function failureCause(run: FailureRun): string {
  return `${String(run.count)} consecutive failures (${run.labels.join(',')})`;
}

/** How a target's probe went: alive (a final response not in the dead list) or a failure label (`timeout`, `error`, `503`). */
export type ProbeResult = { alive: true } | { alive: false; label: string };

/** Which probe replies count as alive: any final response except `deadStatuses`; no reply or a send error is a failure. */
export function probeResult(reply: { status: number } | 'timeout' | 'error', deadStatuses: readonly number[]): ProbeResult {
  if (reply === 'timeout' || reply === 'error') return { alive: false, label: reply };
  if (deadStatuses.includes(reply.status)) return { alive: false, label: String(reply.status) };
  return { alive: true };
}

/** The probe run of one target, as PROBE_RESULT keeps it in Redis (fields of `<prefix>target:<id>`). */
export interface ProbeRun {
  /** alive probes in a row (0 after a failure) */
  readonly successes: number;
  /** failed probes in a row (0 after a success) */
  readonly failures: number;
  /** the failures' labels, oldest first */
  readonly labels: readonly string[];
}

export const EMPTY_PROBE_RUN: ProbeRun = { successes: 0, failures: 0, labels: [] };

/** A change a probe makes: the target goes `down` (with its cause) or comes back `up` (leaving `was`). */
export type ProbeTransition = { kind: 'down'; cause: string } | { kind: 'up'; was: TargetStateKind; cause: string };

/**
 * One step of the probe state machine (the pure model of PROBE_RESULT in lib/store/probe-scripts.ts,
 * which runs it atomically for the cluster). `state` is the target's current state, if any, still in
 * force at `now` or not:
 * - up (no state, or one that has run out): `downAfter` failures in a row mark it down with no end;
 * - down (by probes, or passively while probed): `upAfter` alive probes in a row bring it back;
 * - quarantined (still in force) or draining: counted, never changed (a quarantine ends at its
 *   `until`, a drain by the operator).
 * A transition starts a new run.
 */
export function stepProbe(
  run: ProbeRun,
  result: ProbeResult,
  state: TargetState | undefined,
  now: number,
  thresholds: { downAfter: number; upAfter: number },
): { run: ProbeRun; transition?: ProbeTransition } {
  const next: ProbeRun = result.alive
    ? { successes: run.successes + 1, failures: 0, labels: [] }
    : { successes: 0, failures: run.failures + 1, labels: [...run.labels, result.label].slice(-thresholds.downAfter) };
  const inForce = state !== undefined && !isUsable(state, now);
  if (inForce && state.state === 'down') {
    if (next.successes >= thresholds.upAfter) return { run: EMPTY_PROBE_RUN, transition: { kind: 'up', was: 'down', cause: state.cause } };
    return { run: next };
  }
  if (inForce) return { run: next };
  if (next.failures >= thresholds.downAfter) return { run: EMPTY_PROBE_RUN, transition: { kind: 'down', cause: probeFailureCause(next) } };
  return { run: next };
}

/** The cause recorded for a target probes marked down: `3 probe failures (timeout,timeout,503)`. */
export function probeFailureCause(run: ProbeRun): string {
  return `${String(run.failures)} probe failures (${run.labels.join(',')})`;
}
