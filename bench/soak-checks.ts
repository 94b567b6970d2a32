/**
 * `npm run soak`'s verdicts, pure: from what the sipp callers and back-ends counted, what the
 * dispatcher's Redis counters must say at the end, and whether memory stayed flat. No I/O here.
 */
import { slope } from './stats';

/** The four kinds of call in the soak's mix. */
export type CallKind = 'answered' | 'failover' | 'canceled' | 'callee-ended';

/** What a back-end does with an INVITE, and the Redis counter its INVITEs must end in. */
export type BackendRole = 'answer' | 'answer-503' | 'ring' | 'answer-then-bye';

export interface CallerCount {
  kind: CallKind;
  rate: number;
  planned: number;
  placed: number;
  succeeded: number;
  failed: number;
  /** sipp's Failed* counters that are not zero */
  failureKinds: Record<string, number>;
  retransmissions: number;
  /** set-up time (INVITE -> 200; canceled: INVITE -> 487), ms */
  setup: { n: number; p50: number; p99: number; max: number };
}

export interface BackendCount {
  name: string;
  role: BackendRole;
  targetId: string;
  received: number;
  succeeded: number;
  failed: number;
  retransmissions: number;
  /** still running when the calls were over (a back-end that died stops answering: ICMP port unreachable, 503 from drachtio) */
  aliveAtEnd: boolean;
}

/** One Redis hash as read (HGETALL: strings), numbers parsed. */
export type Counters = Record<string, number>;

export interface RedisState {
  totals: Counters;
  targets: Record<string, Counters>;
  /** keys `<prefix>call:*` left */
  callRecords: number;
  /** members of `<prefix>instance:<id>:calls` */
  ownedCalls: number;
  /** keys `<prefix>target:*:reserved` left */
  reservations: number;
}

export interface Check {
  what: string;
  expected: number | string;
  actual: number | string;
  ok: boolean;
}

const eq = (what: string, expected: number, actual: number): Check => ({ what, expected, actual, ok: expected === actual });
const at = (c: Counters | undefined, field: string): number => c?.[field] ?? 0;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** The counter an INVITE to a back-end of this role ends in. */
export const OUTCOME_FIELD: Record<BackendRole, string> = {
  answer: 'answered',
  'answer-503': 'failed:503',
  ring: 'canceled',
  'answer-then-bye': 'answered',
};

/** Every caller placed its calls, and every one of them ended as its scenario expects. */
export function callerChecks(callers: CallerCount[]): Check[] {
  return callers.flatMap((c) => [
    eq(`caller ${c.kind}: calls placed`, c.planned, c.placed),
    eq(`caller ${c.kind}: calls completed as scripted`, c.planned, c.succeeded),
    eq(`caller ${c.kind}: failed calls`, 0, c.failed),
  ]);
}

/** Every back-end ran its scenario to the end for every INVITE it got. */
export function backendChecks(backends: BackendCount[]): Check[] {
  return backends.flatMap((b) => [
    { what: `back-end ${b.name}: still running at the end`, expected: 'yes', actual: b.aliveAtEnd ? 'yes' : 'no (exited)', ok: b.aliveAtEnd },
    eq(`back-end ${b.name}: failed calls`, 0, b.failed),
    eq(`back-end ${b.name}: INVITEs completed`, b.received, b.succeeded),
  ]);
}

/**
 * The back-ends saw what the callers sent: for each kind, every group of back-ends got one INVITE per call
 * (a failed-over call: one at the failing back-end, one at its backup).
 */
export function pathChecks(callers: CallerCount[], backends: BackendCount[], groups: Record<CallKind, string[][]>): Check[] {
  const received = (names: string[]): number => sum(backends.filter((b) => names.includes(b.name)).map((b) => b.received));
  return callers.flatMap((c) => groups[c.kind].map((names) => eq(`INVITEs at ${names.join(' + ')} = ${c.kind} calls`, c.placed, received(names))));
}

/** Per target: nothing active, and every INVITE counted once, in the counter its back-end's role calls for. */
export function targetChecks(backends: BackendCount[], redis: RedisState): Check[] {
  return backends.flatMap((b) => {
    const c = redis.targets[b.targetId];
    const field = OUTCOME_FIELD[b.role];
    const failed = sum(
      Object.entries(c ?? {})
        .filter(([k]) => k.startsWith('failed:'))
        .map(([, v]) => v),
    );
    return [
      eq(`${b.targetId} (${b.name}) active`, 0, at(c, 'active')),
      eq(`${b.targetId} (${b.name}) attempts = INVITEs received`, b.received, at(c, 'attempts')),
      eq(`${b.targetId} (${b.name}) ${field} = INVITEs received`, b.received, at(c, field)),
      eq(`${b.targetId} (${b.name}) answered + canceled + failed:* = attempts`, at(c, 'attempts'), at(c, 'answered') + at(c, 'canceled') + failed),
    ];
  });
}

/** Cluster totals against the back-ends' counts, and no call state left in Redis. */
export function totalChecks(backends: BackendCount[], callers: CallerCount[], redis: RedisState): Check[] {
  const t = redis.totals;
  const byField = (field: string): number => sum(backends.filter((b) => OUTCOME_FIELD[b.role] === field).map((b) => b.received));
  const answeredAtCallers = sum(callers.filter((c) => c.kind !== 'canceled').map((c) => c.succeeded));
  const canceledAtCallers = sum(callers.filter((c) => c.kind === 'canceled').map((c) => c.succeeded));
  return [
    eq('totals active', 0, at(t, 'active')),
    eq('totals attempts = INVITEs at all back-ends', sum(backends.map((b) => b.received)), at(t, 'attempts')),
    eq('totals answered = INVITEs at answering back-ends', byField('answered'), at(t, 'answered')),
    eq('totals answered = calls answered at the callers', answeredAtCallers, at(t, 'answered')),
    eq('totals ended = totals answered', at(t, 'answered'), at(t, 'ended')),
    eq('totals canceled = INVITEs at the ringing back-end', byField('canceled'), at(t, 'canceled')),
    eq('totals canceled = calls cancelled at the callers', canceledAtCallers, at(t, 'canceled')),
    eq('totals failed = 503s at the failing back-end', byField('failed:503'), at(t, 'failed')),
    eq('totals refused:overload', 0, at(t, 'refused:overload')),
    eq('call records left (<prefix>call:*)', 0, redis.callRecords),
    eq("calls left in the instance's call set", 0, redis.ownedCalls),
    eq('capacity reservations left', 0, redis.reservations),
  ];
}

export interface MemorySample {
  /** seconds since the calls started */
  t: number;
  rssMb: number;
  heapMb: number;
  /** calls up at the callers when sampled */
  callsUp: number;
  /** a real drachtio-server's RSS (not the emulator's), for comparison; not checked */
  drachtioRssMb?: number;
}

export interface MemoryTrend {
  samples: number;
  warmupS: number;
  /** least-squares slope over the samples after the warm-up, MB per minute */
  rssSlopeMbPerMin: number;
  heapSlopeMbPerMin: number;
  rss: { first: number; last: number; max: number };
  heap: { first: number; last: number; max: number };
}

/** The memory trend after the warm-up (every sample when the run is shorter than two warm-ups). */
export function memoryTrend(samples: MemorySample[], warmupS: number): MemoryTrend {
  const after = samples.filter((s) => s.t >= warmupS);
  const use = after.length >= 3 ? after : samples;
  const mins = use.map((s) => s.t / 60);
  const pick = (f: (s: MemorySample) => number): { first: number; last: number; max: number } => ({
    first: use.length > 0 ? f(use[0]) : NaN,
    last: use.length > 0 ? f(use[use.length - 1]) : NaN,
    max: Math.max(...use.map(f)),
  });
  return {
    samples: use.length,
    warmupS: use === after ? warmupS : 0,
    rssSlopeMbPerMin: slope(
      mins,
      use.map((s) => s.rssMb),
    ),
    heapSlopeMbPerMin: slope(
      mins,
      use.map((s) => s.heapMb),
    ),
    rss: pick((s) => s.rssMb),
    heap: pick((s) => s.heapMb),
  };
}

/** samples after the warm-up needed before a slope is judged (a minute at the default 10 s) */
const MIN_JUDGED_SAMPLES = 6;

/**
 * Flat: the heap's slope at most `maxHeapSlope` MB per minute, RSS's at most `maxRssSlope` (either way). RSS
 * after a GC still moves by tens of MB from sample to sample (the allocator keeps and returns pages as it
 * pleases), so its slope is the noisier one.
 */
export function memoryChecks(trend: MemoryTrend, maxHeapSlope: number, maxRssSlope: number): Check[] {
  // a slope over less than a minute of samples after the warm-up says nothing: reported, not judged
  const judged = trend.warmupS > 0 && trend.samples >= MIN_JUDGED_SAMPLES;
  const flat = (what: string, v: number, max: number): Check => ({
    what: `${what} slope, MB/min (|slope| <= ${max})`,
    expected: `<= ${max}`,
    actual: !Number.isFinite(v)
      ? 'n/a'
      : judged
        ? Number(v.toFixed(3))
        : `${v.toFixed(3)} (not judged: ${trend.warmupS > 0 ? trend.samples : 'no'} samples after the warm-up)`,
    ok: !judged || (Number.isFinite(v) && Math.abs(v) <= max),
  });
  return [flat('heap after GC', trend.heapSlopeMbPerMin, maxHeapSlope), flat('RSS', trend.rssSlopeMbPerMin, maxRssSlope)];
}
