/**
 * Target health against a real redis-server: quarantine and down keys expire, two instances (two
 * connections, two stores, two in-memory views) see each other's states, the failure run is counted
 * once for the cluster, and a target is announced back up exactly once.
 */
import type Redis from 'ioredis';
import pino from 'pino';
import { makeKeys } from '../../lib/store/keys';
import { HealthStore } from '../../lib/store/health-store';
import { TargetHealth } from '../../lib/cluster/target-health';
import { startRedis, type RedisServer } from '../harness/redis';

const PREFIX = 'hs:';
const T = 'udp:127.0.0.1:5070';
const U = 'udp:127.0.0.1:5080';
const keys = makeKeys(PREFIX);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const silent = pino({ level: 'silent' });
const HEALTH = { passiveFailures: 3, downS: 30, panicBelowPercent: 50, maxQuarantineS: 3600, refreshMs: 100 };

async function events(redis: Redis, type: string): Promise<Array<Record<string, string>>> {
  const entries = await redis.xrange(keys.events(), '-', '+');
  return entries
    .map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : []))) as Record<string, string>)
    .filter((e) => e.type === type);
}

describe('HealthStore and TargetHealth against a real redis-server', () => {
  let server: RedisServer;
  let ra: Redis;
  let rb: Redis;
  let a: HealthStore;
  let b: HealthStore;

  beforeAll(async () => {
    server = await startRedis();
    ra = server.client();
    rb = server.client();
    a = new HealthStore(ra, keys, 'node-a', 1000, 300);
    b = new HealthStore(rb, keys, 'node-b', 1000, 300);
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    await ra.flushdb();
  });

  it('a quarantine is one key with its cause, seen by the other instance, and it expires keepMs after until', async () => {
    const now = Date.now();
    expect(await a.setState(T, 'quarantined', now + 400, '503 Retry-After 1', now)).toBe(true);
    const seen = (await b.states([T, U])).get(T);
    expect(seen).toMatchObject({ state: 'quarantined', until: now + 400, cause: '503 Retry-After 1', instance: 'node-a', up: false });
    expect((await b.states([T, U])).has(U)).toBe(false);
    const pttl = await ra.pttl(keys.targetHealth(T));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(700);
    await sleep(800);
    expect(await ra.exists(keys.targetHealth(T))).toBe(0);
    expect(await events(ra, 'target-quarantined')).toEqual([
      { type: 'target-quarantined', target: T, until: String(now + 400), cause: '503 Retry-After 1', instance: 'node-a' },
    ]);
  });

  it('a shorter quarantine does not shorten a longer one (no event); a longer one extends it', async () => {
    const now = Date.now();
    expect(await a.setState(T, 'quarantined', now + 5000, 'long', now)).toBe(true);
    expect(await b.setState(T, 'quarantined', now + 1000, 'short', now)).toBe(false);
    expect((await a.states([T])).get(T)?.cause).toBe('long');
    expect(await b.setState(T, 'quarantined', now + 9000, 'longer', now)).toBe(true);
    expect((await a.states([T])).get(T)).toMatchObject({ until: now + 9000, cause: 'longer', instance: 'node-b' });
    expect(await events(ra, 'target-quarantined')).toHaveLength(2);
  });

  it('failures counted through two instances make one run; the third marks the target down once, and the key expires', async () => {
    const now = Date.now();
    expect(await a.countFailure(T, 'timeout', 3, 300, now)).toEqual({ kind: 'count', run: 1 });
    expect(await b.countFailure(T, '503', 3, 300, now)).toEqual({ kind: 'count', run: 2 });
    const down = await a.countFailure(T, 'timeout', 3, 300, now);
    expect(down).toEqual({ kind: 'down', until: now + 300, cause: '3 consecutive failures (timeout,503,timeout)' });
    // out of selection: further failures are not counted
    expect(await b.countFailure(T, 'timeout', 3, 300, now + 10)).toEqual({ kind: 'skip' });
    expect(await a.failureRun(T)).toBe(0);
    expect((await b.states([T])).get(T)).toMatchObject({ state: 'down', cause: '3 consecutive failures (timeout,503,timeout)' });
    expect(await events(ra, 'target-down')).toHaveLength(1);
    await sleep(700);
    expect(await ra.exists(keys.targetHealth(T))).toBe(0);
  });

  it('a success resets the run; threshold 0 never marks down', async () => {
    await a.countFailure(T, 'timeout', 3, 300);
    await b.countFailure(T, 'timeout', 3, 300);
    await a.countSuccess(T);
    expect(await b.failureRun(T)).toBe(0);
    expect(await a.countFailure(T, 'timeout', 3, 300)).toEqual({ kind: 'count', run: 1 });
    for (let i = 0; i < 10; i += 1) expect((await a.countFailure(U, 'error', 0, 300)).kind).toBe('count');
    expect(await ra.exists(keys.targetHealth(U))).toBe(0);
  });

  it('two in-memory views: the one that quarantines sees it at once, the other after a refresh; both see it end; one target-up event', async () => {
    const va = new TargetHealth(a, HEALTH, () => [T, U], silent);
    const vb = new TargetHealth(b, HEALTH, () => [T, U], silent);
    va.report(T, { kind: 'rejected', status: 503, reason: 'x' }, '1');
    expect(va.states.get(T)).toMatchObject({ state: 'quarantined', cause: '503 Retry-After 1' });
    expect(vb.states.has(T)).toBe(false);
    await sleep(100);
    await vb.refresh();
    expect(vb.states.get(T)).toMatchObject({ state: 'quarantined', cause: '503 Retry-After 1' });
    await sleep(1000);
    await Promise.all([va.refresh(), vb.refresh()]);
    await Promise.all([va.refresh(), vb.refresh()]);
    const ups = await events(ra, 'target-up');
    expect(ups).toHaveLength(1);
    expect(ups[0]).toMatchObject({ target: T, was: 'quarantined', cause: '503 Retry-After 1' });
  });

  it('passive: three timeouts reported by two views mark the target down in both', async () => {
    const va = new TargetHealth(a, HEALTH, () => [T], silent);
    const vb = new TargetHealth(b, HEALTH, () => [T], silent);
    va.report(T, { kind: 'timeout' }, undefined);
    await sleep(50);
    vb.report(T, { kind: 'timeout' }, undefined);
    await sleep(50);
    vb.report(T, { kind: 'timeout' }, undefined);
    await sleep(50);
    expect(vb.states.get(T)).toMatchObject({ state: 'down', cause: '3 consecutive failures (timeout,timeout,timeout)' });
    expect(va.states.has(T)).toBe(false);
    await va.refresh();
    expect(va.states.get(T)?.state).toBe('down');
  });
});
