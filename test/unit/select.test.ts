import { orderTargets } from '../../lib/routing/select';
import { seededRandom } from '../helpers/random';

interface T {
  name: string;
  priority: number;
  weight: number;
}

const DRAWS = 100_000;
/** each observed share must be within this many percentage points of its expected share */
const BOUND_PP = 1;

function firstPickShares(targets: T[], draws = DRAWS, seed = 2782): Map<string, number> {
  const random = seededRandom(seed);
  const counts = new Map<string, number>(targets.map((t) => [t.name, 0]));
  for (let i = 0; i < draws; i += 1) {
    const first = orderTargets(targets, random)[0];
    counts.set(first.name, (counts.get(first.name) ?? 0) + 1);
  }
  return new Map([...counts].map(([k, v]) => [k, (100 * v) / draws]));
}

function expectShares(observed: Map<string, number>, expected: Record<string, number>): void {
  for (const [name, pct] of Object.entries(expected)) {
    const got = observed.get(name) ?? 0;
    expect(Math.abs(got - pct)).toBeLessThanOrEqual(BOUND_PP);
  }
}

describe('orderTargets (RFC 2782 priority + weighted random without replacement)', () => {
  const even: T[] = [
    { name: 'siparator1', priority: 30, weight: 1 },
    { name: 'siparator2', priority: 30, weight: 1 },
    { name: 'siparator3', priority: 30, weight: 1 },
  ];
  const dynamic: T[] = [
    { name: '123.123.123.20', priority: 30, weight: 60 },
    { name: '123.123.123.30', priority: 30, weight: 40 },
    { name: '123.123.123.40', priority: 40, weight: 0 },
  ];
  const srv: T[] = [
    { name: 'big', priority: 10, weight: 60 },
    { name: 'small1', priority: 10, weight: 20 },
    { name: 'small2:5060', priority: 10, weight: 10 },
    { name: 'small2:5070', priority: 10, weight: 10 },
    { name: 'backup', priority: 20, weight: 0 },
  ];

  it('spreads 1:1:1 evenly: each first about 33.3% over 100,000 draws', () => {
    expectShares(firstPickShares(even), { siparator1: 100 / 3, siparator2: 100 / 3, siparator3: 100 / 3 });
  });

  it('spreads 60:40 by weight and never picks the higher-priority-value backup first', () => {
    const shares = firstPickShares(dynamic);
    expectShares(shares, { '123.123.123.20': 60, '123.123.123.30': 40 });
    expect(shares.get('123.123.123.40')).toBe(0);
  });

  it('spreads 60:20:10:10 by weight, with the backup last', () => {
    const shares = firstPickShares(srv);
    expectShares(shares, { big: 60, small1: 20, 'small2:5060': 10, 'small2:5070': 10 });
    expect(shares.get('backup')).toBe(0);
  });

  it('when the big SIParator fails, the two small hosts share its load equally (seed §2.1)', () => {
    const random = seededRandom(7);
    const second = new Map<string, number>();
    let bigFirst = 0;
    for (let i = 0; i < DRAWS; i += 1) {
      const order = orderTargets(srv, random);
      if (order[0].name !== 'big') continue;
      bigFirst += 1;
      const host = order[1].name.split(':')[0];
      second.set(host, (second.get(host) ?? 0) + 1);
    }
    expect(Math.abs((100 * (second.get('small1') ?? 0)) / bigFirst - 50)).toBeLessThanOrEqual(BOUND_PP);
    expect(Math.abs((100 * (second.get('small2') ?? 0)) / bigFirst - 50)).toBeLessThanOrEqual(BOUND_PP);
  });

  it('returns every target exactly once, lower priority values first', () => {
    const random = seededRandom(1);
    for (let i = 0; i < 1000; i += 1) {
      const order = orderTargets(srv, random);
      expect(order.map((t) => t.name).sort()).toEqual(srv.map((t) => t.name).sort());
      const priorities = order.map((t) => t.priority);
      expect(priorities).toEqual([...priorities].sort((a, b) => a - b));
      expect(order[order.length - 1].name).toBe('backup');
    }
  });

  it('puts weight-0 targets after the weighted ones of the same priority', () => {
    const mixed: T[] = [
      { name: 'zero-a', priority: 10, weight: 0 },
      { name: 'w', priority: 10, weight: 5 },
      { name: 'zero-b', priority: 10, weight: 0 },
      { name: 'w2', priority: 10, weight: 1 },
    ];
    const random = seededRandom(3);
    for (let i = 0; i < 1000; i += 1) {
      const names = orderTargets(mixed, random).map((t) => t.name);
      expect(names.slice(0, 2).sort()).toEqual(['w', 'w2']);
      expect(names.slice(2).sort()).toEqual(['zero-a', 'zero-b']);
    }
  });

  it('uses the injected random source: 0 picks the first weighted entry, 0.9999 the last', () => {
    expect(orderTargets(dynamic, () => 0)[0].name).toBe('123.123.123.20');
    expect(orderTargets(dynamic, () => 0.9999)[0].name).toBe('123.123.123.30');
    // running sum 60 of 100: 0.59 falls in the first entry, 0.61 in the second
    expect(orderTargets(dynamic, () => 0.59)[0].name).toBe('123.123.123.20');
    expect(orderTargets(dynamic, () => 0.61)[0].name).toBe('123.123.123.30');
  });

  it('picks among all-zero weights at random rather than always in config order', () => {
    const zeros: T[] = [
      { name: 'a', priority: 1, weight: 0 },
      { name: 'b', priority: 1, weight: 0 },
    ];
    expectShares(firstPickShares(zeros, 20_000), { a: 50, b: 50 });
  });

  it('handles an empty list and a single target', () => {
    expect(orderTargets([])).toEqual([]);
    expect(orderTargets([{ name: 'only', priority: 0, weight: 0 }]).map((t) => t.name)).toEqual(['only']);
  });
});
