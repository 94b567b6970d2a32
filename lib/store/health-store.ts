import type { Redis } from 'ioredis';
import type { TargetState, TargetStateKind } from '../routing/health';
import type { Keys } from './keys';
import { SET_TARGET_STATE, TARGET_FAILURE, TARGET_UP } from './scripts';

type HealthRedis = Redis & {
  sipdSetTargetState(k1: string, k2: string, k3: string, ...argv: string[]): Promise<number>;
  sipdTargetFailure(k1: string, k2: string, k3: string, ...argv: string[]): Promise<string[]>;
  sipdTargetUp(k1: string, k2: string, ...argv: string[]): Promise<string | null>;
};

/** The result of counting a failure: counted (`run` long), ignored (out of selection already), or the target went down. */
export type FailureResult = { kind: 'count'; run: number } | { kind: 'skip' } | { kind: 'down'; until: number; cause: string };

/** A state as stored, with whether its end was announced (`up`). */
export type StoredState = TargetState & { instance: string; since: number; up: boolean };

function toState(h: Record<string, string>): StoredState | undefined {
  if ((h.state !== 'quarantined' && h.state !== 'down' && h.state !== 'draining') || !h.until) return undefined;
  return { state: h.state, until: Number(h.until), cause: h.cause ?? '', instance: h.instance ?? '', since: Number(h.since ?? 0), up: h.up !== undefined };
}

/**
 * Target states shared by the cluster (`<prefix>target:<id>:health`) and the passive failure run
 * (fields of `<prefix>target:<id>`). Each method is one round trip; each state change writes its event.
 */
export class HealthStore {
  private readonly redis: HealthRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly instanceId: string,
    private readonly streamMaxLen: number,
    /** how long a state key lives on after `until`, for the `target-up` announcement */
    private readonly keepMs: number,
  ) {
    redis.defineCommand('sipdSetTargetState', { numberOfKeys: 3, lua: SET_TARGET_STATE });
    redis.defineCommand('sipdTargetFailure', { numberOfKeys: 3, lua: TARGET_FAILURE });
    redis.defineCommand('sipdTargetUp', { numberOfKeys: 2, lua: TARGET_UP });
    this.redis = redis as HealthRedis;
  }

  get available(): boolean {
    return this.redis.status === 'ready';
  }

  /** Takes a target out of selection until `until`; false when it already was until then or later. */
  async setState(targetId: string, state: TargetStateKind, until: number, cause: string, now = Date.now()): Promise<boolean> {
    const written = await this.redis.sipdSetTargetState(
      this.keys.targetHealth(targetId),
      this.keys.target(targetId),
      this.keys.events(),
      state,
      String(until),
      cause,
      String(now),
      String(this.keepMs),
      this.instanceId,
      String(this.streamMaxLen),
      targetId,
    );
    return written === 1;
  }

  /** Counts one failure of a real call; at `threshold` in a row the target is down for `downMs`. */
  async countFailure(targetId: string, label: string, threshold: number, downMs: number, now = Date.now()): Promise<FailureResult> {
    const r = await this.redis.sipdTargetFailure(
      this.keys.target(targetId),
      this.keys.targetHealth(targetId),
      this.keys.events(),
      label,
      String(threshold),
      String(downMs),
      String(now),
      String(this.keepMs),
      this.instanceId,
      String(this.streamMaxLen),
      targetId,
    );
    if (r[0] === 'down') return { kind: 'down', until: Number(r[1]), cause: r[2] };
    if (r[0] === 'count') return { kind: 'count', run: Number(r[1]) };
    return { kind: 'skip' };
  }

  /** An answered call: the target's failure run starts again. */
  async countSuccess(targetId: string): Promise<void> {
    await this.redis.hdel(this.keys.target(targetId), 'failureRun', 'failureRunLabels');
  }

  /** The current failure run of a target (for tests and the CLI). */
  async failureRun(targetId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.target(targetId), 'failureRun')) ?? 0);
  }

  /** The stored states of these targets (one round trip); targets without one are left out. */
  async states(targetIds: readonly string[]): Promise<Map<string, StoredState>> {
    const out = new Map<string, StoredState>();
    if (targetIds.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const id of targetIds) pipeline.hgetall(this.keys.targetHealth(id));
    const replies = (await pipeline.exec()) ?? [];
    replies.forEach(([err, h], i) => {
      if (err) throw err;
      const s = toState(h as Record<string, string>);
      if (s) out.set(targetIds[i], s);
    });
    return out;
  }

  /** The ids of the targets that have a state key now (SCAN; for the CLI, never on a call's path). */
  async targetIdsWithState(): Promise<string[]> {
    const prefix = this.keys.target('');
    const ids: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', `${prefix}*:health`, 'COUNT', 500);
      cursor = next;
      for (const k of found) ids.push(k.slice(prefix.length, -':health'.length));
    } while (cursor !== '0');
    return ids;
  }

  /** Announces a target whose state ran out back up, once for the cluster: what it leaves, or null (not over, or another instance announced it). */
  async announceUp(targetId: string, now = Date.now()): Promise<{ was: TargetStateKind; cause: string } | null> {
    const r = await this.redis.sipdTargetUp(
      this.keys.targetHealth(targetId),
      this.keys.events(),
      String(now),
      this.instanceId,
      String(this.streamMaxLen),
      targetId,
    );
    if (r === null) return null;
    const i = r.indexOf('|');
    return { was: r.slice(0, i) as TargetStateKind, cause: r.slice(i + 1) };
  }
}
