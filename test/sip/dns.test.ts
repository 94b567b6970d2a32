/**
 * DNS targets end to end, with a real DNS server (dnsmasq, test/harness/dns.ts): a route whose pool is
 * one SRV name follows its records (RFC 2782 priorities), a changed record changes where calls go
 * within one TTL, a stopped DNS server changes nothing (the last answer is kept, the failure logged
 * once), and a name that never resolved leaves its route without targets (503, nothing tried).
 */
import type Redis from 'ioredis';
import { writeFileSync } from 'node:fs';
import { startApp, type AppProcess } from '../harness/app';
import { startDns, type DnsServer } from '../harness/dns';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { expectNothingCounted } from '../helpers/counted';
import { drachtioSection, writeConfig } from '../helpers/dispatcher';

const PREFIX = 'dns:';
const TTL_S = 1;
const SRV = '_sip._udp.pool.test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const id = (u: SippUas) => `udp:${u.host}:${String(u.port)}`;

describe('DNS SRV targets', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let dns: DnsServer;
  let a: SippUas;
  let b: SippUas;
  let c: SippUas;
  let app: AppProcess;
  let file: string;
  let config: { routes: unknown[] } & Record<string, unknown>;
  const sip = () => ({ host: drachtio.sipAddress, port: drachtio.sipPort });
  /** a at priority 10, b at 10, c at 20 unless told otherwise */
  const records = (prio: { a: number; b: number; c: number }) => [
    `srv-host=${SRV},a.pool.test,${String(a.port)},${String(prio.a)},50`,
    `srv-host=${SRV},b.pool.test,${String(b.port)},${String(prio.b)},50`,
    `srv-host=${SRV},c.pool.test,${String(c.port)},${String(prio.c)},10`,
    'host-record=a.pool.test,127.0.0.1',
    'host-record=b.pool.test,127.0.0.1',
    'host-record=c.pool.test,127.0.0.1',
  ];
  const answeredTargets = (since: number) =>
    app
      .logs()
      .slice(since)
      .filter((l) => l.msg === 'call answered')
      .map((l) => String(l.target));

  /** the targets of the calls answered since line `since`, once there are `n` of them (log lines trail sipp's own end a little) */
  async function answered(since: number, n: number): Promise<string[]> {
    for (let i = 0; i < 60 && answeredTargets(since).length < n; i += 1) await sleep(50);
    return answeredTargets(since);
  }

  beforeAll(async () => {
    [redisServer, drachtio, a, b, c] = await Promise.all([startRedis(), startDrachtio(), startUas('answer'), startUas('answer'), startUas('answer')]);
    redis = redisServer.client();
    dns = await startDns({ records: records({ a: 10, b: 10, c: 20 }), ttlS: TTL_S });
    config = {
      instanceId: 'dns-node',
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      // maxTtlS well above the records' TTL: what is seen within one TTL comes from honouring (or re-asking within) the TTL, not from the clamp
      dns: { servers: [dns.address], minTtlS: TTL_S, maxTtlS: 300, timeoutMs: 300 },
      routes: [
        { name: 'ghost', match: { domains: ['ghost.test'] }, targets: [{ srv: '_sip._udp.ghost.test' }] },
        { name: 'byname', match: { domains: ['byname.test'] }, targets: [{ host: 'b.pool.test', port: b.port }] },
        { name: 'pool', targets: [{ srv: SRV }] },
      ],
    };
    file = writeConfig(config);
    app = await startApp({ entry: 'apps/dispatcher/main.ts', args: ['--config', file] });
  }, 60000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await Promise.all([a, b, c].map((u) => u?.stop()));
    await dns?.stop();
    await drachtio?.stop();
    await redisServer?.stop();
  });

  it('resolves the SRV name at start: the priority-10 records take every call, the priority-20 one none', async () => {
    const since = app.lines.length;
    const r = await runUac('call', { target: sip(), domain: 'pool.test', calls: 12, rate: 10, concurrency: 4, holdMs: 100 });
    expect(r.exitCode).toBe(0);
    const targets = await answered(since, 12);
    expect(targets).toHaveLength(12);
    expect(targets.filter((t) => t === id(c))).toEqual([]);
    expect(targets.filter((t) => t === id(a)).length).toBeGreaterThan(0);
    expect(targets.filter((t) => t === id(b)).length).toBeGreaterThan(0);
    expect((await c.stats()).incomingCalls).toBe(0);
    await expectNothingCounted(redis, PREFIX);
  }, 60000);

  it('a host name resolves to its address (A record; no AAAA, no error)', async () => {
    const since = app.lines.length;
    const r = await runUac('call', { target: sip(), domain: 'byname.test', calls: 2, rate: 10, holdMs: 100 });
    expect(r.exitCode).toBe(0);
    expect(await answered(since, 2)).toEqual([id(b), id(b)]);
  }, 30000);

  it('a name that never resolved gives its route no target: 503 at once, nothing tried', async () => {
    const r = await runUac('expect-status', { target: sip(), domain: 'ghost.test', calls: 1, expectStatus: 503 });
    expect(r.exitCode).toBe(0);
    expect(app.logs().filter((l) => l.code === 'B2B_ERR_NO_TARGET' && l.route === 'ghost')).toHaveLength(1);
  }, 30000);

  it('a changed record changes the split within one TTL', async () => {
    const since = app.lines.length;
    await dns.setRecords(records({ a: 20, b: 20, c: 10 }));
    const changedAt = Date.now();
    await app.waitFor((l) => l.includes('"DNS answer changed"') && l.includes(SRV) && app.lines.indexOf(l) >= since, 5000);
    // the SRV name is asked again every minTtlS (= the TTL here): seen within one TTL plus a query
    expect(Date.now() - changedAt).toBeLessThan(TTL_S * 1000 + 1000);
    const calls = app.lines.length;
    const r = await runUac('call', { target: sip(), domain: 'pool.test', calls: 6, rate: 10, concurrency: 3, holdMs: 100 });
    expect(r.exitCode).toBe(0);
    expect(await answered(calls, 6)).toEqual(Array(6).fill(id(c)));
  }, 60000);

  it('the DNS server stopped: calls keep flowing on the cached answer, the failure is logged once per name, the recovery once', async () => {
    const since = app.lines.length;
    await dns.stop();
    // several refreshes fail meanwhile (one every TTL)
    await sleep(4 * TTL_S * 1000 + 500);
    const r = await runUac('call', { target: sip(), domain: 'pool.test', calls: 6, rate: 10, concurrency: 3, holdMs: 100 });
    expect(r.exitCode).toBe(0);
    expect(await answered(since, 6)).toEqual(Array(6).fill(id(c)));
    const failed = app
      .logs()
      .slice(since)
      .filter((l) => l.code === 'B2B_WARN_DNS_FAILED');
    expect(failed.filter((l) => l.name === SRV)).toHaveLength(1);
    expect(failed.filter((l) => l.name === 'c.pool.test').length).toBeLessThanOrEqual(1);

    await dns.start();
    await app.waitFor((l) => l.includes('"DNS lookup answered again"') && l.includes(SRV) && app.lines.indexOf(l) >= since, 5000);
    await sleep(2 * TTL_S * 1000);
    const after = app.logs().slice(since);
    expect(after.filter((l) => l.msg === 'DNS lookup answered again' && l.name === SRV)).toHaveLength(1);
    expect(after.filter((l) => l.code === 'B2B_WARN_DNS_FAILED' && l.name === SRV)).toHaveLength(1);
    await expectNothingCounted(redis, PREFIX);
  }, 60000);

  it('a reload that adds a route with a new SRV name resolves it before the route takes calls', async () => {
    const since = app.lines.length;
    await dns.setRecords([...records({ a: 20, b: 20, c: 10 }), `srv-host=_sip._udp.extra.test,a.pool.test,${String(a.port)},10,1`]);
    const routes = [{ name: 'extra', match: { domains: ['extra.test'] }, targets: [{ srv: '_sip._udp.extra.test' }] }, ...config.routes];
    writeFileSync(file, JSON.stringify({ ...config, routes }));
    const pid = Number(app.logs().find((l) => typeof l.pid === 'number')?.pid);
    process.kill(pid, 'SIGHUP');
    await app.waitFor(
      () =>
        app
          .logs()
          .slice(since)
          .some((l) => l.msg === 'config reloaded'),
      10000,
    );
    const calls = app.lines.length;
    const r = await runUac('call', { target: sip(), domain: 'extra.test', calls: 1, holdMs: 100 });
    expect(r.exitCode).toBe(0);
    expect(await answered(calls, 1)).toEqual([id(a)]);
    await expectNothingCounted(redis, PREFIX);
  }, 60000);
});
