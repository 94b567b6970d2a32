import { validateConfig } from '../../lib/config/load';
import {
  addressAnswerTtl,
  clampTtl,
  dnsNames,
  expandTarget,
  expandTargets,
  hostsOfSrv,
  isDnsName,
  mergeAnswer,
  NO_DNS,
  srvTransport,
  type AddressRecord,
  type DnsLookup,
  type SrvRecord,
} from '../../lib/dns/expand';
import { RouteTable } from '../../lib/routing/route-table';
import { ConfigError } from '../../lib/errors';

const lookup = (srv: Record<string, SrvRecord[]>, hosts: Record<string, string[]>): DnsLookup => ({
  srv: (n) => srv[n],
  addresses: (n) => hosts[n]?.map((address) => ({ address, ttl: 30 })),
});
const host = (h: string, o: Partial<{ port: number; priority: number; weight: number; transport: 'udp' | 'tcp' | 'tls' }> = {}) => ({
  host: h,
  port: o.port ?? 5060,
  transport: o.transport ?? 'udp',
  priority: o.priority ?? 10,
  weight: o.weight ?? 1,
});

describe('DNS target expansion', () => {
  it('an IP address is used as it is, without DNS', () => {
    expect(expandTarget(host('10.0.0.1'), NO_DNS)).toEqual([
      { id: 'udp:10.0.0.1:5060', host: '10.0.0.1', port: 5060, transport: 'udp', priority: 10, weight: 1 },
    ]);
    expect(expandTarget(host('[fd00::1]', { transport: 'tcp' }), NO_DNS).map((t) => t.id)).toEqual(['tcp:[fd00::1]:5060']);
    expect(isDnsName('10.0.0.1')).toBe(false);
    expect(isDnsName('fd00::1')).toBe(false);
    expect(isDnsName('sbc.example.com')).toBe(true);
  });

  it('a host name expands to its addresses, which share its weight evenly (weight 0 stays 0)', () => {
    const dns = lookup({}, { 'sbc.example.com': ['10.0.0.1', '10.0.0.2', 'fd00::2'] });
    const out = expandTarget(host('SBC.example.com.', { weight: 60, priority: 30, port: 5080 }), dns);
    expect(out.map((t) => [t.id, t.priority, t.weight, t.via])).toEqual([
      ['udp:10.0.0.1:5080', 30, 20, 'sbc.example.com'],
      ['udp:10.0.0.2:5080', 30, 20, 'sbc.example.com'],
      ['udp:[fd00::2]:5080', 30, 20, 'sbc.example.com'],
    ]);
    expect(expandTarget(host('sbc.example.com', { weight: 0 }), dns).map((t) => t.weight)).toEqual([0, 0, 0]);
  });

  it('a name never answered, or answered empty, has no targets', () => {
    expect(expandTarget(host('sbc.example.com'), NO_DNS)).toEqual([]);
    expect(expandTarget(host('sbc.example.com'), lookup({}, { 'sbc.example.com': [] }))).toEqual([]);
    expect(expandTarget({ srv: '_sip._udp.pool.example.com' }, NO_DNS)).toEqual([]);
  });

  it('an SRV name expands to its records: their priority and weight, the port of each, the transport of the name', () => {
    const dns = lookup(
      {
        '_sips._tcp.pool.example.com': [
          { name: 'a.example.com', port: 5061, priority: 10, weight: 60 },
          { name: 'b.example.com', port: 5062, priority: 10, weight: 40 },
          { name: '10.0.0.9', port: 5063, priority: 20, weight: 0 },
          { name: '.', port: 0, priority: 30, weight: 0 },
        ],
      },
      { 'a.example.com': ['10.0.0.1'], 'b.example.com': ['10.0.0.2', '10.0.0.3'] },
    );
    const out = expandTarget({ srv: '_sips._tcp.pool.example.com' }, dns);
    expect(out.map((t) => [t.id, t.priority, t.weight, t.via])).toEqual([
      ['tls:10.0.0.1:5061', 10, 60, '_sips._tcp.pool.example.com'],
      ['tls:10.0.0.2:5062', 10, 20, '_sips._tcp.pool.example.com'],
      ['tls:10.0.0.3:5062', 10, 20, '_sips._tcp.pool.example.com'],
      ['tls:10.0.0.9:5063', 20, 0, '_sips._tcp.pool.example.com'],
    ]);
    expect([srvTransport('_sip._udp.x'), srvTransport('_sip._tcp.x'), srvTransport('_SIPS._tcp.x')]).toEqual(['udp', 'tcp', 'tls']);
    expect(hostsOfSrv(dns.srv('_sips._tcp.pool.example.com') ?? [])).toEqual(['a.example.com', 'b.example.com']);
  });

  it('an address reached twice in one route is kept once, the first time', () => {
    const dns = lookup({}, { 'a.example.com': ['10.0.0.1'] });
    expect(expandTargets([host('10.0.0.1', { priority: 5 }), host('a.example.com', { priority: 50 })], dns).map((t) => [t.id, t.priority])).toEqual([
      ['udp:10.0.0.1:5060', 5],
    ]);
  });

  it('clamps TTLs; an address answer lives for its shortest TTL, an empty one for minTtlS', () => {
    expect([clampTtl(0, 5, 300), clampTtl(60, 5, 300), clampTtl(86400, 5, 300), clampTtl(Number.NaN, 5, 300)]).toEqual([5, 60, 300, 5]);
    const recs: AddressRecord[] = [
      { address: '10.0.0.1', ttl: 120 },
      { address: '10.0.0.2', ttl: 40 },
    ];
    expect(addressAnswerTtl(recs, 5, 300)).toBe(40);
    expect(addressAnswerTtl([], 5, 300)).toBe(5);
    expect(addressAnswerTtl([{ address: '10.0.0.1', ttl: 1 }], 5, 300)).toBe(5);
  });

  it('lists the names a config needs, once each, normalised', () => {
    const cfg = validateConfig({
      drachtio: { servers: [{ host: '127.0.0.1' }] },
      routes: [
        { name: 'a', match: { domains: ['a.test'] }, targets: [{ srv: '_sip._udp.Pool.test.' }, { host: 'Sbc.test' }, { host: '10.0.0.1' }] },
        { name: 'b', targets: [{ srv: '_sip._udp.pool.test' }, { host: 'sbc.test' }] },
      ],
    });
    expect(dnsNames(cfg.routes)).toEqual({ srv: ['_sip._udp.pool.test'], hosts: ['sbc.test'] });
  });
});

describe('merging DNS answers', () => {
  const a1 = [{ address: '10.0.0.1', ttl: 30 }];
  const a2 = [{ address: '10.0.0.2', ttl: 30 }];

  it('a first answer is a change; the same records again (another TTL) are not', () => {
    const first = mergeAnswer(undefined, { ok: true, records: a1 }, (r) => r.address);
    expect(first).toEqual({ state: { records: a1, failing: false }, log: undefined, changed: true });
    const again = mergeAnswer(first.state, { ok: true, records: [{ address: '10.0.0.1', ttl: 5 }] }, (r) => r.address);
    expect(again.changed).toBe(false);
    expect(mergeAnswer(first.state, { ok: true, records: a2 }, (r) => r.address).changed).toBe(true);
  });

  it('a failure keeps the last good answer and is logged once; the recovery is logged once', () => {
    const good = mergeAnswer(undefined, { ok: true, records: a1 }).state;
    const f1 = mergeAnswer(good, { ok: false, error: 'ETIMEOUT' });
    expect(f1).toEqual({ state: { records: a1, failing: true, error: 'ETIMEOUT' }, log: 'failed', changed: false });
    const f2 = mergeAnswer(f1.state, { ok: false, error: 'ECONNREFUSED' });
    expect(f2).toEqual({ state: { records: a1, failing: true, error: 'ECONNREFUSED' }, changed: false });
    const back = mergeAnswer(f2.state, { ok: true, records: a1 });
    expect(back).toEqual({ state: { records: a1, failing: false }, log: 'recovered', changed: false });
  });

  it('a failure before any answer leaves no records', () => {
    expect(mergeAnswer<AddressRecord>(undefined, { ok: false, error: 'ESERVFAIL' }).state).toEqual({ records: undefined, failing: true, error: 'ESERVFAIL' });
  });

  it('an SRV answer compares its records in any order', () => {
    const r1: SrvRecord = { name: 'a.test', port: 5060, priority: 10, weight: 1 };
    const r2: SrvRecord = { name: 'b.test', port: 5060, priority: 20, weight: 1 };
    const s = mergeAnswer(undefined, { ok: true, records: [r1, r2] }).state;
    expect(mergeAnswer(s, { ok: true, records: [r2, r1] }).changed).toBe(false);
  });
});

describe('RouteTable with DNS names', () => {
  it('refresh() expands the same routes again with the current answers', () => {
    const hosts: Record<string, string[]> = {};
    const cfg = validateConfig({
      drachtio: { servers: [{ host: '127.0.0.1' }] },
      routes: [{ name: 'r', targets: [{ host: 'sbc.test' }, { host: '10.0.0.9' }] }],
    });
    const table = new RouteTable(cfg.routes, lookup({}, hosts));
    expect(table.allTargets().map((t) => t.id)).toEqual(['udp:10.0.0.9:5060']);
    const before = table.routes;
    hosts['sbc.test'] = ['10.0.0.1'];
    table.refresh();
    expect(table.allTargets().map((t) => t.id)).toEqual(['udp:10.0.0.1:5060', 'udp:10.0.0.9:5060']);
    expect(before[0].targets.map((t) => t.id)).toEqual(['udp:10.0.0.9:5060']);
  });
});

describe('DNS target config', () => {
  const cfg = (targets: unknown[], dns?: unknown) => validateConfig({ drachtio: { servers: [{ host: '127.0.0.1' }] }, dns, routes: [{ name: 'r', targets }] });
  const issues = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.expected}`);
    }
    throw new Error('expected a ConfigError');
  };

  it('an srv target is only its name; the dns section has defaults', () => {
    const c = cfg([{ srv: '_sip._udp.pool.test' }]);
    expect(c.routes[0].targets).toEqual([{ srv: '_sip._udp.pool.test' }]);
    expect(c.dns).toEqual({ servers: [], timeoutMs: 2000, minTtlS: 5, maxTtlS: 300, startWaitMs: 3000 });
  });

  it('refuses a target with both or neither of host and srv, fixed fields on an srv target, a bad SRV name, and minTtlS > maxTtlS', () => {
    expect(issues(() => cfg([{ host: '10.0.0.1', srv: '_sip._udp.pool.test' }]))).toEqual([
      'routes[0].targets[0]: exactly one of "host" (an IP address or host name) or "srv" (a DNS SRV name)',
    ]);
    expect(issues(() => cfg([{ port: 5060 }]))).toEqual(['routes[0].targets[0]: exactly one of "host" (an IP address or host name) or "srv" (a DNS SRV name)']);
    expect(issues(() => cfg([{ srv: '_sip._udp.pool.test', weight: 5 }]))).toEqual([
      'routes[0].targets[0].weight: no "weight" on an "srv" target (its SRV records give port, priority and weight, its name the transport)',
    ]);
    expect(issues(() => cfg([{ srv: 'pool.test' }]))[0]).toMatch(/^routes\[0\]\.targets\[0\]\.srv: an SRV name/);
    expect(issues(() => cfg([{ host: '_sip._udp.pool.test' }]))[0]).toMatch(/write it as "srv:"/);
    expect(issues(() => cfg([{ host: '10.0.0.1' }], { minTtlS: 60, maxTtlS: 30 }))).toEqual(['dns.minTtlS: a value <= dns.maxTtlS (30)']);
    expect(issues(() => cfg([{ host: '10.0.0.1' }], { servers: ['dns.example.com'] }))[0]).toMatch(/^dns\.servers\[0\]: an IP address/);
    expect(cfg([{ host: '10.0.0.1' }], { servers: ['127.0.0.1:5353', '[::1]:53', '10.0.0.53'] }).dns.servers).toHaveLength(3);
  });
});
