/**
 * The capacity scripts against a real redis-server: reservations are atomic under concurrency from
 * several connections, are given back or turned into `active`, expire on their own, and each `full`
 * transition writes one event.
 */
import type Redis from 'ioredis';
import { CallStore, type CallRecord } from '../../lib/store/call-store';
import { CapacityStore } from '../../lib/store/capacity-store';
import { makeKeys } from '../../lib/store/keys';
import { startRedis, type RedisServer } from '../harness/redis';

const PREFIX = 'cap:';
const T = 'udp:127.0.0.1:5070';
const keys = makeKeys(PREFIX);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function record(key: string): CallRecord {
  return {
    key,
    callId: key,
    route: 'r',
    target: T,
    instance: 'node-a',
    server: '127.0.0.1:9022',
    answeredAt: 2,
    startedAt: 1,
    aCallId: key,
    aLocalTag: 'a',
    aRemoteTag: 'b',
    aDialogId: 'ad',
    aUri: 'sip:a@127.0.0.1',
    bCallId: `b-${key}`,
    bLocalTag: 'c',
    bRemoteTag: 'd',
    bDialogId: 'bd',
    bUri: 'sip:b@127.0.0.1',
  };
}

describe('CapacityStore against a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  let stores: CapacityStore[];
  let calls: CallStore;

  beforeAll(async () => {
    server = await startRedis();
    redis = server.client();
    // two instances, two connections
    stores = [new CapacityStore(server.client(), keys, 'node-a', 1000), new CapacityStore(server.client(), keys, 'node-b', 1000)];
    calls = new CallStore(redis, PREFIX, 'node-a', 1000);
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    await redis.flushdb();
  });

  async function events(type: string): Promise<Array<Record<string, string>>> {
    const entries = await redis.xrange(keys.events(), '-', '+');
    return entries
      .map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : []))) as Record<string, string>)
      .filter((e) => e.type === type);
  }

  it('200 reservations at once from two connections for maxCalls 10: exactly 10 taken, one target-full event', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => stores[i % 2].reserve(T, `r${String(i)}`, { maxCalls: 10 }, 60000)));
    expect(results.filter((r) => r.kind === 'reserved')).toHaveLength(10);
    expect(results.filter((r) => r.kind === 'full' && r.transition === 'full')).toHaveLength(1);
    expect(await stores[0].reservations(T)).toBe(10);
    expect(await events('target-full')).toEqual([expect.objectContaining({ target: T, limit: 'calls', max: '10', load: '10' })]);
    expect(await redis.hget(keys.target(T), 'full')).toBe('calls');
  });

  it('a release gives the slot back and frees the target once (one target-free event)', async () => {
    for (let i = 0; i < 3; i += 1) expect((await stores[0].reserve(T, `r${String(i)}`, { maxCalls: 3 }, 60000)).kind).toBe('reserved');
    expect(await stores[1].reserve(T, 'r3', { maxCalls: 3 }, 60000)).toMatchObject({ kind: 'full', transition: 'full' });
    expect(await stores[1].reserve(T, 'r4', { maxCalls: 3 }, 60000)).toEqual({ kind: 'full', limit: 'calls', load: 3 });
    expect(await stores[1].release(T, 'r0')).toEqual({ removed: true, freed: true });
    expect(await stores[0].release(T, 'r0')).toEqual({ removed: false, freed: false });
    expect(await events('target-free')).toEqual([expect.objectContaining({ target: T, was: 'calls', load: '2', instance: 'node-b' })]);
    expect(await redis.hget(keys.target(T), 'full')).toBeNull();
    expect((await stores[0].reserve(T, 'r5', { maxCalls: 3 }, 60000)).kind).toBe('reserved');
  });

  it('an answered call turns its reservation into active in one step; its end frees the target', async () => {
    expect((await stores[0].reserve(T, 'res-1', { maxCalls: 1 }, 60000)).kind).toBe('reserved');
    expect(await calls.recordAnswered(record('c1'), 'res-1')).toBe(true);
    expect(await stores[0].reservations(T)).toBe(0);
    expect(await redis.hget(keys.target(T), 'active')).toBe('1');
    expect(await stores[1].reserve(T, 'res-2', { maxCalls: 1 }, 60000)).toMatchObject({ kind: 'full', load: 1 });
    expect(await calls.endCall('c1', 'caller')).toBe(T);
    expect(await stores[0].release(T, '')).toEqual({ removed: false, freed: true });
    expect(await stores[1].loads([T])).toEqual(new Map([[T, 0]]));
  });

  it('a reservation whose instance died mid-setup expires after its hold time', async () => {
    expect((await stores[0].reserve(T, 'lost', { maxCalls: 1 }, 300)).kind).toBe('reserved');
    expect((await stores[1].reserve(T, 'next', { maxCalls: 1 }, 300)).kind).toBe('full');
    expect(await stores[1].loads([T])).toEqual(new Map([[T, 1]]));
    await sleep(350);
    expect(await stores[1].loads([T])).toEqual(new Map([[T, 0]]));
    expect(await stores[1].reserve(T, 'next', { maxCalls: 1 }, 300)).toMatchObject({ kind: 'reserved', transition: 'free' });
    await sleep(350);
    expect(await redis.exists(keys.targetReserved(T))).toBe(0);
  });

  it('maxCps: at most that many INVITEs in any second, across connections; released attempts still count', async () => {
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 2].reserve(T, `s${String(i)}`, { maxCps: 4 }, 60000)));
    expect(first.filter((r) => r.kind === 'reserved')).toHaveLength(4);
    expect(first.filter((r) => r.kind === 'full').every((r) => r.kind === 'full' && r.limit === 'cps')).toBe(true);
    for (let i = 0; i < 20; i += 1) await stores[0].release(T, `s${String(i)}`);
    expect((await stores[0].reserve(T, 'later', { maxCps: 4 }, 60000)).kind).toBe('full');
    await sleep(1050);
    expect(await stores[1].reserve(T, 'later', { maxCps: 4 }, 60000)).toMatchObject({ kind: 'reserved', transition: 'free' });
    expect(await events('target-full')).toHaveLength(1);
    expect(await events('target-free')).toEqual([expect.objectContaining({ was: 'cps' })]);
  });
});
