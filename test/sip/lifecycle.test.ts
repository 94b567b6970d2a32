/**
 * Process lifecycle: a bad config stops the start with a clear message; SIGTERM drains; a drain
 * timeout ends the calls left; a dead Redis or a lost drachtio does not take the process down.
 */
import { spawnSync } from 'node:child_process';
import { parseJsonLine, startApp, type AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { freeTcpPort } from '../harness/ports';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { drachtioSection, startDispatcher, writeConfig } from '../helpers/dispatcher';

const PREFIX = 'life:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dispatcher process lifecycle', () => {
  let redisServer: RedisServer;
  let drachtio: DrachtioServer;
  let target: SippUas;
  let ringing: SippUas;
  let deaf: SippUas;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    [redisServer, drachtio, target, ringing, deaf] = await Promise.all([
      startRedis(),
      startDrachtio(),
      startUas('answer'),
      startUas('no-answer'),
      startUas('answer-ignore-bye'),
    ]);
  }, 60000);

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop('SIGKILL')));
    await Promise.all([target?.stop(), ringing?.stop(), deaf?.stop()]);
    await drachtio?.stop();
    await redisServer?.stop();
  });

  const baseConfig = (extra: Record<string, unknown> = {}, redisUrl?: string) => ({
    drachtio: drachtioSection(drachtio),
    redis: { url: redisUrl ?? redisServer.url, keyPrefix: PREFIX, connectTimeoutMs: 300 },
    routes: [
      { name: 'ringing', match: { domains: ['ringing.test'] }, targets: [{ host: ringing.host, port: ringing.port }] },
      { name: 'deaf', match: { domains: ['deaf.test'] }, targets: [{ host: deaf.host, port: deaf.port }] },
      { name: 'all', targets: [{ host: target.host, port: target.port }] },
    ],
    ...extra,
  });

  async function start(cfg: unknown): Promise<AppProcess> {
    const app = await startDispatcher(cfg);
    apps.push(app);
    return app;
  }

  /** Call records left, and the sum of every target's `active`. */
  async function redisClean(): Promise<{ records: string[]; active: number }> {
    const redis = redisServer.client();
    const records = await redis.keys(`${PREFIX}call:*`);
    const ids = await redis.smembers(`${PREFIX}targets`);
    const active = await Promise.all(ids.map(async (id) => Number((await redis.hget(`${PREFIX}target:${id}`, 'active')) ?? 0)));
    return { records, active: active.reduce((a, b) => a + b, 0) };
  }

  it('refuses to start on a bad config, naming the field, the value and what was expected (exit 78)', () => {
    const file = writeConfig({ ...baseConfig(), routes: [{ name: 'r', targets: [{ host: '10.0.0.1', weight: -5 }] }] });
    const res = spawnSync('node_modules/.bin/tsx', ['apps/dispatcher/main.ts', '--config', file], { encoding: 'utf8', timeout: 30000 });
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('B2B_ERR_CONFIG_INVALID');
    expect(res.stderr).toContain('routes[0].targets[0].weight: found -5, expected a value >= 0');
  });

  it('on SIGTERM refuses new calls with 503, lets the active call finish, then exits 0', async () => {
    const app = await start(baseConfig({ call: { drainTimeoutMs: 4000 } }));
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const longCall = runUac('call', { target: sip, calls: 1, holdMs: 2000 });
    // wait until the call is answered and recorded
    const redis = redisServer.client();
    for (let i = 0; i < 50 && (await redis.keys(`${PREFIX}call:*`)).length === 0; i += 1) await sleep(100);
    expect(await redis.keys(`${PREFIX}call:*`)).toHaveLength(1);

    const exitCode = app.stop('SIGTERM');
    await app.waitFor((l) => l.includes('draining: new calls are refused'), 5000);
    const refused = await runUac('expect-status', { target: sip, expectStatus: 503 });
    expect(refused.exitCode).toBe(0);
    expect((await longCall).exitCode).toBe(0);
    expect(await exitCode).toBe(0);
    expect(await redisClean()).toEqual({ records: [], active: 0 });
    expect(app.logs().some((l) => l.msg === 'call rejected: instance is draining' && l.code === 'B2B_ERR_SHUTTING_DOWN')).toBe(true);
  }, 60000);

  it('ends the calls still up when the drain timeout passes, leaving nothing counted', async () => {
    const app = await start(baseConfig({ call: { drainTimeoutMs: 300 } }));
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const before = (await target.stats()).messages.BYE_Recv ?? 0;
    const longCall = runUac('call', { target: sip, calls: 1, holdMs: 8000, timeoutMs: 3000 });
    const redis = redisServer.client();
    for (let i = 0; i < 50 && (await redis.keys(`${PREFIX}call:*`)).length === 0; i += 1) await sleep(100);
    expect(await redis.keys(`${PREFIX}call:*`)).toHaveLength(1);
    expect(await app.stop('SIGTERM')).toBe(0);
    // the dispatcher sent BYE to the target (and to the caller)
    const s = await target.waitForStats((x) => (x.messages.BYE_Recv ?? 0) > before);
    expect((s.messages.BYE_Recv ?? 0) - before).toBe(1);
    expect(await redisClean()).toEqual({ records: [], active: 0 });
    expect(app.logs().some((l) => l.msg === 'call ended' && l.by === 'shutdown')).toBe(true);
    await longCall; // the caller's scenario fails (it got a BYE it did not expect); we only wait for it to end
  }, 60000);

  it('answers a call still ringing at the drain timeout with 503 and cancels its target', async () => {
    const app = await start(baseConfig({ call: { drainTimeoutMs: 300 } }));
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const before = (await ringing.stats()).messages.CANCEL_Recv ?? 0;
    const call = runUac('expect-status', { target: sip, domain: 'ringing.test', expectStatus: 503 });
    await ringing.waitForStats((x) => x.incomingCalls > 0 && x.currentCalls > 0);
    expect(await app.stop('SIGTERM')).toBe(0);
    expect((await call).exitCode).toBe(0);
    const s = await ringing.waitForStats((x) => (x.messages.CANCEL_Recv ?? 0) > before);
    expect((s.messages.CANCEL_Recv ?? 0) - before).toBe(1);
    expect(app.logs().some((l) => l.msg === 'call abandoned: instance shutting down' && l.code === 'B2B_ERR_SHUTTING_DOWN')).toBe(true);
  }, 60000);

  it('exits by shutdownTimeoutMs even when a BYE is never answered, with the call record already removed', async () => {
    const app = await start(baseConfig({ call: { drainTimeoutMs: 300, shutdownTimeoutMs: 2000 } }));
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const longCall = runUac('call', { target: sip, domain: 'deaf.test', calls: 1, holdMs: 8000, timeoutMs: 6000 });
    const redis = redisServer.client();
    for (let i = 0; i < 50 && (await redis.keys(`${PREFIX}call:*`)).length === 0; i += 1) await sleep(100);
    expect(await redis.keys(`${PREFIX}call:*`)).toHaveLength(1);
    const t0 = Date.now();
    // the target never answers our BYE (its transaction would run 32 s); the harness SIGKILLs after 6 s
    expect(await app.stop('SIGTERM', 6000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await redisClean()).toEqual({ records: [], active: 0 });
    expect((await deaf.waitForStats((x) => (x.messages.BYE_Recv ?? 0) >= 1)).messages.BYE_Recv).toBeGreaterThanOrEqual(1);
    expect(app.logs().some((l) => l.msg === 'shutdown deadline reached with BYE transactions still open; exiting anyway')).toBe(true);
    await longCall;
  }, 60000);

  it('removes the call record at the end of the call even when storing it timed out on our side but ran in Redis', async () => {
    // commandTimeoutMs 50: while Redis pauses writes, the answer script waits in Redis past our timeout
    // and runs when the pause ends, after we gave up on it
    const app = await start(baseConfig({ redis: { url: redisServer.url, keyPrefix: PREFIX, commandTimeoutMs: 50 } }));
    const redis = redisServer.client();
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    await redis.call('CLIENT', 'PAUSE', '1500', 'WRITE');
    const call = runUac('call', { target: sip, calls: 1, holdMs: 3000 });
    await app.waitFor((l) => l.includes('could not store call record in redis'), 5000);
    for (let i = 0; i < 40 && (await redis.keys(`${PREFIX}call:*`)).length === 0; i += 1) await sleep(100);
    expect(await redis.keys(`${PREFIX}call:*`)).toHaveLength(1); // the script ran after all
    expect((await call).exitCode).toBe(0);
    await app.waitFor(() => app.logs().some((l) => l.msg === 'call ended'), 5000);
    for (let i = 0; i < 20 && (await redis.keys(`${PREFIX}call:*`)).length > 0; i += 1) await sleep(100);
    expect(await redisClean()).toEqual({ records: [], active: 0 });
    expect(await app.stop('SIGTERM')).toBe(0);
  }, 60000);

  it('keeps taking calls while Redis is unreachable, and says so', async () => {
    const deadPort = await freeTcpPort();
    const app = await start(baseConfig({}, `redis://127.0.0.1:${deadPort}`));
    const r = await runUac('call', { target: { host: drachtio.sipAddress, port: drachtio.sipPort }, calls: 2, rate: 2 });
    expect(r.exitCode).toBe(0);
    // the dispatcher logs "call ended" once the other leg's BYE is answered, just after the caller's scenario ends
    for (let i = 0; i < 30 && app.logs().filter((l) => l.msg === 'call ended').length < 2; i += 1) await sleep(100);
    const msgs = app.logs().map((l) => l.msg);
    expect(msgs).toContain('redis not reachable at start; taking calls without shared state, retrying in background');
    expect(msgs.filter((m) => m === 'redis unavailable; calls continue without shared state until it returns')).toHaveLength(1);
    expect(msgs.filter((m) => m === 'call ended')).toHaveLength(2);
    expect(await app.stop('SIGTERM')).toBe(0);
  }, 60000);

  it('stays up when drachtio goes away, logging the loss once', async () => {
    const own = await startDrachtio();
    const app = await start({ ...baseConfig(), drachtio: { ...drachtioSection(own), reconnectMaxDelayMs: 200 } });
    await own.stop();
    await app.waitFor((l) => l.includes('lost connection to drachtio'), 5000);
    await sleep(1500); // several reconnection attempts
    const exited = await Promise.race([app.exited.then(() => true), sleep(10).then(() => false)]);
    expect(exited).toBe(false);
    expect(app.logs().filter((l) => l.msg === 'lost connection to drachtio; reconnecting')).toHaveLength(1);
    expect(app.logs().filter((l) => l.msg === 'drachtio unreachable; retrying').length).toBeLessThanOrEqual(1);
    expect(await app.stop('SIGTERM')).toBe(0);
  }, 60000);

  it('waits for an unreachable drachtio without exiting, and still shuts down cleanly on SIGTERM', async () => {
    const deadPort = await freeTcpPort();
    const app = await startApp({
      entry: 'apps/dispatcher/main.ts',
      args: ['--config', writeConfig({ ...baseConfig(), drachtio: { servers: [{ host: '127.0.0.1', port: deadPort }], reconnectMaxDelayMs: 200 } })],
      readyLine: (l) => parseJsonLine(l)?.msg === 'drachtio unreachable; retrying',
    });
    apps.push(app);
    await sleep(1000);
    expect(app.logs().filter((l) => l.msg === 'drachtio unreachable; retrying')).toHaveLength(1);
    expect(await app.stop('SIGTERM')).toBe(0);
  }, 30000);
});
