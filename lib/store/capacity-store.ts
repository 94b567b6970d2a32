import type { Redis } from 'ioredis';
import type { Keys } from './keys';
import type { WriteBatch } from './write-batch';
import { RELEASE_CAPACITY, RESERVE_CAPACITY } from './scripts';

type CapacityRedis = Redis & {
  sipdReserveCapacity(k1: string, k2: string, k3: string, k4: string, k5: string, ...argv: string[]): Promise<[string, string, number]>;
  sipdReleaseCapacity(k1: string, k2: string, k3: string, ...argv: string[]): Promise<[number, number]>;
};

/** Which limit refused a reservation. */
export type CapacityLimit = 'calls' | 'cps';

/** The result of one reservation attempt; `transition` says whether this step flipped the cluster's `full` flag of the target. */
export type ReserveResult = { kind: 'reserved'; load: number; transition?: 'free' } | { kind: 'full'; limit: CapacityLimit; load: number; transition?: 'full' };

/** A target's limits as configured; 0 or absent = none. */
export interface CapacityLimits {
  readonly maxCalls?: number;
  readonly maxCps?: number;
}

/**
 * Capacity reservations shared by the cluster (scripts RESERVE_CAPACITY / RELEASE_CAPACITY): one round
 * trip each, atomic in Redis, so several instances never both take a target's last free slot.
 */
export class CapacityStore {
  private readonly redis: CapacityRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly instanceId: string,
    private readonly streamMaxLen: number,
    /** the call path's write batch: a reservation, which the call waits for, sends what it gathered first */
    private readonly batch?: WriteBatch,
  ) {
    redis.defineCommand('sipdReserveCapacity', { numberOfKeys: 5, lua: RESERVE_CAPACITY });
    redis.defineCommand('sipdReleaseCapacity', { numberOfKeys: 3, lua: RELEASE_CAPACITY });
    this.redis = redis as CapacityRedis;
  }

  get available(): boolean {
    return this.redis.status === 'ready';
  }

  /** Reserves room for one INVITE to `targetId` for `holdMs` (at most: it is released or becomes the call's `active` slot before). */
  async reserve(targetId: string, reservationId: string, limits: CapacityLimits, holdMs: number): Promise<ReserveResult> {
    this.batch?.flush();
    const [result, transition, load] = await this.redis.sipdReserveCapacity(
      this.keys.target(targetId),
      this.keys.targetReserved(targetId),
      this.keys.targetStarts(targetId),
      this.keys.events(),
      this.keys.targets(),
      reservationId,
      String(Math.max(1, Math.round(holdMs))),
      String(limits.maxCalls ?? 0),
      String(limits.maxCps ?? 0),
      this.instanceId,
      String(this.streamMaxLen),
      targetId,
    );
    if (result === 'ok') return { kind: 'reserved', load: Number(load), ...(transition === 'free' ? { transition: 'free' as const } : {}) };
    return { kind: 'full', limit: result as CapacityLimit, load: Number(load), ...(transition === 'full' ? { transition: 'full' as const } : {}) };
  }

  /**
   * Gives a reservation back ('' = none: only checks whether a target full of calls has room again, after a
   * call on it ended). `freed`: this step cleared the cluster's `full` flag.
   */
  async release(targetId: string, reservationId: string): Promise<{ removed: boolean; freed: boolean }> {
    const [removed, freed] = await this.redis.sipdReleaseCapacity(
      this.keys.target(targetId),
      this.keys.targetReserved(targetId),
      this.keys.events(),
      reservationId,
      this.instanceId,
      String(this.streamMaxLen),
      targetId,
    );
    return { removed: removed === 1, freed: freed === 1 };
  }

  /** Each target's load now, `active` + live reservations (one round trip); for the least-loaded view. */
  async loads(targetIds: readonly string[], now = Date.now()): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (targetIds.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const id of targetIds) {
      pipeline.hget(this.keys.target(id), 'active');
      pipeline.zcount(this.keys.targetReserved(id), `(${String(now)}`, '+inf');
    }
    const replies = (await pipeline.exec()) ?? [];
    targetIds.forEach((id, i) => {
      const [e1, active] = replies[2 * i] ?? [];
      const [e2, reserved] = replies[2 * i + 1] ?? [];
      if (e1) throw e1;
      if (e2) throw e2;
      out.set(id, Math.max(0, Number(active ?? 0)) + Number(reserved ?? 0));
    });
    return out;
  }

  /** Live reservations of a target (tests, CLI). */
  async reservations(targetId: string, now = Date.now()): Promise<number> {
    return this.redis.zcount(this.keys.targetReserved(targetId), `(${String(now)}`, '+inf');
  }
}
