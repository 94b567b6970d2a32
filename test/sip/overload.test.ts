/**
 * Overload control end to end: past `overload.maxCps` new calls per second, or with
 * `overload.maxSettingUp` calls already waiting for a target's first answer, a new INVITE gets `503 Overloaded` with
 * `Retry-After` at once (no target tried), each episode is one warning and one "over" line, and the
 * refused calls are added to the cluster totals.
 */
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { startUas, type SippUas } from '../harness/sipp';
import { expectNothingCounted } from '../helpers/counted';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { newIds, RawSipClient, SDP, type SipResponse } from '../helpers/raw-sip';
import { until } from '../helpers/until';

const PREFIX = 'ovl:';
const MAX_CPS = 5;
const MAX_SETTING_UP = 3;
const RETRY_AFTER_S = 7;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('overload control', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let busy: SippUas;
  let ringing: SippUas;
  let silent: SippUas;
  let app: AppProcess;
  let caller: RawSipClient;

  beforeAll(async () => {
    [redisServer, drachtio, busy, ringing, silent] = await Promise.all([
      startRedis(),
      startDrachtio(),
      startUas('busy-486'),
      startUas('no-answer'),
      startUas('silent'),
    ]);
    redis = redisServer.client();
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      overload: { maxCps: MAX_CPS, maxSettingUp: MAX_SETTING_UP, maxEventLoopDelayMs: 0, retryAfterS: RETRY_AFTER_S },
      health: { passiveFailures: 0 },
      routes: [
        { name: 'busy', match: { domains: ['busy.test'] }, targets: [{ host: busy.host, port: busy.port }] },
        { name: 'ringing', match: { domains: ['ringing.test'] }, ringTimeoutS: 2, targets: [{ host: ringing.host, port: ringing.port }] },
        {
          name: 'silent',
          match: { domains: ['silent.test'] },
          provisionalTimeoutMs: 2000,
          targets: [{ host: silent.host, port: silent.port, probe: false }],
        },
      ],
    });
    caller = await new RawSipClient({ host: drachtio.sipAddress, port: drachtio.sipPort }).open();
  }, 60000);

  afterAll(async () => {
    await caller?.close();
    await app?.stop('SIGTERM');
    await Promise.all([busy?.stop(), ringing?.stop(), silent?.stop()]);
    await drachtio?.stop();
    await redisServer?.stop();
  });

  afterEach(async () => {
    await expectNothingCounted(redis, PREFIX);
    expect(app.logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });

  async function call(domain: string): Promise<{ res: SipResponse; ms: number }> {
    const ids = newIds();
    const ruri = `sip:4900@${domain}`;
    const t0 = Date.now();
    const res = await caller.invite(ids, ruri, { body: SDP });
    const ms = Date.now() - t0;
    caller.ackFailure(ids, ruri, res);
    return { res, ms };
  }

  const overloaded = (r: SipResponse) => r.status === 503 && r.reason === 'Overloaded';
  const refusedTotal = async () => Number((await redis.hget(`${PREFIX}totals`, 'refused:overload')) ?? 0);
  const logsSince = (n: number) => app.logs().slice(n);

  it(`takes at most ${String(MAX_CPS)} new calls a second and answers the rest 503 Overloaded with Retry-After at once`, async () => {
    const logStart = app.logs().length;
    const totalBefore = await refusedTotal();
    const seenBefore = (await busy.stats()).incomingCalls;
    const t0 = Date.now();
    const results: Array<{ res: SipResponse; ms: number }> = [];
    for (let i = 0; i < 15; i += 1) results.push(await call('busy.test'));
    const elapsedS = (Date.now() - t0) / 1000;
    const taken = results.filter((r) => r.res.status === 486).length;
    const refused = results.filter((r) => overloaded(r.res));
    expect(taken + refused.length).toBe(15);
    // a full bucket of MAX_CPS, plus what refilled while the calls ran
    expect(taken).toBeGreaterThanOrEqual(MAX_CPS);
    expect(taken).toBeLessThanOrEqual(MAX_CPS + Math.ceil(elapsedS * MAX_CPS));
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((r) => r.res.headers['retry-after']?.[0]))).toEqual(new Set([String(RETRY_AFTER_S)]));
    // at once: no target tried (the back-end saw only the calls taken)
    expect(Math.max(...refused.map((r) => r.ms))).toBeLessThan(500);
    expect(
      await until(
        async () => (await busy.stats()).incomingCalls - seenBefore,
        (n) => n >= taken,
        3000,
      ),
    ).toBe(taken);

    // after a second the bucket has refilled: calls are taken again, the episode ends with one line
    await sleep(1100);
    expect((await call('busy.test')).res.status).toBe(486);
    const lines = await until(
      () => logsSince(logStart),
      (ls) => ls.some((l) => l.msg === 'overload over: taking new calls again'),
    );
    expect(lines.filter((l) => l.code === 'B2B_WARN_ADMISSION_OVERLOAD')).toEqual([expect.objectContaining({ cause: 'cps', limit: MAX_CPS, level: 'warn' })]);
    expect(lines.filter((l) => l.msg === 'overload over: taking new calls again')).toEqual([
      expect.objectContaining({ cause: 'cps', refused: refused.length }),
    ]);
    expect(await until(refusedTotal, (n) => n === totalBefore + refused.length)).toBe(totalBefore + refused.length);
  });

  it(`with ${String(MAX_SETTING_UP)} calls waiting for a target's first answer, answers the next 503 Overloaded at once; ringing calls do not count`, async () => {
    await sleep(1100); // a full cps bucket
    const waiting = [call('silent.test'), call('silent.test'), call('silent.test')];
    await sleep(300); // the three INVITEs are out, unanswered
    const t0 = Date.now();
    const extra = await call('busy.test');
    expect(overloaded(extra.res)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(500);
    // the silent target times out (no provisional response in provisionalTimeoutMs): the calls fail, and no longer wait
    for (const r of await Promise.all(waiting)) expect(r.res.status).toBeGreaterThanOrEqual(400);
    expect((await call('busy.test')).res.status).toBe(486);

    // three calls ringing (180 relayed) are not waiting: the next call is taken
    await sleep(1100);
    const ringingCalls = [call('ringing.test'), call('ringing.test'), call('ringing.test')];
    await sleep(300);
    expect((await call('busy.test')).res.status).toBe(486);
    expect((await Promise.all(ringingCalls)).map((r) => r.res.status)).toEqual([480, 480, 480]);
  });
});
