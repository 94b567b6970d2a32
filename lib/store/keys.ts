/**
 * Every Redis key the dispatcher uses, built only here. README.md "Redis keys" documents each;
 * test/unit/keys.test.ts pins the exact strings.
 */
export interface Keys {
  /** hash: one answered call, keyed by its call key (the caller's Call-ID and From tag) */
  call(key: string): string;
  /** set: call keys of the answered calls an instance owns */
  instanceCalls(instanceId: string): string;
  /** hash: counters of one target (active, attempts, answered, failed:<status>) */
  target(targetId: string): string;
  /** hash: counters of one route (stripped-user-parameters) */
  route(name: string): string;
  /** set: ids of every target that has counters */
  targets(): string;
  /** the prefix itself, for scripts that build keys from stored ids */
  readonly prefix: string;
}

export function makeKeys(prefix: string): Keys {
  return {
    prefix,
    call: (key) => `${prefix}call:${key}`,
    instanceCalls: (instanceId) => `${prefix}instance:${instanceId}:calls`,
    target: (targetId) => `${prefix}target:${targetId}`,
    targets: () => `${prefix}targets`,
    route: (name) => `${prefix}route:${name}`,
  };
}
