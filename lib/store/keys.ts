/**
 * Every Redis key the dispatcher uses, built only here. README.md "Redis keys" documents each;
 * test/unit/keys.test.ts pins the exact strings.
 */
export interface Keys {
  /** hash: one answered call, keyed by the caller-side (A leg) Call-ID */
  call(callId: string): string;
  /** set: Call-IDs of the answered calls an instance owns */
  instanceCalls(instanceId: string): string;
  /** hash: counters of one target (active, attempts, answered, failed:<status>) */
  target(targetId: string): string;
  /** set: ids of every target that has counters */
  targets(): string;
  /** the prefix itself, for scripts that build keys from stored ids */
  readonly prefix: string;
}

export function makeKeys(prefix: string): Keys {
  return {
    prefix,
    call: (callId) => `${prefix}call:${callId}`,
    instanceCalls: (instanceId) => `${prefix}instance:${instanceId}:calls`,
    target: (targetId) => `${prefix}target:${targetId}`,
    targets: () => `${prefix}targets`,
  };
}
