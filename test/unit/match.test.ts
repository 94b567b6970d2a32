import { validateConfig } from '../../lib/config/load';
import { compileRoutes, matchRoute } from '../../lib/routing/match';

function routesOf(routes: unknown[]) {
  const cfg = validateConfig({ drachtio: { servers: [{ host: '127.0.0.1' }] }, routes });
  return compileRoutes(cfg.routes);
}

const target = [{ host: '10.0.0.1' }];

describe('matchRoute', () => {
  const routes = routesOf([
    { name: 'exact', match: { domains: ['ingate.com'] }, targets: target },
    { name: 'wild', match: { domains: ['*.example.com'] }, targets: target },
    { name: 'internal', match: { sources: ['10.10.10.0/24', 'fd00::/8'] }, targets: target },
    { name: 'both', match: { domains: ['both.net'], sources: ['192.0.2.0/24'] }, targets: target },
    { name: 'by-ip', match: { domains: ['203.0.113.7'] }, targets: target },
    { name: 'fallback', targets: target },
  ]);
  const name = (domain: string, sourceAddress = '198.51.100.1') => matchRoute(routes, { domain, sourceAddress })?.route.name;

  it('matches an exact domain', () => {
    expect(name('ingate.com')).toBe('exact');
  });

  it('matches a wildcard on subdomains only, not the bare domain', () => {
    expect(name('sip.example.com')).toBe('wild');
    expect(name('a.b.example.com')).toBe('wild');
    expect(name('example.com')).toBe('fallback');
    expect(name('badexample.com')).toBe('fallback');
  });

  it("matches the source network of a domain-less request (the seed's outgoing domain)", () => {
    expect(name('', '10.10.10.5')).toBe('internal');
    expect(name('', '10.10.11.5')).toBe('fallback');
    expect(name('', 'fd00::1234')).toBe('internal');
    expect(name('', '::ffff:10.10.10.9')).toBe('internal');
  });

  it('requires both domain and source when a route names both', () => {
    expect(name('both.net', '192.0.2.10')).toBe('both');
    expect(name('both.net', '198.51.100.10')).toBe('fallback');
    expect(name('other.net', '192.0.2.10')).toBe('fallback');
  });

  it('matches an IP-address Request-URI host', () => {
    expect(name('203.0.113.7')).toBe('by-ip');
  });

  it('takes the first matching route in config order', () => {
    const r = routesOf([
      { name: 'first', match: { domains: ['*.x.org'] }, targets: target },
      { name: 'second', match: { domains: ['a.x.org'] }, targets: target },
    ]);
    expect(matchRoute(r, { domain: 'a.x.org', sourceAddress: '1.2.3.4' })?.route.name).toBe('first');
  });

  it('returns undefined when nothing matches and there is no default route', () => {
    const r = routesOf([{ name: 'only', match: { domains: ['x.org'] }, targets: target }]);
    expect(matchRoute(r, { domain: 'y.org', sourceAddress: '1.2.3.4' })).toBeUndefined();
  });

  it('computes each target id once, at compile time', () => {
    expect(routes[0].targets[0].id).toBe('udp:10.0.0.1:5060');
  });
});
