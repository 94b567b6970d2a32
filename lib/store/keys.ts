/**
 * Every Redis key the dispatcher uses, built only here. README.md "Redis keys" documents each;
 * test/unit/keys.test.ts pins the exact strings.
 */
export interface Keys {
  /** hash: one answered call, keyed by its call key (the caller's Call-ID and From tag) */
  call(key: string): string;
  /** set: call keys of the answered calls an instance owns */
  instanceCalls(instanceId: string): string;
  /** hash with a short TTL: a live instance's facts, refreshed by its heartbeat */
  instance(instanceId: string): string;
  /** set: ids of instances that have registered or own calls */
  instances(): string;
  /** string with a TTL: the fencing token of the survivor adopting a dead instance's calls */
  takeoverLock(deadInstanceId: string): string;
  /** string: counter that hands out fencing tokens */
  fence(): string;
  /** stream: call events (answered, failed, ended, adopted, released) */
  events(): string;
  /** pub/sub channel: commands for one instance (e.g. hang up a call it owns) */
  control(instanceId: string): string;
  /** hash: counters of one target (active, attempts, answered, failed:<status>) */
  target(targetId: string): string;
  /** hash with PEXPIREAT: a target out of selection (state quarantined|down, until, cause, instance, since, up) */
  targetHealth(targetId: string): string;
  /** string with a TTL: the probe lease of one target, the id of the one instance that probes it */
  targetProbe(targetId: string): string;
  /** sorted set: a target's reservations (calls being set up), scored by when each expires (epoch ms) */
  targetReserved(targetId: string): string;
  /** sorted set: a target's INVITEs of the last second (for maxCps), scored by when each was sent (epoch ms) */
  targetStarts(targetId: string): string;
  /** hash: counters of one route (stripped-user-parameters) */
  route(name: string): string;
  /** hash: cluster totals (active, attempts, answered, canceled, failed, ended) */
  totals(): string;
  /** set: ids of every target that has counters */
  targets(): string;
  /** set: source addresses blocked now (the set drachtio-server's <blacklist redis-key> can read) */
  blocked(): string;
  /** sorted set: blocked source addresses scored by when their block ends (epoch ms) */
  blockedUntil(): string;
  /** the prefix itself, for scripts that build keys from stored ids */
  readonly prefix: string;
}

export function makeKeys(prefix: string): Keys {
  return {
    prefix,
    call: (key) => `${prefix}call:${key}`,
    instanceCalls: (instanceId) => `${prefix}instance:${instanceId}:calls`,
    instance: (instanceId) => `${prefix}instance:${instanceId}`,
    instances: () => `${prefix}instances`,
    takeoverLock: (dead) => `${prefix}takeover:${dead}`,
    fence: () => `${prefix}fence`,
    events: () => `${prefix}events`,
    control: (instanceId) => `${prefix}control:${instanceId}`,
    target: (targetId) => `${prefix}target:${targetId}`,
    targetHealth: (targetId) => `${prefix}target:${targetId}:health`,
    targetProbe: (targetId) => `${prefix}target:${targetId}:probe`,
    targetReserved: (targetId) => `${prefix}target:${targetId}:reserved`,
    targetStarts: (targetId) => `${prefix}target:${targetId}:starts`,
    route: (name) => `${prefix}route:${name}`,
    targets: () => `${prefix}targets`,
    totals: () => `${prefix}totals`,
    blocked: () => `${prefix}blocked`,
    blockedUntil: () => `${prefix}blocked:until`,
  };
}
