/**
 * What a finished test run must leave in Redis: no call record, and every target's `active` at 0.
 */
import type Redis from 'ioredis';

export interface Left {
  records: string[];
  /** `active` of each target in `<prefix>targets`, in that order */
  active: number[];
}

/** The call records and per-target `active` counters now. */
export async function leftInRedis(redis: Redis, prefix: string): Promise<Left> {
  const records = await redis.keys(`${prefix}call:*`);
  const ids = await redis.smembers(`${prefix}targets`);
  const active = await Promise.all(ids.map(async (id) => Number((await redis.hget(`${prefix}target:${id}`, 'active')) ?? 0)));
  return { records, active };
}

/** Waits up to timeoutMs for nothing to be left counted, then asserts it (so a failure shows what is left). */
export async function expectNothingCounted(redis: Redis, prefix: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = await leftInRedis(redis, prefix);
    if (left.records.length === 0 && left.active.every((a) => a === 0)) return;
    if (Date.now() > until) {
      expect(left).toEqual({ records: [], active: left.active.map(() => 0) });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
