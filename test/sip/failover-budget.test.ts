/**
 * The failover budget end to end: with `call.failoverBudget` allowing 5 failovers per 10 s, a route
 * whose first target answers every INVITE with 503 fails over the first 5 calls to its backup and
 * answers the rest with the 503 at once, with one warning for the episode and nothing left counted.
 */
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { expectNothingCounted } from '../helpers/counted';
import { drachtioSection, startDispatcher, targetId } from '../helpers/dispatcher';

const PREFIX = 'fob:';

describe('failover budget', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let failing: SippUas;
  let backup: SippUas;
  let app: AppProcess;

  beforeAll(async () => {
    [redisServer, drachtio, failing, backup] = await Promise.all([startRedis(), startDrachtio(), startUas('unavailable-503'), startUas('answer')]);
    redis = redisServer.client();
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      // passive health off: the failing target stays in selection, so every call tries it first
      health: { passiveFailures: 0 },
      call: { failoverBudget: { percent: 0, minPerS: 0.5 } },
      routes: [
        {
          name: 'budget',
          targets: [
            { host: failing.host, port: failing.port, priority: 10 },
            { host: backup.host, port: backup.port, priority: 20 },
          ],
        },
      ],
    });
  }, 60000);

  afterAll(async () => {
    await app?.stop('SIGTERM');
    await Promise.all([failing?.stop(), backup?.stop()]);
    await drachtio?.stop();
    await redisServer?.stop();
  });

  it('fails over within the budget only; past it, the caller gets the failure at once', async () => {
    const r = await runUac('call', { target: { host: drachtio.sipAddress, port: drachtio.sipPort }, calls: 12, rate: 10, timeoutMs: 10000 });
    expect({ ok: r.stats.successfulCalls, failed: r.stats.failedCalls }).toEqual({ ok: 5, failed: 7 });
    expect((await failing.waitForStats((s) => s.incomingCalls >= 12)).incomingCalls).toBe(12);
    expect((await backup.waitForStats((s) => s.incomingCalls >= 5)).incomingCalls).toBe(5);
    await new Promise((r) => setTimeout(r, 500));
    expect((await backup.stats()).incomingCalls).toBe(5);

    const outcomes = app.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('call ') && l.route === 'budget' && l.status !== undefined);
    const refused = outcomes.filter((l) => l.failoverBudget === 'spent');
    expect(refused).toHaveLength(7);
    for (const l of refused) expect(l.tried).toEqual([expect.objectContaining({ target: targetId(failing), result: '503' })]);
    expect(app.logs().filter((l) => l.code === 'B2B_WARN_FAILOVER_BUDGET')).toEqual([
      expect.objectContaining({ level: 'warn', percent: 0, minPerS: 0.5, windowS: 10 }),
    ]);
    await expectNothingCounted(redis, PREFIX);
    expect(app.logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  }, 60000);
});
