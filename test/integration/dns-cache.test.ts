/**
 * DnsCache against a real DNS server (dnsmasq): first answers within ready(), the hosts an SRV answer
 * names resolved too, answers refreshed after their TTL, the last answer kept through a failure, names
 * no longer wanted dropped.
 */
import { validateConfig } from '../../lib/config/load';
import { DnsCache } from '../../lib/dns/dns-cache';
import { createLogger } from '../../lib/logger';
import { startDns, type DnsServer } from '../harness/dns';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DnsCache with a real DNS server', () => {
  let dns: DnsServer;
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  let cache: DnsCache | undefined;

  beforeAll(async () => {
    dns = await startDns({
      records: [
        'srv-host=_sip._udp.p.test,h1.p.test,5071,10,60',
        'srv-host=_sip._udp.p.test,h2.p.test,5072,20,40',
        'host-record=h1.p.test,127.0.0.11',
        'host-record=h2.p.test,127.0.0.12,::12',
      ],
      ttlS: 1,
    });
  }, 30000);

  afterEach(() => {
    cache?.stop();
    lines.length = 0;
  });

  afterAll(async () => {
    await dns?.stop();
  });

  const cfg = () =>
    validateConfig({
      drachtio: { servers: [{ host: '127.0.0.1' }] },
      dns: { servers: [dns.address], minTtlS: 1, maxTtlS: 60, timeoutMs: 300 },
      routes: [{ name: 'r', targets: [{ host: '10.0.0.1' }] }],
    }).dns;

  it('answers an SRV name and the hosts it names, A and AAAA, within ready()', async () => {
    let changes = 0;
    cache = new DnsCache(cfg(), logger, () => (changes += 1));
    cache.want({ srv: ['_sip._udp.p.test'], hosts: ['nowhere.p.test'] });
    await cache.ready(3000);
    expect([...(cache.srv('_sip._udp.p.test') ?? [])].sort((x, y) => x.priority - y.priority)).toEqual([
      { name: 'h1.p.test', port: 5071, priority: 10, weight: 60 },
      { name: 'h2.p.test', port: 5072, priority: 20, weight: 40 },
    ]);
    expect(cache.addresses('h1.p.test')?.map((r) => r.address)).toEqual(['127.0.0.11']);
    expect(cache.addresses('h2.p.test')?.map((r) => r.address)).toEqual(['127.0.0.12', '::12']);
    expect(cache.addresses('h2.p.test')?.every((r) => r.ttl === 1)).toBe(true);
    // NXDOMAIN is an answer: no addresses, not a failure
    expect(cache.addresses('nowhere.p.test')).toEqual([]);
    expect(cache.unresolved()).toEqual([]);
    expect(changes).toBeGreaterThanOrEqual(3);
    expect(lines.filter((l) => l.code === 'B2B_WARN_DNS_FAILED')).toEqual([]);
  }, 15000);

  it('keeps the last answer while the server is gone, logs it once, and takes a changed answer once it is back', async () => {
    cache = new DnsCache(cfg(), logger, () => undefined);
    cache.want({ srv: [], hosts: ['h1.p.test'] });
    await cache.ready(3000);
    await dns.stop();
    await sleep(3500);
    expect(cache.addresses('h1.p.test')?.map((r) => r.address)).toEqual(['127.0.0.11']);
    expect(lines.filter((l) => l.code === 'B2B_WARN_DNS_FAILED' && l.name === 'h1.p.test')).toHaveLength(1);
    await dns.setRecords(['host-record=h1.p.test,127.0.0.21']);
    for (let i = 0; i < 40 && cache.addresses('h1.p.test')?.[0]?.address !== '127.0.0.21'; i += 1) await sleep(100);
    expect(cache.addresses('h1.p.test')?.map((r) => r.address)).toEqual(['127.0.0.21']);
    expect(lines.filter((l) => l.msg === 'DNS lookup answered again' && l.name === 'h1.p.test')).toHaveLength(1);
  }, 20000);

  it('drops names no longer wanted, and a name before its first answer is unresolved', () => {
    cache = new DnsCache({ ...cfg(), servers: ['127.0.0.1:9'], timeoutMs: 200 }, logger, () => undefined);
    cache.want({ srv: [], hosts: ['h1.p.test'] });
    expect(cache.unresolved()).toEqual(['h1.p.test']);
    cache.want({ srv: [], hosts: [] });
    expect(cache.unresolved()).toEqual([]);
    expect(cache.addresses('h1.p.test')).toBeUndefined();
  });
});
