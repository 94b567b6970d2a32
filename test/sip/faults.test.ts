/**
 * A back-end killed (SIGKILL) while it holds answered calls: the callers' BYEs are still answered at
 * once, the calls' records and `active` counts go at once (the BYE towards the dead back-end runs on in
 * drachtio-server without holding anything up), and new calls go to the other back-end.
 */
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { expectNothingCounted } from '../helpers/counted';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';

const PREFIX = 'flt:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a back-end killed mid-call', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let victim: SippUas;
  let survivor: SippUas;
  let app: AppProcess;

  beforeAll(async () => {
    [redisServer, drachtio, victim, survivor] = await Promise.all([startRedis(), startDrachtio(), startUas('answer'), startUas('answer')]);
    redis = redisServer.client();
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      routes: [
        { name: 'victim', match: { domains: ['victim.test'] }, targets: [{ host: victim.host, port: victim.port }] },
        {
          name: 'pool',
          targets: [
            { host: victim.host, port: victim.port, priority: 10 },
            { host: survivor.host, port: survivor.port, priority: 20 },
          ],
        },
      ],
    });
  }, 60000);

  afterAll(async () => {
    await app?.stop('SIGTERM');
    await Promise.all([victim?.stop(), survivor?.stop()]);
    await drachtio?.stop();
    await redisServer?.stop();
  });

  it("answers the callers' BYEs, drops the records at once, and sends new calls to the other back-end", async () => {
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    // 5 calls held 3 s on the back-end about to die
    const held = runUac('call', { target: sip, domain: 'victim.test', calls: 5, rate: 20, concurrency: 5, holdMs: 3000, timeoutMs: 5000 });
    for (let i = 0; i < 50 && (await redis.keys(`${PREFIX}call:*`)).length < 5; i += 1) await sleep(100);
    expect(await redis.keys(`${PREFIX}call:*`)).toHaveLength(5);
    process.kill(victim.pid, 'SIGKILL');

    // the callers hang up into a dead leg: each BYE still gets its 200 (sipp fails a call whose BYE is not answered)
    const r = await held;
    expect({ exitCode: r.exitCode, successful: r.stats.successfulCalls }).toEqual({ exitCode: 0, successful: 5 });
    // nothing waits for the dead back-end's BYE transactions (Timer F, 32 s): records and active go now
    await expectNothingCounted(redis, PREFIX, 3000);
    // each call's end line reaches the test through the app's stdout, possibly after its record is gone: wait for them
    const endedByCaller = () => app.logs().filter((l) => l.msg === 'call ended' && l.by === 'caller');
    for (let i = 0; i < 30 && endedByCaller().length < 5; i += 1) await sleep(100);
    const ended = endedByCaller();
    expect(ended).toHaveLength(5);

    // new calls fail over to the survivor (the dead back-end times out, or its ICMP error fails it at once)
    const after = await runUac('call', { target: sip, domain: 'pool.test', calls: 3, rate: 5, timeoutMs: 10000 });
    expect(after.stats.successfulCalls).toBe(3);
    expect((await survivor.waitForStats((s) => s.incomingCalls >= 3)).incomingCalls).toBe(3);
    expect(app.logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  }, 90000);
});
