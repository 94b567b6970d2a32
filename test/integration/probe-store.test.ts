/**
 * Probe leases, probe results and operator drain against a real redis-server: one holder per target
 * lease, a lease that moves when its holder stops renewing, PROBE_RESULT following stepProbe (down after
 * downAfter, up after upAfter, quarantine and drain left alone, nothing applied without the lease), and
 * a passive down of a probed target that lasts until probes end it.
 */
import type Redis from 'ioredis';
import { NO_END, stepProbe, EMPTY_PROBE_RUN, type ProbeResult, type ProbeRun, type TargetState } from '../../lib/routing/health';
import { HealthStore } from '../../lib/store/health-store';
import { makeKeys } from '../../lib/store/keys';
import { ProbeStore } from '../../lib/store/probe-store';
import { startRedis, type RedisServer } from '../harness/redis';

const PREFIX = 'ps:';
const T = 'udp:127.0.0.1:5070';
const U = 'udp:127.0.0.1:5080';
const keys = makeKeys(PREFIX);
const TH = { downAfter: 3, upAfter: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok: ProbeResult = { alive: true };
const fail = (label = 'timeout'): ProbeResult => ({ alive: false, label });

async function events(redis: Redis, type: string): Promise<Array<Record<string, string>>> {
  const entries = await redis.xrange(keys.events(), '-', '+');
  return entries
    .map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : []))) as Record<string, string>)
    .filter((e) => e.type === type);
}

describe('ProbeStore against a real redis-server', () => {
  let server: RedisServer;
  let ra: Redis;
  let rb: Redis;
  let a: ProbeStore;
  let b: ProbeStore;
  let ha: HealthStore;

  beforeAll(async () => {
    server = await startRedis();
    ra = server.client();
    rb = server.client();
    a = new ProbeStore(ra, keys, 'node-a', 1000);
    b = new ProbeStore(rb, keys, 'node-b', 1000);
    ha = new HealthStore(ra, keys, 'node-a', 1000, 300);
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    await ra.flushdb();
  });

  it('one instance holds a target lease at a time; it renews it; when it stops, the lease moves', async () => {
    expect(await a.takeLeases([T, U], 300)).toEqual([T, U]);
    expect(await b.takeLeases([T, U], 300)).toEqual([]);
    await sleep(200);
    expect(await a.takeLeases([T], 300)).toEqual([T]); // renewed: T lives on, U runs out
    await sleep(200);
    expect(await b.takeLeases([T, U], 300)).toEqual([U]);
    expect(await a.leaseHolder(T)).toBe('node-a');
    await sleep(350);
    expect(await b.takeLeases([T, U], 300)).toEqual([T, U]);
    expect(await a.releaseLeases([T, U])).toBe(0);
    expect(await b.releaseLeases([T, U])).toBe(2);
    expect(await a.takeLeases([T], 300)).toEqual([T]);
  });

  it('probe results follow stepProbe: down after 3 failures (one event), up after 2 successes (one event)', async () => {
    await a.takeLeases([T], 10000);
    let model: ProbeRun = EMPTY_PROBE_RUN;
    let state: TargetState | undefined;
    const seq = [fail(), ok, fail(), fail(), fail('503'), ok, fail(), ok, ok, fail()];
    for (const r of seq) {
      const now = Date.now();
      const step = stepProbe(model, r, state, now, TH);
      model = step.run;
      const applied = await a.applyResult(T, r, TH, now);
      if (step.transition) expect(applied).toEqual(step.transition);
      else expect(applied.kind).toBe('count');
      if (step.transition?.kind === 'down') state = { state: 'down', until: NO_END, cause: step.transition.cause };
      if (step.transition?.kind === 'up') state = undefined;
    }
    expect(await events(ra, 'target-down')).toEqual([
      expect.objectContaining({ target: T, cause: '3 probe failures (timeout,timeout,503)', until: String(NO_END), instance: 'node-a' }),
    ]);
    expect(await events(ra, 'target-up')).toEqual([expect.objectContaining({ target: T, was: 'down', by: 'probe' })]);
    expect(await ra.exists(keys.targetHealth(T))).toBe(0);
  });

  it('a down state has no end and no TTL; every instance reads it as not usable', async () => {
    await a.takeLeases([T], 10000);
    for (let i = 0; i < 3; i += 1) await a.applyResult(T, fail(), TH);
    expect(await ra.pttl(keys.targetHealth(T))).toBe(-1);
    const s = (await new HealthStore(rb, keys, 'node-b', 1000, 300).states([T])).get(T);
    expect(s).toMatchObject({ state: 'down', until: NO_END, cause: '3 probe failures (timeout,timeout,timeout)' });
  });

  it('without the lease a result changes nothing', async () => {
    await a.takeLeases([T], 10000);
    for (let i = 0; i < 5; i += 1) expect(await b.applyResult(T, fail(), TH)).toEqual({ kind: 'lost' });
    expect(await ra.exists(keys.targetHealth(T))).toBe(0);
    expect(await ra.hget(keys.target(T), 'probeFailures')).toBeNull();
  });

  it('a quarantine in force is neither ended nor turned into down by probes', async () => {
    await a.takeLeases([T], 10000);
    const now = Date.now();
    await ha.setState(T, 'quarantined', now + 60000, '503 Retry-After 60', now);
    for (let i = 0; i < 4; i += 1) expect((await a.applyResult(T, fail(), TH)).kind).toBe('count');
    for (let i = 0; i < 4; i += 1) expect((await a.applyResult(T, ok, TH)).kind).toBe('count');
    expect(await ra.hgetall(keys.targetHealth(T))).toMatchObject({ state: 'quarantined', cause: '503 Retry-After 60' });
  });

  it('a passive down of a probed target (downMs -1) has no end, and probes bring it back', async () => {
    await a.takeLeases([T], 10000);
    for (let i = 0; i < 2; i += 1) await ha.countFailure(T, 'timeout', 3, -1);
    const r = await ha.countFailure(T, 'timeout', 3, -1);
    expect(r).toEqual({ kind: 'down', until: NO_END, cause: '3 consecutive failures (timeout,timeout,timeout)' });
    expect(await ra.pttl(keys.targetHealth(T))).toBe(-1);
    expect(await a.applyResult(T, ok, TH)).toMatchObject({ kind: 'count', successes: 1 });
    expect(await a.applyResult(T, ok, TH)).toEqual({ kind: 'up', was: 'down', cause: '3 consecutive failures (timeout,timeout,timeout)' });
    expect(await ra.exists(keys.targetHealth(T))).toBe(0);
    // without probing (downMs 30000) the old behaviour: a fixed end and a TTL
    for (let i = 0; i < 3; i += 1) await ha.countFailure(U, 'timeout', 3, 30000);
    expect(Number(await ra.hget(keys.targetHealth(U), 'until'))).toBeLessThan(Date.now() + 31000);
    expect(await ra.pttl(keys.targetHealth(U))).toBeGreaterThan(0);
  });

  it('drain: no end, probes leave it alone, undrain ends it; each change one event', async () => {
    await a.takeLeases([T], 10000);
    expect(await b.drain(T)).toBe(true);
    expect(await b.drain(T)).toBe(false);
    expect(await ra.hgetall(keys.targetHealth(T))).toMatchObject({ state: 'draining', until: String(NO_END), cause: 'operator drain' });
    for (let i = 0; i < 3; i += 1) await a.applyResult(T, ok, TH);
    for (let i = 0; i < 4; i += 1) await a.applyResult(T, fail(), TH);
    expect(await ra.hget(keys.targetHealth(T), 'state')).toBe('draining');
    // passive failures and quarantines do not override it either
    await ha.countFailure(T, 'timeout', 1, -1);
    expect(await ha.setState(T, 'quarantined', Date.now() + 1000, '503 Retry-After 1')).toBe(false);
    expect(await b.undrain(T)).toBe(true);
    expect(await b.undrain(T)).toBe(false);
    expect(await ra.exists(keys.targetHealth(T))).toBe(0);
    expect(await events(ra, 'target-draining')).toEqual([expect.objectContaining({ target: T, cause: 'operator drain', instance: 'node-b' })]);
    expect(await events(ra, 'target-undrained')).toEqual([expect.objectContaining({ target: T, was: 'draining' })]);
  });
});
