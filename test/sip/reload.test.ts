/**
 * Live reload end to end: SIGHUP and `sip-dispatcher reload` make a running dispatcher re-read its
 * config file. A bad file is refused (logged, a `config-refused` event, the CLI reports the errors)
 * and the running config keeps serving; a target added by a reload takes calls at once; a target
 * removed while a call is up keeps that call until its BYE, and the counters end exact.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { exitOf, REPO_ROOT, startApp, trackChild, type AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { expectNothingCounted } from '../helpers/counted';
import { drachtioSection, writeConfig } from '../helpers/dispatcher';

const PREFIX = 'rl:';
const BIN = join(REPO_ROOT, 'bin', 'sip-dispatcher.js');
const id = (u: SippUas) => `udp:${u.host}:${String(u.port)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the operator CLI; resolves with its exit code and output. */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SIPD_CONFIG|REDIS_|NO_COLOR$)/.test(k)));
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...env, SIPD_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  const code = await exitOf(child);
  await closed;
  return { code, stdout, stderr };
}

describe('live reload', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let oldT: SippUas;
  let newT: SippUas;
  let app: AppProcess;
  let file: string;
  const sip = () => ({ host: drachtio.sipAddress, port: drachtio.sipPort });
  const config = (targets: SippUas[], extra: Record<string, unknown> = {}) => ({
    instanceId: 'rl-node',
    drachtio: drachtioSection(drachtio),
    redis: { url: redisServer.url, keyPrefix: PREFIX },
    // as writeConfig writes it: the log unbuffered, in every version of the file
    log: { bufferBytes: 0 },
    ...extra,
    routes: [{ name: 'pool', match: { domains: ['pool.test'] }, targets: targets.map((t, i) => ({ host: t.host, port: t.port, priority: 10 * (i + 1) })) }],
  });
  const write = (cfg: unknown) => writeFileSync(file, typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
  const nodePid = () => Number(app.logs().find((l) => typeof l.pid === 'number')?.pid);
  const since = (n: number) => app.logs().slice(n);
  const logCount = () => app.logs().length;
  async function oneCall(): Promise<string> {
    const n = logCount();
    const r = await runUac('call', { target: sip(), domain: 'pool.test', calls: 1, holdMs: 100 });
    expect(r.exitCode).toBe(0);
    for (let i = 0; i < 50; i += 1) {
      const answered = since(n).find((l) => l.msg === 'call answered');
      if (answered) return String(answered.target);
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('no call answered line');
  }

  beforeAll(async () => {
    [redisServer, drachtio, oldT, newT] = await Promise.all([startRedis(), startDrachtio(), startUas('answer'), startUas('answer')]);
    redis = redisServer.client();
    file = writeConfig(config([oldT]));
    app = await startApp({ entry: 'apps/dispatcher/main.ts', args: ['--config', file] });
  }, 60000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await Promise.all([oldT, newT].map((u) => u?.stop()));
    await drachtio?.stop();
    await redisServer?.stop();
  });

  it('SIGHUP with an invalid file: refused with its errors (log and event), the old config keeps serving', async () => {
    const n = logCount();
    const bad = config([oldT, newT]);
    (bad.routes[0].targets[1] as Record<string, unknown>).weight = 'heavy';
    write(bad);
    process.kill(nodePid(), 'SIGHUP');
    await app.waitFor((l) => l.includes('B2B_ERR_CONFIG_RELOAD_REFUSED'), 5000);
    const refused = since(n).find((l) => l.code === 'B2B_ERR_CONFIG_RELOAD_REFUSED');
    expect(refused).toMatchObject({ source: 'SIGHUP', reason: 'B2B_ERR_CONFIG_INVALID' });
    expect(JSON.stringify(refused?.issues)).toContain('routes[0].targets[1].weight');
    // the event is written just after the log line
    let refusedEvents: string[] = [];
    for (let i = 0; i < 40 && refusedEvents.length === 0; i += 1) {
      if (i > 0) await new Promise((res) => setTimeout(res, 50));
      refusedEvents = (await redis.xrange(`${PREFIX}events`, '-', '+')).map(([, f]) => f.join(' ')).filter((e) => e.includes('config-refused'));
    }
    expect(refusedEvents).toEqual([expect.stringContaining('routes[0].targets[1].weight')]);
    expect(await oneCall()).toBe(id(oldT));
    expect(since(n).filter((l) => l.msg === 'config reloaded')).toEqual([]);
  }, 30000);

  it('sip-dispatcher reload with an invalid file: exit 3, the errors reported, the old config keeps serving', async () => {
    // the CLI reads the same file: it warns that the file is invalid, and still asks the instances
    const bad = config([newT]);
    (bad.routes[0].targets[0] as Record<string, unknown>).srv = '_sip._udp.pool.test';
    write(bad);
    const r = await cli(['reload', '--config', file, '--wait', '5']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('routes[0].targets[0]');
    expect(r.stdout).toContain('rl-node: refused, the running config keeps serving: B2B_ERR_CONFIG_INVALID');
    expect(r.stdout).toContain('routes[0].targets[0]');
    expect(await oneCall()).toBe(id(oldT));
  }, 30000);

  it('a target added by reload takes calls at once, call settings apply at once; sections that need a restart are reported as ignored', async () => {
    const unrouted = () => runUac('expect-status', { target: sip(), domain: 'elsewhere.test', calls: 1, expectStatus: 480 });
    expect((await unrouted()).exitCode).not.toBe(0); // 404 (call.noRouteStatus) before the reload
    write(config([newT, oldT], { cluster: { heartbeatMs: 500, instanceTtlMs: 5000 }, call: { noRouteStatus: 480 } }));
    const r = await cli(['reload', '--config', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('rl-node: reloaded (applied: routes, call; ignored until restart: cluster)\n');
    expect(await oneCall()).toBe(id(newT));
    expect(await oneCall()).toBe(id(newT));
    expect((await unrouted()).exitCode).toBe(0);
  }, 30000);

  it('a target removed while a call is up keeps that call to its BYE; new calls go elsewhere; counters end at 0', async () => {
    const n = logCount();
    const long = runUac('call', { target: sip(), domain: 'pool.test', calls: 1, holdMs: 4000, callIdPrefix: 'rl-long' });
    await app.waitFor((l) => l.includes('"call answered"') && l.includes('rl-long'), 5000);
    expect(since(n).find((l) => l.msg === 'call answered')?.target).toBe(id(newT));
    write(config([oldT], { call: { noRouteStatus: 480 } }));
    process.kill(nodePid(), 'SIGHUP');
    await app.waitFor(() => since(n).some((x) => x.msg === 'config reloaded'), 5000);
    // the record reaches Redis up to redis.batchMs after the answer (lib/store/write-batch.ts)
    let active = 0;
    for (let i = 0; i < 20 && active !== 1; i += 1) {
      active = Number(await redis.hget(`${PREFIX}target:${id(newT)}`, 'active'));
      if (active !== 1) await sleep(25);
    }
    expect(active).toBe(1);
    expect(await oneCall()).toBe(id(oldT));
    const r = await long;
    expect(r.exitCode).toBe(0);
    await app.waitFor((l) => l.includes('"call ended"') && l.includes('rl-long'), 5000);
    const ended = since(n).find((l) => l.msg === 'call ended' && String(l.callId).startsWith('rl-long'));
    expect(ended).toMatchObject({ target: id(newT), by: 'caller' });
    expect(Number(ended?.durationMs)).toBeGreaterThan(3500);
    await expectNothingCounted(redis, PREFIX);
  }, 30000);
});
