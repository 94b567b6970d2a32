/**
 * Active probing and operator drain end to end (real redis-server, sipp back-ends, drachtio emulator or
 * DRACHTIO_BIN): a back-end killed during a steady run of calls stops costing calls set-up time once it
 * is marked down, and takes calls again after upAfter probes when restarted; with two instances each
 * target is probed by one of them at a time, and the other takes over when the holder dies; a target
 * drained with the CLI gets no new INVITE from either instance, its call in progress ends normally.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type Redis from 'ioredis';
import { exitOf, REPO_ROOT, trackChild, type AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type ReceivedRequest, type SippUas } from '../harness/sipp';
import { drachtioSection, startDispatcher, targetId, writeConfig } from '../helpers/dispatcher';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REFRESH_MS = 200;
const PROBE = { intervalMs: 500, timeoutMs: 300, downAfter: 3, upAfter: 2 };
const PROVISIONAL_MS = 1000;
const timeOf = (l: Record<string, unknown>): number => (typeof l.time === 'number' ? l.time : Date.parse(String(l.time)));
const probesIn = (reqs: ReceivedRequest[], from = 0, to = Infinity) => reqs.filter((r) => r.method === 'OPTIONS' && r.at >= from && r.at < to);

describe('active probing and operator drain', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  const apps: AppProcess[] = [];
  const backends: SippUas[] = [];
  const sip = () => ({ host: drachtio.sipAddress, port: drachtio.sipPort });

  beforeAll(async () => {
    [redisServer, drachtio] = await Promise.all([startRedis(), startDrachtio()]);
    redis = redisServer.client();
  }, 30000);

  // drachtio hands each INVITE to any connected app: one test's instances must be gone before the next
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.stop('SIGKILL')));
  });

  afterAll(async () => {
    await Promise.all(backends.map((u) => u.stop(200)));
    await drachtio?.stop();
    await redisServer?.stop();
  });

  async function uas(behaviour: Parameters<typeof startUas>[0], opts: Parameters<typeof startUas>[1] = {}): Promise<SippUas> {
    const u = await startUas(behaviour, { traceMessages: true, ...opts });
    backends.push(u);
    return u;
  }

  function config(id: string, prefix: string, routes: unknown[]) {
    return {
      instanceId: id,
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: prefix },
      health: { refreshMs: REFRESH_MS, passiveFailures: 3, probe: PROBE },
      cluster: { heartbeatMs: 250, instanceTtlMs: 1000 },
      routes,
    };
  }

  async function start(id: string, prefix: string, routes: unknown[]): Promise<AppProcess> {
    const app = await startDispatcher(config(id, prefix, routes));
    apps.push(app);
    return app;
  }

  type Event = Record<string, string> & { at: number };
  async function events(prefix: string, type: string): Promise<Event[]> {
    const entries = await redis.xrange(`${prefix}events`, '-', '+');
    return entries
      .map(([id, f]) =>
        Object.assign<Record<string, string>, { at: number }>(Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : []))), {
          at: Number(id.split('-')[0]),
        }),
      )
      .filter((e) => e.type === type);
  }

  async function waitForEvent(prefix: string, type: string, pred: (e: Record<string, string>) => boolean, timeoutMs = 10000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = (await events(prefix, type)).find(pred);
      if (found) return found;
      if (Date.now() > until) throw new Error(`no ${type} event in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  it('a back-end killed during a steady run: after the down point no call waits on it; restarted, it takes calls after upAfter probes', async () => {
    const P = 'pk:';
    const [victim, healthy] = await Promise.all([uas('answer'), uas('answer')]);
    const app = await start('node-a', P, [
      {
        name: 'steady',
        provisionalTimeoutMs: PROVISIONAL_MS,
        targets: [
          { host: victim.host, port: victim.port },
          { host: healthy.host, port: healthy.port },
        ],
      },
    ]);
    // both targets are probed (one OPTIONS each per interval) before any call
    for (let i = 0; i < 50 && probesIn(victim.requestsReceived()).length < 2; i += 1) await sleep(100);
    expect(probesIn(victim.requestsReceived()).length).toBeGreaterThanOrEqual(2);
    expect(probesIn(victim.requestsReceived())[0].headers['x-probe-instance']).toBe('node-a');

    // 60 calls at 10/s; the victim is killed 2 s in
    const run = runUac('call', { target: sip(), calls: 60, rate: 10, concurrency: 20, holdMs: 200, timeoutMs: 15000 });
    await sleep(2000);
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const r = await run;
    expect(r.stats.successfulCalls).toBe(60);

    const down = await waitForEvent(P, 'target-down', (e) => e.target === targetId(victim));
    // the prober (or a real call's failure) marked it: one line, one event
    expect(await events(P, 'target-down')).toHaveLength(1);
    expect(down.until).toBe('8640000000000000');
    const downAt = down.at + REFRESH_MS; // every instance (here: one) follows it within refreshMs
    const answered = app.logs().filter((l) => l.msg === 'call answered');
    expect(answered).toHaveLength(60);
    const startOf = (l: Record<string, unknown>) => timeOf(l) - Number(l.setupMs);
    const before = answered.filter((l) => startOf(l) < killedAt);
    const window = answered.filter((l) => startOf(l) >= killedAt && startOf(l) < downAt);
    const after = answered.filter((l) => startOf(l) >= downAt);
    const ms = (ls: Array<Record<string, unknown>>) => ls.map((l) => Number(l.setupMs)).sort((a, b) => a - b);
    const summary = (ls: Array<Record<string, unknown>>) => {
      const s = ms(ls);
      return { n: s.length, median: s[Math.floor(s.length / 2)] ?? null, max: s.at(-1) ?? null };
    };
    // for the report: set-up times before the kill, between the kill and the down point, after it
    console.log(
      `probing: down by ${down.cause} ${down.at - killedAt} ms after the kill; setupMs before ${JSON.stringify(summary(before))}, ` +
        `window ${JSON.stringify(summary(window))}, after ${JSON.stringify(summary(after))}`,
    );
    expect(down.at - killedAt).toBeLessThan(PROBE.downAfter * PROBE.intervalMs + PROBE.timeoutMs + 1000);
    expect(after.length).toBeGreaterThan(20);
    for (const l of after) {
      expect(l.tried).toEqual([expect.objectContaining({ target: targetId(healthy) })]);
      expect(Number(l.setupMs)).toBeLessThan(PROVISIONAL_MS);
    }
    // alike the calls to healthy targets before the kill: no provisional timeout waited for
    expect(summary(after).max!).toBeLessThanOrEqual(Math.max(summary(before).max!, 100) * 3);

    // restarted on the same port: up again after upAfter alive probes (not after one), then takes calls
    const restartedAt = Date.now();
    const restarted = await uas('answer', { port: victim.port });
    const upEvent = await waitForEvent(P, 'target-up', (e) => e.target === targetId(victim), 10000);
    expect(upEvent).toMatchObject({ was: 'down', by: 'probe' });
    // probes sent since the restart (their Call-ID names when: retransmissions of the probes that timed
    // out while it was dead reach it too) that it had answered when the target came back
    const sentAt = (q: ReceivedRequest) => Number(/^probe-(\d+)-/.exec(q.headers['call-id'] ?? '')?.[1] ?? 0);
    const probesBeforeUp = probesIn(restarted.requestsReceived(), 0, upEvent.at + 1).filter((q) => sentAt(q) >= restartedAt);
    expect(probesBeforeUp.length).toBeGreaterThanOrEqual(PROBE.upAfter);
    expect(probesBeforeUp.length).toBeLessThanOrEqual(PROBE.upAfter + 1);
    await sleep(2 * REFRESH_MS);
    const again = await runUac('call', { target: sip(), calls: 20, rate: 20, concurrency: 10, holdMs: 100 });
    expect(again.stats.successfulCalls).toBe(20);
    const s = await restarted.waitForStats((x) => x.incomingCalls > 0, 5000);
    expect(s.incomingCalls).toBeGreaterThan(0);
    // calls answered by it again, every one set up after the up point (it also gets retransmissions of
    // the INVITEs that timed out while it was dead: sofia-sip retransmits until Timer B)
    const toVictim = app.logs().filter((l) => l.msg === 'call answered' && l.target === targetId(victim) && startOf(l) >= killedAt);
    expect(toVictim.length).toBeGreaterThan(0);
    for (const l of toVictim) expect(startOf(l)).toBeGreaterThanOrEqual(upEvent.at - 5);
  }, 90000);

  it('two instances: each target is probed by one of them at a time; when the holder dies the other takes over within a few intervals', async () => {
    const P = 'pl:';
    const [t1, t2] = await Promise.all([uas('answer'), uas('answer')]);
    const routes = [
      {
        name: 'lease',
        targets: [
          { host: t1.host, port: t1.port },
          { host: t2.host, port: t2.port },
        ],
      },
    ];
    const pair = await Promise.all([start('node-a', P, routes), start('node-b', P, routes)]);
    await sleep(1500);
    // a 4 s window: one prober sends about 8 OPTIONS to each target (two would send about 16)
    const from = Date.now();
    await sleep(4000);
    const to = Date.now();
    for (const t of [t1, t2]) {
      const probes = probesIn(t.requestsReceived(), from, to);
      const holder = await redis.get(`${P}target:${targetId(t)}:probe`);
      expect(new Set(probes.map((p) => p.headers['x-probe-instance']))).toEqual(new Set([holder]));
      expect(probes.length).toBeGreaterThanOrEqual(6);
      expect(probes.length).toBeLessThanOrEqual(9);
      // never two probes of one round: consecutive probes about an interval apart
      const gaps = probes.slice(1).map((p, i) => p.at - probes[i].at);
      expect(Math.min(...gaps)).toBeGreaterThan(PROBE.intervalMs / 2);
    }

    // kill the holder of t1's lease: the other instance probes t1 within a few intervals
    const holder = (await redis.get(`${P}target:${targetId(t1)}:probe`)) as string;
    const [dead, survivor] = holder === 'node-a' ? pair : [pair[1], pair[0]];
    const other = holder === 'node-a' ? 'node-b' : 'node-a';
    const killedAt = Date.now();
    await dead.stop('SIGKILL');
    for (let i = 0; i < 60 && probesIn(t1.requestsReceived(), killedAt).every((p) => p.headers['x-probe-instance'] !== other); i += 1) await sleep(100);
    const first = probesIn(t1.requestsReceived(), killedAt).find((p) => p.headers['x-probe-instance'] === other);
    expect(first).toBeDefined();
    const takeoverMs = first!.at - killedAt;
    console.log(`probing: lease of ${holder} taken over by ${other} ${takeoverMs} ms after the kill`);
    // the lease (2 intervals) runs out, then the survivor's next round takes it
    expect(takeoverMs).toBeLessThan(3 * PROBE.intervalMs + 1000);
    // the target was never marked down meanwhile (a gap in probes is not a failure)
    expect((await events(P, 'target-down')).length).toBe(0);
    // and then again one prober: the survivor
    const from2 = Date.now();
    await sleep(2000);
    const after = probesIn(t1.requestsReceived(), from2, Date.now());
    expect(new Set(after.map((p) => p.headers['x-probe-instance']))).toEqual(new Set([other]));
    expect(after.length).toBeLessThanOrEqual(5);
    expect(survivor.logs().some((l) => l.level === 50 || l.level === 60)).toBe(false);
  }, 60000);

  it('drain-target: no new INVITE to the target from either instance, its call in progress ends normally; undrain-target: calls again', async () => {
    const P = 'pd:';
    const [drained, other] = await Promise.all([uas('answer'), uas('answer')]);
    const routes = [
      {
        name: 'drain',
        targets: [
          { host: drained.host, port: drained.port, priority: 10 },
          { host: other.host, port: other.port, priority: 20 },
        ],
      },
    ];
    const pair = await Promise.all([start('node-a', P, routes), start('node-b', P, routes)]);
    const cfg = writeConfig(config('cli', P, routes));
    await sleep(1000);

    // a call in progress on the target to be drained (held 4 s)
    const long = runUac('call', { target: sip(), calls: 1, holdMs: 4000 });
    await drained.waitForStats((s) => s.incomingCalls >= 1, 5000);

    const d = await cli(['-c', cfg, 'drain-target', targetId(drained)]);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain('drained');
    await sleep(2 * REFRESH_MS);
    // 12 calls, spread by drachtio over both instances: none reaches the drained target
    const during = await runUac('call', { target: sip(), calls: 12, rate: 20, concurrency: 6, holdMs: 100 });
    expect(during.stats.successfulCalls).toBe(12);
    const answeredDuring = pair.map((a) => a.logs().filter((l) => l.msg === 'call answered' && l.target === targetId(other)).length);
    expect(answeredDuring[0]).toBeGreaterThan(0);
    expect(answeredDuring[1]).toBeGreaterThan(0);
    expect(drained.requestsReceived().filter((q) => q.method === 'INVITE')).toHaveLength(1);
    // probes go on, and do not undo the drain
    expect(await redis.hget(`${P}target:${targetId(drained)}:health`, 'state')).toBe('draining');
    // the call in progress ran to its end
    const l = await long;
    expect(l.exitCode).toBe(0);
    expect(l.stats.successfulCalls).toBe(1);
    expect((await drained.waitForStats((s) => s.successfulCalls >= 1, 5000)).successfulCalls).toBe(1);
    // one log line, from the instance holding the target's probe lease; one event
    for (let i = 0; i < 20 && pair.flatMap((a) => a.logs()).every((x) => x.code !== 'B2B_WARN_TARGET_DRAINED'); i += 1) await sleep(100);
    expect(pair.flatMap((a) => a.logs().filter((x) => x.code === 'B2B_WARN_TARGET_DRAINED'))).toHaveLength(1);
    expect(await events(P, 'target-draining')).toEqual([expect.objectContaining({ target: targetId(drained), cause: 'operator drain' })]);
    const st = await cli(['-c', cfg, 'status']);
    expect(st.stdout).toMatch(new RegExp(`^${targetId(drained).replace(/\./g, '\\.')} .* draining: operator drain$`, 'm'));

    const u = await cli(['-c', cfg, 'undrain-target', targetId(drained)]);
    expect(u.code).toBe(0);
    await sleep(2 * REFRESH_MS);
    const afterUndrain = await runUac('call', { target: sip(), calls: 4, rate: 20, holdMs: 100 });
    expect(afterUndrain.stats.successfulCalls).toBe(4);
    expect(drained.requestsReceived().filter((q) => q.method === 'INVITE')).toHaveLength(5);
    expect(await events(P, 'target-undrained')).toHaveLength(1);
  }, 60000);
});

/** Runs the operator CLI (bin/sip-dispatcher.js, from the sources) and resolves with its exit code and output. */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SIPD_CONFIG|REDIS_|NO_COLOR$)/.test(k)));
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'sip-dispatcher.js'), ...args], {
    cwd: REPO_ROOT,
    env: { ...env, SIPD_FROM_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  await exitOf(child);
  return { code: await closed, ...out };
}
