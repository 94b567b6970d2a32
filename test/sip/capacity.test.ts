/**
 * Capacity per target end to end: two dispatcher instances on one drachtio-server and one Redis, sipp
 * back-ends. maxCalls holds under concurrent calls from both instances (counted at the back-ends),
 * the overflow goes to the next targets and, with every target full, callers get 503 with Retry-After
 * at once; maxCps holds across instances (INVITEs per second timed at the back-end); least-loaded
 * favours the target with room in the stated proportion. After each test nothing is left counted.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { binomialBand, binomialBetween } from '../helpers/binomial';
import { expectNothingCounted } from '../helpers/counted';
import { drachtioSection, startDispatcher, targetId } from '../helpers/dispatcher';
import { newIds, RawSipClient, SDP } from '../helpers/raw-sip';

const PREFIX = 'cp:';
const REFRESH_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const traceDir = mkdtempSync(join(tmpdir(), 'sipd-capacity-'));

/** When each distinct call's first INVITE reached a sipp back-end (epoch ms), from its -trace_msg file. */
function inviteTimes(file: string): number[] {
  const firstByCallId = new Map<string, number>();
  for (const block of readFileSync(file, 'utf8').split(/^-{47} /m)) {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.(\d{6})\n[A-Z]+ message received[^\n]*\n\nINVITE /.exec(block);
    if (!m) continue;
    const callId = /^Call-ID:\s*(\S+)/im.exec(block)?.[1] ?? '';
    const at = new Date(`${m[1]}T${m[2]}`).getTime() + Number(m[3]) / 1000;
    if (!firstByCallId.has(callId)) firstByCallId.set(callId, at);
  }
  return [...firstByCallId.values()].sort((a, b) => a - b);
}

/** The most INVITEs in any window of `ms`. */
function maxInWindow(times: number[], ms: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i += 1) {
    while (times[i] - times[j] >= ms) j += 1;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('capacity per target across two instances', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let full1: SippUas;
  let full2: SippUas;
  let full3: SippUas;
  let cps: SippUas;
  let spill: SippUas;
  let busy: SippUas;
  let idle: SippUas;
  let rejecting: SippUas;
  let ringing: SippUas;
  let fallback: SippUas;
  let limitedLocal: SippUas;
  let fallbackLocal: SippUas;
  let parallelFast: SippUas;
  let parallelSlow: SippUas;
  let apps: AppProcess[] = [];
  const cpsTrace = join(traceDir, 'cps-messages.log');
  const sip = () => ({ host: drachtio.sipAddress, port: drachtio.sipPort });

  beforeAll(async () => {
    [
      redisServer,
      drachtio,
      full1,
      full2,
      full3,
      cps,
      spill,
      busy,
      idle,
      rejecting,
      ringing,
      fallback,
      limitedLocal,
      fallbackLocal,
      parallelFast,
      parallelSlow,
    ] = await Promise.all([
      startRedis(),
      startDrachtio(),
      startUas('answer'),
      startUas('answer'),
      startUas('answer'),
      startUas('answer', { extraArgs: ['-trace_msg', '-message_file', cpsTrace] }),
      startUas('answer'),
      startUas('answer'),
      startUas('answer'),
      startUas('unavailable-503'),
      startUas('no-answer'),
      startUas('answer'),
      startUas('answer'),
      startUas('answer'),
      startUas('answer'),
      startUas('ringing-then-answer', { delayMs: 1000 }),
    ]);
    redis = redisServer.client();
    const config = (id: string) => ({
      instanceId: id,
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      health: { refreshMs: REFRESH_MS, passiveFailures: 0 },
      call: { ringTimeoutS: 20 },
      routes: [
        {
          name: 'max-calls',
          match: { domains: ['max-calls.test'] },
          maxAttempts: 10,
          targets: [
            { host: full1.host, port: full1.port, priority: 10, maxCalls: 10 },
            { host: full2.host, port: full2.port, priority: 20, maxCalls: 10 },
            { host: full3.host, port: full3.port, priority: 20, maxCalls: 10 },
          ],
        },
        {
          name: 'max-cps',
          match: { domains: ['max-cps.test'] },
          targets: [
            { host: cps.host, port: cps.port, priority: 10, maxCps: 5 },
            { host: spill.host, port: spill.port, priority: 20 },
          ],
        },
        // a target with room for one call that refuses every call: its room must come back after each
        {
          name: 'give-back',
          match: { domains: ['give-back.test'] },
          targets: [
            { host: rejecting.host, port: rejecting.port, priority: 10, maxCalls: 1 },
            { host: fallback.host, port: fallback.port, priority: 20 },
          ],
        },
        {
          name: 'redis-down',
          match: { domains: ['redis-down.test'] },
          targets: [
            { host: limitedLocal.host, port: limitedLocal.port, priority: 10, maxCalls: 4 },
            { host: fallbackLocal.host, port: fallbackLocal.port, priority: 20 },
          ],
        },
        {
          name: 'parallel',
          match: { domains: ['parallel.test'] },
          strategy: 'parallel',
          parallelCount: 2,
          targets: [
            { host: parallelFast.host, port: parallelFast.port, maxCalls: 1 },
            { host: parallelSlow.host, port: parallelSlow.port, maxCalls: 1 },
          ],
        },
        { name: 'cancel', match: { domains: ['cancel.test'] }, targets: [{ host: ringing.host, port: ringing.port, maxCalls: 1 }] },
        // the same target as in least-loaded, alone: a way to load it with long calls
        { name: 'fill', match: { domains: ['fill.test'] }, targets: [{ host: busy.host, port: busy.port, maxCalls: 20 }] },
        {
          name: 'least-loaded',
          match: { domains: ['least-loaded.test'] },
          strategy: 'least-loaded',
          targets: [
            { host: busy.host, port: busy.port, maxCalls: 20 },
            { host: idle.host, port: idle.port, maxCalls: 20 },
          ],
        },
      ],
    });
    apps = await Promise.all([startDispatcher(config('node-a')), startDispatcher(config('node-b'))]);
  }, 60000);

  afterEach(async () => {
    await expectNothingCounted(redis, PREFIX, 10000);
    // no reservation left behind either: each was released or turned into `active`
    expect(await redis.keys(`${PREFIX}target:*:reserved`)).toEqual([]);
  }, 15000);

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop('SIGKILL')));
    await Promise.all(
      [full1, full2, full3, cps, spill, busy, idle, rejecting, ringing, fallback, limitedLocal, fallbackLocal, parallelFast, parallelSlow].map((u) =>
        u?.stop(),
      ),
    );
    await drachtio?.stop();
    await redisServer?.stop();
  });

  const logged = (pred: (l: Record<string, unknown>) => boolean) => apps.flatMap((a) => a.logs().filter(pred));
  async function events(type: string): Promise<Array<Record<string, string>>> {
    const entries = await redis.xrange(`${PREFIX}events`, '-', '+');
    return entries
      .map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : []))) as Record<string, string>)
      .filter((e) => e.type === type);
  }
  const active = async (u: SippUas) => Number((await redis.hget(`${PREFIX}target:${targetId(u)}`, 'active')) ?? 0);

  it('maxCalls 10 under 40 concurrent calls from two instances: each target holds 10, the rest get 503 with Retry-After at once', async () => {
    const backends = [full1, full2, full3];
    // 40 callers at once, each holding its call 8 s: 30 fit (10 per target), 10 find every target full
    const run = runUac('call', { target: sip(), domain: 'max-calls.test', calls: 40, rate: 400, concurrency: 40, holdMs: 8000, timeoutMs: 15000 });
    const until = Date.now() + 6000;
    while ((await Promise.all(backends.map(active))).reduce((a, b) => a + b, 0) < 30 && Date.now() < until) await sleep(100);
    // sipp's own count of the INVITEs each back-end got, while every answered call is still held
    await sleep(1200);
    const received = await Promise.all(backends.map(async (u) => (await u.stats()).incomingCalls));
    expect(received).toEqual([10, 10, 10]);
    expect(await Promise.all(backends.map(active))).toEqual([10, 10, 10]);
    expect(await redis.keys(`${PREFIX}target:*:reserved`)).toEqual([]);
    // both instances took calls, and refused some
    const answered = apps.map((a) => a.logs().filter((l) => l.msg === 'call answered' && l.route === 'max-calls').length);
    expect(answered[0] + answered[1]).toBe(30);
    expect(Math.min(...answered)).toBeGreaterThan(0);
    const refused = logged((l) => l.code === 'B2B_ERR_ALL_TARGETS_FULL');
    expect(refused).toHaveLength(10);
    // each target went full once for the cluster: one event and one log line each
    expect((await events('target-full')).map((e) => e.target).sort()).toEqual(backends.map(targetId).sort());
    expect(
      logged((l) => l.code === 'B2B_WARN_TARGET_FULL')
        .map((l) => l.target as string)
        .sort(),
    ).toEqual(backends.map(targetId).sort());

    // every target full: 503 with Retry-After at once, no INVITE sent anywhere
    const client = await new RawSipClient(sip()).open();
    try {
      for (let i = 0; i < 4; i += 1) {
        const ids = newIds();
        const t0 = Date.now();
        const res = await client.invite(ids, 'sip:1000@max-calls.test', { body: SDP });
        const ms = Date.now() - t0;
        client.ackFailure(ids, 'sip:1000@max-calls.test', res);
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']?.[0]).toBe('1');
        expect(ms).toBeLessThan(250);
        process.stdout.write(`max-calls: all full, 503 in ${String(ms)} ms\n`);
      }
    } finally {
      await client.close();
    }
    await sleep(1200);
    expect(await Promise.all(backends.map(async (u) => (await u.stats()).incomingCalls))).toEqual([10, 10, 10]);

    const r = await run;
    expect(r.stats.successfulCalls).toBe(30);
    expect(r.stats.failedCalls).toBe(10);
    // room again once the calls ended: one target-free event per target
    await expectNothingCounted(redis, PREFIX, 5000);
    for (let i = 0; i < 30 && (await events('target-free')).length < 3; i += 1) await sleep(100);
    expect((await events('target-free')).map((e) => e.target).sort()).toEqual(backends.map(targetId).sort());
  }, 60000);

  it('a failed or cancelled attempt gives its room back: a maxCalls 1 target gets every call in turn', async () => {
    // each call: 503 from the first target (failover), answered by the next; the first must have room again for the next call
    const r = await runUac('call', { target: sip(), domain: 'give-back.test', calls: 5, rate: 5, concurrency: 1, holdMs: 50 });
    if (r.stats.successfulCalls !== 5)
      console.log(
        r.output,
        JSON.stringify(
          apps.map((a) => a.logs().slice(-20)),
          null,
          1,
        ),
      );
    expect(r.stats.successfulCalls).toBe(5);
    expect((await rejecting.waitForStats((s) => s.incomingCalls >= 5)).incomingCalls).toBe(5);
    // each caller cancels while the target rings
    const c = await runUac('cancel-after-ringing', { target: sip(), domain: 'cancel.test', calls: 3, rate: 2, concurrency: 1, holdMs: 200 });
    if (c.exitCode !== 0) console.log(c.output);
    // a room not given back would make the second caller's INVITE get 503 (the only target full), not 487
    expect(c.exitCode).toBe(0);
    expect((await ringing.waitForStats((s) => s.incomingCalls >= 3 && (s.messages.CANCEL_Recv ?? 0) >= 3)).incomingCalls).toBe(3);
  }, 60000);

  it('parallel: the leg cancelled because the other answered gives its room back', async () => {
    // both targets rung for each call; the fast one answers, the slow one is cancelled while ringing
    const r = await runUac('call', { target: sip(), domain: 'parallel.test', calls: 5, rate: 2, concurrency: 1, holdMs: 50 });
    expect(r.stats.successfulCalls).toBe(5);
    expect((await parallelFast.waitForStats((s) => s.incomingCalls >= 5)).incomingCalls).toBe(5);
    expect((await parallelSlow.waitForStats((s) => s.incomingCalls >= 5)).incomingCalls).toBe(5);
  }, 60000);

  it('maxCps 5 across two instances: no more than 5 INVITEs reach the target in any second, the rest go to the next target', async () => {
    const t0 = Date.now();
    // 60 calls at 20 per second over both instances, each held 100 ms
    const r = await runUac('call', { target: sip(), domain: 'max-cps.test', calls: 60, rate: 20, concurrency: 20, holdMs: 100, timeoutMs: 10000 });
    const seconds = (Date.now() - t0) / 1000;
    expect(r.stats.successfulCalls).toBe(60);
    await sleep(1200);
    const times = inviteTimes(cpsTrace);
    const spilled = (await spill.stats()).incomingCalls;
    expect(times.length + spilled).toBe(60);
    // the script's window is Redis's second; the back-end sees each INVITE a few ms later, with jitter (more on a
    // loaded machine): allow 100 ms of it. Without the cluster-wide count it is 10 (5 per instance), without a limit 20
    process.stdout.write(
      `max-cps: ${String(times.length)} INVITEs to the limited target in ${seconds.toFixed(1)} s, at most ${String(maxInWindow(times, 900))} in any 900 ms, ${String(maxInWindow(times, 1000))} in any 1000 ms\n`,
    );
    expect(maxInWindow(times, 900)).toBeLessThanOrEqual(5);
    // and the limited target was used up to its rate, not avoided (3 s of calls: at least 2 full seconds of 5)
    expect(times.length).toBeGreaterThanOrEqual(10);
    expect(times.length).toBeLessThanOrEqual(5 * Math.ceil(seconds + 1));
    const answered = apps.map((a) => a.logs().filter((l) => l.msg === 'call answered' && l.route === 'max-cps').length);
    expect(Math.min(...answered)).toBeGreaterThan(0);
  }, 60000);

  it('least-loaded: with 18 of 20 calls held on one target, new calls go to it in proportion 0.1 : 1 (weight × free capacity)', async () => {
    const fill = runUac('call', { target: sip(), domain: 'fill.test', calls: 18, rate: 50, concurrency: 18, holdMs: 16000, timeoutMs: 25000 });
    for (let i = 0; i < 60 && (await active(busy)) < 18; i += 1) await sleep(100);
    expect(await active(busy)).toBe(18);
    await sleep(3 * REFRESH_MS); // both instances' load views have it
    const before = [(await busy.stats()).incomingCalls, (await idle.stats()).incomingCalls];
    const n = 100;
    const r = await runUac('call', { target: sip(), domain: 'least-loaded.test', calls: n, rate: 12, concurrency: 1, holdMs: 30, timeoutMs: 10000 });
    expect(r.stats.successfulCalls).toBe(n);
    await sleep(1200);
    // every call reached a back-end (a failover on a slow machine may add an INVITE)
    expect((await busy.stats()).incomingCalls - before[0] + (await idle.stats()).incomingCalls - before[1]).toBeGreaterThanOrEqual(n);
    // the choice of each call: the first target it tried
    const firsts = logged((l) => l.msg === 'call answered' && l.route === 'least-loaded').map((l) => (l.tried as Array<{ target: string }>)[0].target);
    expect(firsts).toHaveLength(n);
    const toBusy = firsts.filter((t) => t === targetId(busy)).length;
    // busy: 20 − 18 = 2 free of 20 → 0.1; idle: 1 (0.95 while a call of ours is in its view). With one of
    // our own calls at busy in the view too, busy's share is 0.05/1.05 at least and 0.1/1.05 at most.
    const lowP = 0.05 / 1.05;
    const highP = 0.1 / 0.95;
    const alpha = 1e-4; // a correct implementation fails this band at most once in 10,000 runs
    const lo = binomialBand(n, lowP, alpha).lo;
    const hi = binomialBand(n, highP, alpha).hi;
    process.stdout.write(`least-loaded: ${String(toBusy)} of ${String(n)} new calls to the loaded target (band ${String(lo)}..${String(hi)})\n`);
    expect(toBusy).toBeGreaterThanOrEqual(lo);
    expect(toBusy).toBeLessThanOrEqual(hi);
    // a load-blind split (1:1) passes this band with negligible probability
    expect(binomialBetween(n, lo, hi, 0.5)).toBeLessThan(1e-6);
    const f = await fill;
    expect(f.stats.successfulCalls).toBe(18);
  }, 60000);

  // last: it stops Redis (and starts an empty one on the same port for the counters check)
  it('Redis down: calls go on, each instance keeps maxCalls by its own count (fail open), one warning per instance', async () => {
    const port = redisServer.port;
    await redisServer.stop();
    await sleep(300);
    const t0 = Date.now();
    const r = await runUac('call', { target: sip(), domain: 'redis-down.test', calls: 12, rate: 100, concurrency: 12, holdMs: 3000, timeoutMs: 10000 });
    expect(r.stats.successfulCalls).toBe(12);
    expect(Date.now() - t0).toBeLessThan(3000 + 3000);
    await sleep(1200);
    const limited = (await limitedLocal.stats()).incomingCalls;
    const spilled = (await fallbackLocal.stats()).incomingCalls;
    expect(limited + spilled).toBe(12);
    // each instance alone keeps within maxCalls 4: at most 2 × 4 at the target, and it was used
    expect(limited).toBeGreaterThanOrEqual(4);
    expect(limited).toBeLessThanOrEqual(8);
    for (const a of apps) expect(a.logs().filter((l) => l.code === 'B2B_WARN_CAPACITY_LOCAL')).toHaveLength(1);
    redisServer = await startRedis({ port });
    redis = redisServer.client();
    // both instances count in Redis again
    for (const a of apps) await a.waitFor((l) => l.includes('counted for the whole cluster again') || l.includes('redis is back'), 10000);
  }, 60000);
});
