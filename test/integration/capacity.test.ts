/**
 * lib/cluster/capacity.ts against a real redis-server (and against one that is gone): targets without
 * limits cost no Redis command; with Redis unreachable the instance's own count decides (fail open).
 */
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import { Capacity, reservationHoldMs, type LimitedTarget } from '../../lib/cluster/capacity';
import { createLogger } from '../../lib/logger';
import { CapacityStore } from '../../lib/store/capacity-store';
import { makeKeys } from '../../lib/store/keys';
import { startRedis, type RedisServer } from '../harness/redis';

const keys = makeKeys('capi:');

function capture(): { lines: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger('debug', stream) };
}

async function scriptCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval|hget|zcard|zadd|zrem):calls=(\d+)/g)) n += Number(m[1]);
  return n;
}

describe('Capacity', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a target without maxCalls/maxCps is taken without any Redis command', async () => {
    const redis = server.client();
    const capacity = new Capacity(new CapacityStore(redis, keys, 'node-a', 1000), capture().logger);
    await redis.ping();
    const before = await scriptCalls(redis);
    const free: LimitedTarget = { id: 'udp:10.0.0.1:5060' };
    for (let i = 0; i < 50; i += 1) {
      const r = await capacity.reserve(free, `r${String(i)}`, reservationHoldMs(120));
      expect(r).toEqual({ targetId: free.id, id: '', local: false });
      if (!('full' in r)) capacity.release(r);
    }
    expect(await scriptCalls(redis)).toBe(before);
  });

  it('reserves in Redis for a limited target and keeps its own count alongside', async () => {
    const redis = server.client();
    const capacity = new Capacity(new CapacityStore(redis, keys, 'node-a', 1000), capture().logger);
    const t: LimitedTarget = { id: 'udp:10.0.0.2:5060', maxCalls: 2 };
    const a = await capacity.reserve(t, 'a', 60000);
    const b = await capacity.reserve(t, 'b', 60000);
    expect(await capacity.reserve(t, 'c', 60000)).toEqual({ full: 'calls' });
    expect(capacity.heldHere(t.id)).toBe(2);
    if ('full' in a || 'full' in b) throw new Error('expected reservations');
    capacity.release(a);
    capacity.release(b);
    expect(capacity.heldHere(t.id)).toBe(0);
    for (let i = 0; i < 20 && (await redis.zcard(keys.targetReserved(t.id))) > 0; i += 1) await new Promise((r) => setTimeout(r, 50));
    expect(await redis.zcard(keys.targetReserved(t.id))).toBe(0);
  });

  it('Redis unreachable: decides on its own count at once (maxCalls and maxCps), one warning', async () => {
    const gone = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const { lines, logger } = capture();
    const capacity = new Capacity(new CapacityStore(gone, keys, 'node-a', 1000), logger);
    const t: LimitedTarget = { id: 'udp:10.0.0.3:5060', maxCalls: 2 };
    const t0 = Date.now();
    const a = await capacity.reserve(t, 'a', 60000);
    expect(a).toEqual({ targetId: t.id, id: '', local: true });
    expect((await capacity.reserve(t, 'b', 60000)) as unknown).toMatchObject({ local: true });
    expect(await capacity.reserve(t, 'c', 60000)).toEqual({ full: 'calls' });
    if (!('full' in a)) capacity.release(a);
    expect(await capacity.reserve(t, 'd', 60000)).toMatchObject({ local: true });
    const cps: LimitedTarget = { id: 'udp:10.0.0.4:5060', maxCps: 3 };
    const got = await Promise.all(Array.from({ length: 5 }, (_, i) => capacity.reserve(cps, `s${String(i)}`, 60000)));
    expect(got.filter((r) => !('full' in r))).toHaveLength(3);
    expect(Date.now() - t0).toBeLessThan(200);
    expect(lines.filter((l) => l.code === 'B2B_WARN_CAPACITY_LOCAL')).toHaveLength(1);
    gone.disconnect();
  });
});
