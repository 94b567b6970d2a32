import type { Redis } from 'ioredis';
import type { Keys } from './keys';
import { ADOPT_CALLS, REBUILD_ACTIVE } from './scripts';

/** What an instance says about itself in its registry key (`<prefix>instance:<id>`). */
export interface InstanceFacts {
  id: string;
  host: string;
  pid: number;
  version: string;
  /** drachtio-servers this instance is connected to now (`host:port`) */
  servers: string[];
  /** calls it holds (setting up, answered, adopted) */
  calls: number;
  startedAt: number;
  draining: boolean;
}

/** An instance as the cluster sees it: alive (its key is there) or not, and how many calls it owns in Redis. */
export interface InstanceView {
  id: string;
  alive: boolean;
  facts?: InstanceFacts;
  ownedCalls: number;
}

/**
 * A command for one instance, sent over pub/sub (`<prefix>control:<id>`): end a call it holds, or
 * re-read its config file (it answers with a `config-reloaded` or `config-refused` event naming `request`).
 */
export type ControlMessage = { action: 'hangup'; key: string } | { action: 'reload'; request: string };

/** One entry of the event stream `<prefix>events`: its stream id (`<epoch ms>-<seq>`), `type`, and the other fields. */
export interface StreamEvent {
  id: string;
  type: string;
  fields: Record<string, string>;
}

/** An XRANGE/XREAD entry (`[id, [field, value, …]]`) as a StreamEvent. */
export function toStreamEvent([id, flat]: [string, string[]]): StreamEvent {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  const { type = '', ...rest } = fields;
  return { id, type, fields: rest };
}

type ClusterRedis = Redis & {
  sipdAdoptCalls(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    token: string,
    me: string,
    dead: string,
    prefix: string,
    now: string,
    maxlen: string,
  ): Promise<string[] | null>;
  sipdRebuildActive(k1: string, k2: string, prefix: string): Promise<number>;
};

function toFacts(h: Record<string, string>): InstanceFacts | undefined {
  if (!h.id) return undefined;
  return {
    id: h.id,
    host: h.host ?? '',
    pid: Number(h.pid),
    version: h.version ?? '',
    servers: h.servers ? h.servers.split(',').filter(Boolean) : [],
    calls: Number(h.calls ?? 0),
    startedAt: Number(h.startedAt),
    draining: h.draining === '1',
  };
}

/**
 * The cluster's shared state: instance registry keys, takeover locks with fencing tokens, adoption of
 * a dead instance's calls, the rebuild of `active` counters, events and control messages.
 */
export class ClusterStore {
  private readonly redis: ClusterRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly streamMaxLen: number,
  ) {
    redis.defineCommand('sipdAdoptCalls', { numberOfKeys: 4, lua: ADOPT_CALLS });
    redis.defineCommand('sipdRebuildActive', { numberOfKeys: 2, lua: REBUILD_ACTIVE });
    this.redis = redis as ClusterRedis;
  }

  /** Writes this instance's registry key with a TTL (one round trip). */
  async heartbeat(f: InstanceFacts, ttlMs: number): Promise<void> {
    const key = this.keys.instance(f.id);
    await this.redis
      .multi()
      .hset(key, {
        id: f.id,
        host: f.host,
        pid: String(f.pid),
        version: f.version,
        servers: f.servers.join(','),
        calls: String(f.calls),
        startedAt: String(f.startedAt),
        draining: f.draining ? '1' : '0',
      })
      .pexpire(key, ttlMs)
      .sadd(this.keys.instances(), f.id)
      .exec();
  }

  /** A clean shutdown: the registry key goes, and the instance leaves the set if it owns no call. */
  async removeInstance(id: string): Promise<void> {
    await this.redis.del(this.keys.instance(id));
    if ((await this.redis.scard(this.keys.instanceCalls(id))) === 0) await this.redis.srem(this.keys.instances(), id);
  }

  async instances(): Promise<InstanceView[]> {
    const ids = (await this.redis.smembers(this.keys.instances())).sort();
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.instance(id)).scard(this.keys.instanceCalls(id));
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((id, i) => {
      const facts = toFacts((replies[2 * i]?.[1] as Record<string, string> | undefined) ?? {});
      return { id, alive: facts !== undefined, facts, ownedCalls: Number(replies[2 * i + 1]?.[1] ?? 0) };
    });
  }

  /** Ids of instances whose registry key has expired but which still own calls; forgets dead ones that own none. */
  async deadOwners(): Promise<string[]> {
    const dead: string[] = [];
    for (const view of await this.instances()) {
      if (view.alive) continue;
      if (view.ownedCalls > 0) dead.push(view.id);
      else await this.redis.srem(this.keys.instances(), view.id);
    }
    return dead;
  }

  /** Tries to become the one survivor that adopts `deadId`'s calls; returns the fencing token, or null when another holds the lock. */
  async acquireTakeover(deadId: string, ttlMs: number): Promise<string | null> {
    const token = String(await this.redis.incr(this.keys.fence()));
    const ok = await this.redis.set(this.keys.takeoverLock(deadId), token, 'PX', ttlMs, 'NX');
    return ok === 'OK' ? token : null;
  }

  /** Moves `deadId`'s calls to `me` if `token` still holds the lock; the adopted call keys, or null. */
  async adopt(deadId: string, me: string, token: string): Promise<string[] | null> {
    const adopted = await this.redis.sipdAdoptCalls(
      this.keys.takeoverLock(deadId),
      this.keys.instanceCalls(deadId),
      this.keys.instanceCalls(me),
      this.keys.events(),
      token,
      me,
      deadId,
      this.keys.prefix,
      String(Date.now()),
      String(this.streamMaxLen),
    );
    return adopted ?? null;
  }

  /** Recomputes every target's `active` from the records the owners' sets hold; returns the number of calls counted. */
  async rebuildActive(): Promise<number> {
    return this.redis.sipdRebuildActive(this.keys.targets(), this.keys.instances(), this.keys.prefix);
  }

  async event(type: string, fields: Record<string, string>): Promise<void> {
    await this.redis.xadd(this.keys.events(), 'MAXLEN', '~', this.streamMaxLen, '*', 'type', type, ...Object.entries(fields).flat());
  }

  /** Asks the instance holding a call to act on it; resolves with the number of instances that got the message. */
  async publish(instanceId: string, msg: ControlMessage): Promise<number> {
    return this.redis.publish(this.keys.control(instanceId), JSON.stringify(msg));
  }

  /** The last `count` events, oldest first. */
  async recentEvents(count: number): Promise<StreamEvent[]> {
    if (count <= 0) return [];
    const entries = await this.redis.xrevrange(this.keys.events(), '+', '-', 'COUNT', count);
    return entries.reverse().map(toStreamEvent);
  }

  /** The id of the newest event, or `0-0` when the stream is empty or missing (an XREAD from it returns only newer events). */
  async lastEventId(): Promise<string> {
    const [last] = await this.redis.xrevrange(this.keys.events(), '+', '-', 'COUNT', 1);
    return last?.[0] ?? '0-0';
  }

  /**
   * Events newer than `afterId`, waiting up to `blockMs` for the first one (XREAD BLOCK); [] when none came.
   * Keep `blockMs` below the connection's command timeout.
   */
  async eventsAfter(afterId: string, blockMs: number, count = 100): Promise<StreamEvent[]> {
    const reply = await this.redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.keys.events(), afterId);
    return (reply?.[0]?.[1] ?? []).map(toStreamEvent);
  }
}
