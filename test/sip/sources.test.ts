/**
 * Source limits end to end, two instances on one drachtio-server and one Redis: a known scanner's
 * INVITE gets 403 and its source goes on the cluster's block list, so both instances refuse it after;
 * a source over `security.sourceMaxCps` is blocked and released after `security.blockS`; a route's
 * `allowSources` refuses other sources with 403 (and with `refuseSource: drop` blocks them too). Each
 * client sends from its own loopback address (127.0.0.0/8), so each is a distinct source.
 */
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { startUas, type SippUas } from '../harness/sipp';
import { expectNothingCounted } from '../helpers/counted';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { newIds, RawSipClient, SDP } from '../helpers/raw-sip';
import { until } from '../helpers/until';

const PREFIX = 'src:';
const MAX_CPS = 3;
const BLOCK_S = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('source limits across two instances', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let busy: SippUas;
  let apps: AppProcess[] = [];
  const clients: RawSipClient[] = [];

  async function client(address: string): Promise<RawSipClient> {
    const c = await new RawSipClient({ host: drachtio.sipAddress, port: drachtio.sipPort }, address).open();
    clients.push(c);
    return c;
  }

  async function call(from: RawSipClient, domain = 'open.test', extra: string[] = []): Promise<number> {
    const ids = newIds();
    const ruri = `sip:5000@${domain}`;
    const res = await from.invite(ids, ruri, { body: SDP, extra });
    from.ackFailure(ids, ruri, res);
    return res.status;
  }

  const blocked = () => redis.smembers(`${PREFIX}blocked`).then((m) => m.sort());
  const events = async (type: string): Promise<Array<Record<string, string>>> => {
    const fields = (flat: string[]): Record<string, string> => {
      const e: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) e[flat[i]] = flat[i + 1];
      return e;
    };
    return (await redis.xrange(`${PREFIX}events`, '-', '+')).map(([, f]) => fields(f)).filter((e) => e.type === type);
  };
  const logs = () => apps.flatMap((a) => a.logs());

  beforeAll(async () => {
    [redisServer, drachtio, busy] = await Promise.all([startRedis(), startDrachtio(), startUas('busy-486')]);
    redis = redisServer.client();
    const config = (id: string) => ({
      instanceId: id,
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      security: { sourceMaxCps: MAX_CPS, blockS: BLOCK_S, refreshMs: 200 },
      health: { passiveFailures: 0 },
      routes: [
        { name: 'pbx-only', match: { domains: ['pbx.test'] }, allowSources: ['127.0.0.20/32'], targets: [{ host: busy.host, port: busy.port }] },
        {
          name: 'pbx-drop',
          match: { domains: ['drop.test'] },
          allowSources: ['127.0.0.20/32'],
          refuseSource: 'drop',
          targets: [{ host: busy.host, port: busy.port }],
        },
        { name: 'open', targets: [{ host: busy.host, port: busy.port }] },
      ],
    });
    apps = await Promise.all([startDispatcher(config('s1')), startDispatcher(config('s2'))]);
  }, 60000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(apps.map((a) => a.stop('SIGTERM')));
    await busy?.stop();
    await drachtio?.stop();
    await redisServer?.stop();
  });

  afterEach(async () => {
    await expectNothingCounted(redis, PREFIX);
    expect(logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });

  it('refuses a known scanner with 403 and blocks its source on both instances; other sources still call', async () => {
    const scanner = await client('127.0.0.11');
    const honest = await client('127.0.0.12');
    expect(await call(scanner, 'open.test', ['User-Agent: friendly-scanner'])).toBe(403);
    // the block reaches Redis a little after the 403 (it leaves with the call path's next write window)
    expect(await until(blocked, (b) => b.length > 0)).toEqual(['127.0.0.11']);
    await sleep(400); // both instances have read the block list
    // drachtio-server hands INVITEs to its connected apps in turn: four calls reach both instances
    expect(await Promise.all([1, 2, 3, 4].map(() => call(scanner)))).toEqual([403, 403, 403, 403]);
    expect(await call(honest)).toBe(486);
    expect((await events('source-blocked')).map((e) => [e.source, e.cause])).toEqual([['127.0.0.11', 'scanner User-Agent "friendly-scanner"']]);
    expect(logs().filter((l) => l.code === 'B2B_WARN_SOURCE_BLOCKED')).toHaveLength(1);
  });

  it(`blocks a source over ${String(MAX_CPS)} new calls a second, and takes its calls again after blockS`, async () => {
    const flood = await client('127.0.0.13');
    const statuses: number[] = [];
    // sent one after another, so each instance sees its share of them
    for (let i = 0; i < 2 * MAX_CPS + 2; i += 1) statuses.push(await call(flood));
    expect(statuses.filter((s) => s === 403).length).toBeGreaterThan(0);
    // each instance counts the calls it got: at most MAX_CPS each before the block
    expect(statuses.filter((s) => s === 486).length).toBeLessThanOrEqual(2 * MAX_CPS);
    expect(await until(blocked, (b) => b.includes('127.0.0.13'))).toContain('127.0.0.13');
    await sleep(BLOCK_S * 1000 + 600);
    expect(await blocked()).not.toContain('127.0.0.13');
    expect(await call(flood)).toBe(486);
    expect((await events('source-released')).map((e) => e.source)).toContain('127.0.0.13');
  });

  it("refuses sources outside a route's allowSources with 403; refuseSource: drop also blocks them", async () => {
    const pbx = await client('127.0.0.20');
    const stranger = await client('127.0.0.21');
    const other = await client('127.0.0.22');
    expect(await call(pbx, 'pbx.test')).toBe(486);
    expect(await call(stranger, 'pbx.test')).toBe(403);
    expect(await blocked()).not.toContain('127.0.0.21');
    expect(await call(stranger, 'open.test')).toBe(486);
    expect(await call(other, 'drop.test')).toBe(403);
    expect(await until(blocked, (b) => b.includes('127.0.0.22'))).toContain('127.0.0.22');
    await sleep(400);
    expect(await call(other, 'open.test')).toBe(403);
    expect(
      logs()
        .filter((l) => l.code === 'B2B_ERR_SOURCE_NOT_ALLOWED')
        .map((l) => [l.route, l.source]),
    ).toEqual([
      ['pbx-only', '127.0.0.21'],
      ['pbx-drop', '127.0.0.22'],
    ]);
  });
});
