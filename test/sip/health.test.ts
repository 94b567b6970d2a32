/**
 * Target health end to end, two instances on one drachtio-server and one Redis: a target answering
 * 503 with Retry-After is out of selection for that long through both instances and back after it; a
 * silent target is marked down after health.passiveFailures timed-out calls; a route whose targets are
 * all out answers 503 with Retry-After at once, trying nothing; a route with fewer than half its targets
 * up tries the ones marked down as well (panic mode).
 */
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { drachtioSection, startDispatcher, targetId } from '../helpers/dispatcher';
import { newIds, RawSipClient, SDP } from '../helpers/raw-sip';
import { HealthStore } from '../../lib/store/health-store';
import { makeKeys } from '../../lib/store/keys';
import { NO_END } from '../../lib/routing/health';

const PREFIX = 'hl:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REFRESH_MS = 200;

describe('target health across two instances', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let ra5: SippUas;
  let answering: SippUas;
  let silent: SippUas;
  let backup: SippUas;
  let ra30a: SippUas;
  let ra30b: SippUas;
  let panicA: SippUas;
  let panicB: SippUas;
  let apps: AppProcess[] = [];
  const sip = () => ({ host: drachtio.sipAddress, port: drachtio.sipPort });

  beforeAll(async () => {
    [redisServer, drachtio, ra5, answering, silent, backup, ra30a, ra30b, panicA, panicB] = await Promise.all([
      startRedis(),
      startDrachtio(),
      startUas('unavailable-503-retry-after', { retryAfter: 5 }),
      startUas('answer'),
      startUas('silent'),
      startUas('answer'),
      startUas('unavailable-503-retry-after', { retryAfter: 30 }),
      startUas('unavailable-503-retry-after', { retryAfter: 30 }),
      startUas('answer'),
      startUas('answer'),
    ]);
    redis = redisServer.client();
    const config = (id: string) => ({
      instanceId: id,
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      health: { refreshMs: REFRESH_MS, passiveFailures: 3, downS: 30 },
      routes: [
        {
          name: 'quarantine',
          match: { domains: ['quarantine.test'] },
          targets: [
            { host: ra5.host, port: ra5.port, priority: 10 },
            { host: answering.host, port: answering.port, priority: 20 },
          ],
        },
        {
          name: 'passive',
          match: { domains: ['passive.test'] },
          provisionalTimeoutMs: 300,
          targets: [
            // not probed: probes would mark it down on their own (test/sip/probing.test.ts); here passive health alone, for downS
            { host: silent.host, port: silent.port, priority: 10, probe: false },
            { host: backup.host, port: backup.port, priority: 20 },
          ],
        },
        {
          name: 'panic',
          match: { domains: ['panic.test'] },
          targets: [
            { host: panicA.host, port: panicA.port, probe: false },
            { host: panicB.host, port: panicB.port, probe: false },
          ],
        },
        {
          name: 'all-out',
          targets: [
            { host: ra30a.host, port: ra30a.port },
            { host: ra30b.host, port: ra30b.port },
          ],
        },
      ],
    });
    apps = await Promise.all([startDispatcher(config('node-a')), startDispatcher(config('node-b'))]);
  }, 60000);

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop('SIGKILL')));
    await Promise.all([ra5, answering, silent, backup, ra30a, ra30b, panicA, panicB].map((u) => u?.stop()));
    await drachtio?.stop();
    await redisServer?.stop();
  });

  const logged = (pred: (l: Record<string, unknown>) => boolean) => apps.flatMap((a) => a.logs().filter(pred));
  const answeredOn = (route: string) => apps.map((a) => a.logs().filter((l) => l.msg === 'call answered' && l.route === route));
  async function events(type: string): Promise<Array<Record<string, string>>> {
    const entries = await redis.xrange(`${PREFIX}events`, '-', '+');
    return entries
      .map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : []))) as Record<string, string>)
      .filter((e) => e.type === type);
  }

  it('503 with Retry-After: 5 takes the target out of selection on both instances for 5 s, then it gets INVITEs again', async () => {
    const first = await runUac('call', { target: sip(), domain: 'quarantine.test', calls: 1, rate: 1 });
    expect(first.exitCode).toBe(0);
    const quarantinedAt = Date.now();
    expect((await ra5.waitForStats((s) => s.incomingCalls >= 1)).incomingCalls).toBe(1);
    // one state key with its cause, one event, one log line (from the instance that saw the 503)
    const state = await redis.hgetall(`${PREFIX}target:${targetId(ra5)}:health`);
    expect(state).toMatchObject({ state: 'quarantined', cause: '503 Retry-After 5' });
    expect(Number(state.until) - quarantinedAt).toBeGreaterThan(4000);
    expect(Number(state.until) - quarantinedAt).toBeLessThanOrEqual(5000);
    expect(await events('target-quarantined')).toEqual([expect.objectContaining({ target: targetId(ra5), cause: '503 Retry-After 5' })]);
    expect(logged((l) => l.code === 'B2B_WARN_TARGET_QUARANTINED' && l.target === targetId(ra5))).toHaveLength(1);

    // the other instance learns it within one refresh; then, for the rest of the 5 s, no call reaches it
    await sleep(2 * REFRESH_MS);
    const before = answeredOn('quarantine').map((l) => l.length);
    // 12 calls over ~3 s, each held 100 ms: all set up well inside the 5 s
    const r = await runUac('call', { target: sip(), domain: 'quarantine.test', calls: 12, rate: 4, concurrency: 3, holdMs: 100 });
    expect(r.exitCode).toBe(0);
    expect(r.stats.successfulCalls).toBe(12);
    expect((await ra5.stats()).incomingCalls).toBe(1);
    // calls went through both instances, each straight to the answering target
    const during = answeredOn('quarantine').map((l, i) => l.slice(before[i]));
    expect(during[0].length).toBeGreaterThan(0);
    expect(during[1].length).toBeGreaterThan(0);
    for (const l of during.flat()) expect(l.tried).toEqual([expect.objectContaining({ target: targetId(answering), result: '200' })]);
    expect(Math.max(...during.flat().map((l) => Date.parse(String(l.time))))).toBeLessThan(quarantinedAt + 5000);

    // after 5 s it is tried again (and quarantines itself again)
    await sleep(Math.max(0, quarantinedAt + 5200 - Date.now()));
    const after = await runUac('call', { target: sip(), domain: 'quarantine.test', calls: 2, rate: 4 });
    expect(after.exitCode).toBe(0);
    expect((await ra5.waitForStats((s) => s.incomingCalls >= 2)).incomingCalls).toBeGreaterThanOrEqual(2);
    // one instance announced it back up, once
    for (let i = 0; i < 20 && (await events('target-up')).length === 0; i += 1) await sleep(100);
    expect((await events('target-up')).filter((e) => e.target === targetId(ra5))).toHaveLength(1);
  }, 60000);

  it('a silent target is marked down after 3 timed-out calls: later calls go straight to the next target', async () => {
    for (let i = 0; i < 3; i += 1) {
      const r = await runUac('call', { target: sip(), domain: 'passive.test', calls: 1, rate: 1 });
      expect(r.exitCode).toBe(0);
    }
    expect((await silent.waitForStats((s) => s.incomingCalls >= 3)).incomingCalls).toBe(3);
    for (let i = 0; i < 20 && (await events('target-down')).length === 0; i += 1) await sleep(100);
    expect(await events('target-down')).toEqual([
      expect.objectContaining({ target: targetId(silent), cause: '3 consecutive failures (timeout,timeout,timeout)' }),
    ]);
    expect(logged((l) => l.code === 'B2B_WARN_TARGET_DOWN' && l.target === targetId(silent))).toHaveLength(1);
    await sleep(2 * REFRESH_MS);

    const before = answeredOn('passive').map((l) => l.length);
    const r = await runUac('call', { target: sip(), domain: 'passive.test', calls: 6, rate: 4, concurrency: 2 });
    expect(r.exitCode).toBe(0);
    await sleep(500);
    expect((await silent.stats()).incomingCalls).toBe(3);
    const later = answeredOn('passive').flatMap((l, i) => l.slice(before[i]));
    expect(later).toHaveLength(6);
    for (const l of later) {
      expect(l.tried).toEqual([expect.objectContaining({ target: targetId(backup) })]);
      expect(l.setupMs).toBeLessThan(300); // no provisional timeout waited for
    }
    expect(await redis.hget(`${PREFIX}target:${targetId(silent)}:health`, 'state')).toBe('down');
  }, 60000);

  it('every target quarantined: the caller gets 503 with Retry-After at once, nothing is tried', async () => {
    const client = await new RawSipClient(sip()).open();
    try {
      const ruri = 'sip:1000@all-out.test';
      const ids = newIds();
      const first = await client.invite(ids, ruri, { body: SDP });
      client.ackFailure(ids, ruri, first);
      expect(first.status).toBe(503);
      expect((await ra30a.waitForStats((s) => s.incomingCalls >= 1)).incomingCalls).toBe(1);
      expect((await ra30b.waitForStats((s) => s.incomingCalls >= 1)).incomingCalls).toBe(1);
      await sleep(2 * REFRESH_MS);

      for (let i = 0; i < 4; i += 1) {
        const again = newIds();
        const t0 = Date.now();
        const res = await client.invite(again, ruri, { body: SDP });
        client.ackFailure(again, ruri, res);
        expect(res.status).toBe(503);
        expect(Date.now() - t0).toBeLessThan(500);
        const retryAfter = Number(res.headers['retry-after']?.[0]);
        expect(retryAfter).toBeGreaterThanOrEqual(25);
        expect(retryAfter).toBeLessThanOrEqual(30);
      }
      await sleep(300);
      expect((await ra30a.stats()).incomingCalls).toBe(1);
      expect((await ra30b.stats()).incomingCalls).toBe(1);
      expect(logged((l) => l.code === 'B2B_ERR_ALL_TARGETS_DOWN')).toHaveLength(4);
    } finally {
      await client.close();
    }
  }, 60000);
  it('panic mode: with both targets of a route marked down, calls still go to both; with one back up, only to it', async () => {
    const store = new HealthStore(redis, makeKeys(PREFIX), 'test', 1000, 60000);
    // A down for 5 s (a state whose until has passed is up at once on every instance, no refresh needed), B until probes say otherwise
    const aUntil = Date.now() + 5000;
    await store.setState(targetId(panicA), 'down', aUntil, 'marked down by the test');
    await store.setState(targetId(panicB), 'down', NO_END, 'marked down by the test');
    await sleep(3 * REFRESH_MS);
    const panicked = await runUac('call', { target: sip(), domain: 'panic.test', calls: 10, rate: 20, timeoutMs: 10000 });
    expect(panicked.stats.successfulCalls).toBe(10);
    // weights 1:1 over two targets: both get calls (a 10-call all-on-one split has p = 2/1024)
    // sipp writes its counts every 100 ms or so: wait for all 10
    let [a1, b1] = await Promise.all([panicA.stats(), panicB.stats()]);
    for (let i = 0; i < 30 && a1.incomingCalls + b1.incomingCalls < 10; i += 1) {
      await sleep(100);
      [a1, b1] = await Promise.all([panicA.stats(), panicB.stats()]);
    }
    expect(a1.incomingCalls + b1.incomingCalls).toBe(10);
    expect(Math.min(a1.incomingCalls, b1.incomingCalls)).toBeGreaterThan(0);
    const warnings = logged((l) => l.code === 'B2B_WARN_ROUTE_PANIC');
    // one per episode per instance that saw it (the calls spread over both instances or not)
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(2);
    expect(warnings[0]).toMatchObject({ route: 'panic', level: 'warn' });

    // one of two up again: half the route is usable, no panic: the down one gets nothing
    expect(Date.now()).toBeLessThan(aUntil);
    await sleep(aUntil - Date.now() + 100);
    const calm = await runUac('call', { target: sip(), domain: 'panic.test', calls: 10, rate: 20, timeoutMs: 10000 });
    expect(calm.stats.successfulCalls).toBe(10);
    await panicA.waitForStats((st) => st.incomingCalls >= a1.incomingCalls + 10);
    await sleep(300);
    const [a2, b2] = await Promise.all([panicA.stats(), panicB.stats()]);
    expect([a2.incomingCalls - a1.incomingCalls, b2.incomingCalls - b1.incomingCalls]).toEqual([10, 0]);
    expect(logged((l) => l.msg === 'route out of panic: enough targets up again').length).toBe(warnings.length);
  }, 60000);
});
