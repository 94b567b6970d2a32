import type { Redis } from 'ioredis';
import { NO_END, type ProbeResult, type ProbeTransition } from '../routing/health';
import type { Keys } from './keys';
import { DRAIN_TARGET, PROBE_RESULT, RELEASE_PROBE_LEASES, TAKE_PROBE_LEASES, UNDRAIN_TARGET } from './probe-scripts';

type ProbeRedis = Redis & {
  sipdTakeProbeLeases(numKeys: number, ...args: string[]): Promise<number[]>;
  sipdReleaseProbeLeases(numKeys: number, ...args: string[]): Promise<number>;
  sipdProbeResult(k1: string, k2: string, k3: string, k4: string, ...argv: string[]): Promise<string[]>;
  sipdDrainTarget(k1: string, k2: string, k3: string, ...argv: string[]): Promise<number>;
  sipdUndrainTarget(k1: string, k2: string, ...argv: string[]): Promise<number>;
};

/** What applying one probe result did: nothing (`lost`: the lease moved on), counted, or a state change. */
export type AppliedProbe = { kind: 'lost' } | { kind: 'count'; successes: number; failures: number } | ProbeTransition;

/**
 * The probe leases (`<prefix>target:<id>:probe`), the probe runs (fields of `<prefix>target:<id>`) and
 * the states they write (`<prefix>target:<id>:health`), plus the operator's drain. One round trip each.
 */
export class ProbeStore {
  private readonly redis: ProbeRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly instanceId: string,
    private readonly streamMaxLen: number,
  ) {
    redis.defineCommand('sipdTakeProbeLeases', { lua: TAKE_PROBE_LEASES });
    redis.defineCommand('sipdReleaseProbeLeases', { lua: RELEASE_PROBE_LEASES });
    redis.defineCommand('sipdProbeResult', { numberOfKeys: 4, lua: PROBE_RESULT });
    redis.defineCommand('sipdDrainTarget', { numberOfKeys: 3, lua: DRAIN_TARGET });
    redis.defineCommand('sipdUndrainTarget', { numberOfKeys: 2, lua: UNDRAIN_TARGET });
    this.redis = redis as ProbeRedis;
  }

  get available(): boolean {
    return this.redis.status === 'ready';
  }

  /** Takes or renews the lease of each target for `leaseMs`; returns the ids this instance holds now. */
  async takeLeases(targetIds: readonly string[], leaseMs: number): Promise<string[]> {
    if (targetIds.length === 0) return [];
    const held = await this.redis.sipdTakeProbeLeases(targetIds.length, ...targetIds.map((id) => this.keys.targetProbe(id)), this.instanceId, String(leaseMs));
    return targetIds.filter((_, i) => held[i] === 1);
  }

  /** Gives up the leases this instance holds among these targets. */
  async releaseLeases(targetIds: readonly string[]): Promise<number> {
    if (targetIds.length === 0) return 0;
    return this.redis.sipdReleaseProbeLeases(targetIds.length, ...targetIds.map((id) => this.keys.targetProbe(id)), this.instanceId);
  }

  /** Who holds a target's lease, if anyone (for tests and the CLI). */
  async leaseHolder(targetId: string): Promise<string | null> {
    return this.redis.get(this.keys.targetProbe(targetId));
  }

  /** Applies one probe result to the target's run and state, while this instance holds its lease. */
  async applyResult(targetId: string, result: ProbeResult, thresholds: { downAfter: number; upAfter: number }, now = Date.now()): Promise<AppliedProbe> {
    const r = await this.redis.sipdProbeResult(
      this.keys.target(targetId),
      this.keys.targetHealth(targetId),
      this.keys.events(),
      this.keys.targetProbe(targetId),
      result.alive ? '1' : '0',
      result.alive ? '' : result.label,
      String(thresholds.downAfter),
      String(thresholds.upAfter),
      String(now),
      this.instanceId,
      String(this.streamMaxLen),
      targetId,
      String(NO_END),
    );
    if (r[0] === 'down') return { kind: 'down', cause: r[1] };
    if (r[0] === 'up') return { kind: 'up', was: 'down', cause: r[2] };
    if (r[0] === 'count') return { kind: 'count', successes: Number(r[1]), failures: Number(r[2]) };
    return { kind: 'lost' };
  }

  /** Operator drain: no new calls to the target, cluster-wide, until undrained; false when it already was. */
  async drain(targetId: string, cause = 'operator drain', now = Date.now()): Promise<boolean> {
    const r = await this.redis.sipdDrainTarget(
      this.keys.targetHealth(targetId),
      this.keys.target(targetId),
      this.keys.events(),
      String(NO_END),
      cause,
      String(now),
      this.instanceId,
      String(this.streamMaxLen),
      targetId,
    );
    return r === 1;
  }

  /** Operator undrain: the target is in selection again; false when it was not drained. */
  async undrain(targetId: string): Promise<boolean> {
    const r = await this.redis.sipdUndrainTarget(this.keys.targetHealth(targetId), this.keys.events(), this.instanceId, String(this.streamMaxLen), targetId);
    return r === 1;
  }
}
