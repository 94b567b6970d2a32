/**
 * Redis goes away for 10 s in the middle of a run of calls and comes back empty (a restart without
 * persistence): no dispatcher crash, every call completes, one log line when Redis goes and one when
 * it is back (none per call), and once it is back the calls still up are written back and `active`
 * rebuilt, so the counters are exact again; at the end nothing is left counted.
 */
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';

const PREFIX = 'outage:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a Redis outage costs nothing', () => {
  let redisServer: RedisServer;
  let drachtio: DrachtioServer;
  let target: SippUas;
  let app: AppProcess;

  beforeAll(async () => {
    [redisServer, drachtio, target] = await Promise.all([startRedis(), startDrachtio(), startUas('answer')]);
    app = await startDispatcher(
      {
        instanceId: 'outage-1',
        drachtio: drachtioSection(drachtio),
        redis: { url: redisServer.url, keyPrefix: PREFIX, commandTimeoutMs: 300 },
        cluster: { heartbeatMs: 200, instanceTtlMs: 1000, watchIntervalMs: 500 },
        routes: [{ name: 'all', targets: [{ host: target.host, port: target.port }] }],
      },
      { LOG_LEVEL: 'info' },
    );
  }, 60000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await target?.stop();
    await drachtio?.stop();
    await redisServer?.stop();
  });

  it('keeps every call going through a 10 s outage and a restart, then writes back the live calls and rebuilds active', async () => {
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const targetKey = `${PREFIX}target:udp:${target.host}:${target.port}`;
    let redis = redisServer.client();
    // 8 long calls up before the outage
    const long = runUac('call', { target: sip, calls: 8, rate: 20, concurrency: 8, holdMs: 16000, timeoutMs: 25000 });
    for (let i = 0; i < 50 && (await redis.keys(`${PREFIX}call:*`)).length < 8; i += 1) await sleep(100);
    expect(await redis.keys(`${PREFIX}call:*`)).toHaveLength(8);
    const port = redisServer.port;
    await redisServer.stop();
    const downAt = Date.now();

    // 6 short calls set up and ended while Redis is away
    const during = await runUac('call', { target: sip, calls: 6, rate: 3, concurrency: 6, holdMs: 500, timeoutMs: 10000 });
    expect(during.stats.successfulCalls).toBe(6);
    await sleep(Math.max(0, 10000 - (Date.now() - downAt)));

    redisServer = await startRedis({ port });
    redis = redisServer.client();
    await app.waitFor((l) => l.includes('redis is back: call records written back and active counters rebuilt'), 10000);
    // the long calls are still up: their records are back and active counts exactly them
    expect(await redis.keys(`${PREFIX}call:*`)).toHaveLength(8);
    expect(await redis.hget(targetKey, 'active')).toBe('8');

    const r = await long;
    expect(r.stats.successfulCalls).toBe(8);
    for (let i = 0; i < 50 && (await redis.keys(`${PREFIX}call:*`)).length > 0; i += 1) await sleep(100);
    expect(await redis.keys(`${PREFIX}call:*`)).toEqual([]);
    expect(await redis.hget(targetKey, 'active')).toBe('0');

    const msgs = app.logs().map((l) => String(l.msg));
    expect(msgs.filter((m) => m.startsWith('redis unavailable'))).toHaveLength(1);
    expect(msgs.filter((m) => m.startsWith('redis is back'))).toHaveLength(1);
    // no warning per call while Redis was away
    expect(app.logs().filter((l) => l.level === 'warn' && typeof l.callId === 'string')).toEqual([]);
    expect(app.logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    const exited = await Promise.race([app.exited.then(() => true), sleep(10).then(() => false)]);
    expect(exited).toBe(false);
  }, 90000);
});
