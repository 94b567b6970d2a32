import type { Redis } from 'ioredis';
import { makeKeys, type Keys } from './keys';
import { COUNT_ATTEMPT, END_CALL, RECORD_ANSWERED, type BatchedWrite } from './scripts';
import type { WriteBatch } from './write-batch';

/** Longest the event stream grows to (XADD MAXLEN ~), unless the config says otherwise. */
export const DEFAULT_STREAM_MAXLEN = 10000;

/** Everything another instance needs to end this call: both legs' dialog identifiers. */
export interface CallRecord {
  /** the call's key: the caller's Call-ID and From tag (lib/call/call-record.ts `callKey`) */
  key: string;
  /** the caller leg's Call-ID */
  callId: string;
  route: string;
  target: string;
  instance: string;
  /** the drachtio-server both legs' dialogs live on: `host:port` of its admin connection (`drachtio.servers[]`), or `outbound` */
  server: string;
  /** epoch ms when the caller was answered */
  answeredAt: number;
  /** epoch ms when the INVITE arrived */
  startedAt: number;
  /** caller leg (UAS side): Call-ID, tags as seen from the dispatcher, drachtio dialog id */
  aCallId: string;
  aLocalTag: string;
  aRemoteTag: string;
  aDialogId: string;
  /** the caller's Contact URI */
  aUri: string;
  /** target leg (UAC side) */
  bCallId: string;
  bLocalTag: string;
  bRemoteTag: string;
  bDialogId: string;
  bUri: string;
}

/** A call record as read back: adoption adds `adoptedFrom` (the dead owner) and `adoptedAt` (epoch ms). */
export interface LiveCall extends CallRecord {
  adoptedFrom?: string;
  adoptedAt?: number;
}

/** The Call-ID part of a call key (`<Call-ID>;<From tag>`; a Call-ID holds no `;`, RFC 3261 §25.1). */
export function callIdOfKey(key: string): string {
  const i = key.lastIndexOf(';');
  return i < 0 ? key : key.slice(0, i);
}

function toLiveCall(h: Record<string, string>): LiveCall | null {
  if (!h.target) return null;
  const { adoptedAt, ...rest } = h;
  return {
    ...(rest as unknown as CallRecord),
    answeredAt: Number(h.answeredAt),
    startedAt: Number(h.startedAt),
    ...(adoptedAt !== undefined ? { adoptedAt: Number(adoptedAt) } : {}),
  };
}

export interface TargetCounters {
  active: number;
  attempts: number;
  answered: number;
  canceled: number;
  /** failed:<status> fields, e.g. { '503': 4, timeout: 1 } */
  failed: Record<string, number>;
}

/** JSON.stringify replacer: every value a string, as Redis stores hash fields (epoch ms numbers included). */
function asStrings(_key: string, value: unknown): unknown {
  return typeof value === 'number' ? String(value) : value;
}

/** Each batched write's own script, as defined on the connection in the constructor. */
const DIRECT = { answered: 'sipdRecordAnswered', end: 'sipdEndCall', attempt: 'sipdCountAttempt' } as const satisfies Record<BatchedWrite, string>;

type StoreRedis = Redis & {
  /** 8 keys, then key, target, stream max length, reservation, the record as JSON (RECORD_ANSWERED) */
  sipdRecordAnswered(...keysThenArgs: string[]): Promise<number>;
  /** 2 keys, then key, prefix, by, now, stream max length, instance (END_CALL) */
  sipdEndCall(...keysThenArgs: string[]): Promise<string | null>;
  /** 4 keys, then targetId, field, stream max length, instance (COUNT_ATTEMPT) */
  sipdCountAttempt(...keysThenArgs: string[]): Promise<number>;
};

/**
 * Call records and per-target counters in Redis. Each method is one round trip, or one op of a write window (lib/store/write-batch.ts).
 */
export class CallStore {
  readonly keys: Keys;
  private readonly redis: StoreRedis;

  constructor(
    redis: Redis,
    prefix: string,
    /** this instance, named in the events it writes */
    private readonly instanceId = 'dispatcher',
    private readonly streamMaxLen = DEFAULT_STREAM_MAXLEN,
    /** the call path's writes (record, end, attempt counters) are gathered in it, when given */
    private readonly batch?: WriteBatch,
  ) {
    this.keys = makeKeys(prefix);
    redis.defineCommand('sipdRecordAnswered', { numberOfKeys: 8, lua: RECORD_ANSWERED });
    redis.defineCommand('sipdEndCall', { numberOfKeys: 2, lua: END_CALL });
    redis.defineCommand('sipdCountAttempt', { numberOfKeys: 4, lua: COUNT_ATTEMPT });
    this.redis = redis as StoreRedis;
  }

  /** Whether the connection to Redis is up now (commands are not queued while it is not). */
  get available(): boolean {
    return this.redis.status === 'ready';
  }

  /** Counts a failed attempt at a target: attempts + failed:<label> (e.g. failed:503, failed:timeout). */
  async recordFailedAttempt(targetId: string, label: string): Promise<void> {
    await this.countAttempt(targetId, `failed:${label}`);
  }

  /** Counts an attempt cancelled before its answer (the caller hung up, or a parallel leg answered first). */
  async recordCanceledAttempt(targetId: string): Promise<void> {
    await this.countAttempt(targetId, 'canceled');
  }

  private async countAttempt(targetId: string, field: string): Promise<void> {
    const keys = [this.keys.target(targetId), this.keys.targets(), this.keys.totals(), this.keys.events()];
    const args = [targetId, field, String(this.streamMaxLen), this.instanceId];
    await this.write('attempt', keys, args);
  }

  /** Counts a route event, e.g. `stripped-user-parameters`. */
  async countRoute(route: string, field: string): Promise<void> {
    await this.redis.hincrby(this.keys.route(route), field, 1);
  }

  /** Adds `n` to a cluster total (e.g. `refused:overload`). */
  async addToTotal(field: string, n: number): Promise<void> {
    await this.redis.hincrby(this.keys.totals(), field, n);
  }

  /**
   * Stores the call record and counts the answered attempt; false when this call key was already recorded.
   * `reservation`: the capacity reservation the call held (lib/cluster/capacity.ts), turned into its `active` slot in the same script.
   */
  async recordAnswered(rec: CallRecord, reservation = ''): Promise<boolean> {
    const keys = [
      this.keys.call(rec.key),
      this.keys.target(rec.target),
      this.keys.instanceCalls(rec.instance),
      this.keys.targets(),
      this.keys.events(),
      this.keys.instances(),
      this.keys.totals(),
      this.keys.targetReserved(rec.target),
    ];
    const args = [rec.key, rec.target, String(this.streamMaxLen), reservation, JSON.stringify(rec, asStrings)];
    return (await this.write('answered', keys, args)) === 1;
  }

  /**
   * Removes the record and decrements `active` exactly once; returns the target id, or null when there
   * was no record (already ended, or never stored). Idempotent: safe to run whatever recordAnswered returned.
   */
  async endCall(key: string, by = 'unknown'): Promise<string | null> {
    const keys = [this.keys.call(key), this.keys.events()];
    const args = [key, this.keys.prefix, by, String(Date.now()), String(this.streamMaxLen), this.instanceId];
    const target = await this.write('end', keys, args);
    return typeof target === 'string' ? target : null;
  }

  /** A call-path write: one op of the write window when it is batching, else its own script at once (the same Lua function either way). */
  private write(kind: BatchedWrite, keys: string[], args: string[]): Promise<unknown> {
    if (this.batch?.batching) return this.batch.write(kind, keys, args);
    return this.redis[DIRECT[kind]](...keys, ...args);
  }

  async getCall(key: string): Promise<CallRecord | null> {
    const h = await this.redis.hgetall(this.keys.call(key));
    if (!h.target) return null;
    return {
      ...(h as unknown as CallRecord),
      answeredAt: Number(h.answeredAt),
      startedAt: Number(h.startedAt),
    };
  }

  /** The call keys an instance owns. */
  async callsOf(instanceId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.instanceCalls(instanceId));
  }

  async targetCounters(targetId: string): Promise<TargetCounters> {
    const h = await this.redis.hgetall(this.keys.target(targetId));
    const failed: Record<string, number> = {};
    for (const [k, v] of Object.entries(h)) if (k.startsWith('failed:')) failed[k.slice(7)] = Number(v);
    return { active: Number(h.active ?? 0), attempts: Number(h.attempts ?? 0), answered: Number(h.answered ?? 0), canceled: Number(h.canceled ?? 0), failed };
  }

  async targetIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.targets());
  }

  /**
   * Every call key the owners' sets hold (`<prefix>instance:<id>:calls` for each id in `<prefix>instances`),
   * with its owner. Two round trips whatever the number of instances.
   */
  async ownedCallKeys(): Promise<Array<{ key: string; instance: string }>> {
    const ids = await this.redis.smembers(this.keys.instances());
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.smembers(this.keys.instanceCalls(id));
    const replies = (await pipeline.exec()) ?? [];
    return ids.flatMap((instance, i) => {
      const [err, keys] = replies[i] ?? [];
      if (err) throw err;
      return ((keys as string[] | undefined) ?? []).map((key) => ({ key, instance }));
    });
  }

  /** The records of these call keys, in one round trip; keys without a record (ended meanwhile) are left out. */
  async getCalls(keys: readonly string[]): Promise<LiveCall[]> {
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hgetall(this.keys.call(key));
    const replies = (await pipeline.exec()) ?? [];
    const calls: LiveCall[] = [];
    for (const [err, h] of replies) {
      if (err) throw err;
      const call = toLiveCall(h as Record<string, string>);
      if (call) calls.push(call);
    }
    return calls;
  }

  /** Every live call an owner's set names (three round trips). */
  async liveCalls(): Promise<LiveCall[]> {
    return this.getCalls((await this.ownedCallKeys()).map((c) => c.key));
  }

  /** One record by key, with its adoption fields; null when there is none. */
  async getLiveCall(key: string): Promise<LiveCall | null> {
    return toLiveCall(await this.redis.hgetall(this.keys.call(key)));
  }

  /** The call keys, among the owners' sets, whose Call-ID part is `callId` (a Call-ID may have several From tags). */
  async keysOfCallId(callId: string): Promise<string[]> {
    return (await this.ownedCallKeys())
      .filter((c) => callIdOfKey(c.key) === callId)
      .map((c) => c.key)
      .sort();
  }
}
