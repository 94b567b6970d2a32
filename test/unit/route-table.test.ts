import { configSchema } from '../../lib/config/schema';
import { RouteTable } from '../../lib/routing/route-table';

const routes = (targets: { host: string; port?: number }[][]) =>
  configSchema.parse({
    drachtio: { servers: [{ host: '127.0.0.1' }] },
    routes: targets.map((ts, i) => ({ name: `r${String(i)}`, match: i < targets.length - 1 ? { domains: [`d${String(i)}.test`] } : undefined, targets: ts })),
  }).routes;

describe('RouteTable', () => {
  it('lists every distinct target of every route once, sorted by id', () => {
    const table = new RouteTable(
      routes([
        [{ host: '10.0.0.2' }, { host: '10.0.0.1' }],
        [{ host: '10.0.0.1' }, { host: '10.0.0.3', port: 5080 }],
      ]),
    );
    expect(table.allTargets().map((t) => t.id)).toEqual(['udp:10.0.0.1:5060', 'udp:10.0.0.2:5060', 'udp:10.0.0.3:5080']);
  });

  it('replace() changes the routes for new lookups and leaves earlier ones untouched', () => {
    const table = new RouteTable(routes([[{ host: '10.0.0.1' }]]));
    const before = table.routes;
    table.replace(routes([[{ host: '10.0.0.9' }]]));
    expect(before[0].targets.map((t) => t.id)).toEqual(['udp:10.0.0.1:5060']);
    expect(table.routes[0].targets.map((t) => t.id)).toEqual(['udp:10.0.0.9:5060']);
    expect(table.allTargets().map((t) => t.id)).toEqual(['udp:10.0.0.9:5060']);
  });
});
