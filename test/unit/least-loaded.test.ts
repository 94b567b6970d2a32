import { effectiveWeight, orderLeastLoaded, type LoadedTarget } from '../../lib/routing/least-loaded';
import { orderTargets } from '../../lib/routing/select';
import { binomialBand, binomialBetween } from '../helpers/binomial';
import { seededRandom } from '../helpers/random';

const DRAWS = 4000;
/** a correct implementation fails one band with at most this probability */
const ALPHA = 1e-6;

function firstPicks(targets: LoadedTarget[], loads: Map<string, number>, seed: number): Map<string, number> {
  const random = seededRandom(seed);
  const counts = new Map<string, number>(targets.map((t) => [t.id, 0]));
  for (let i = 0; i < DRAWS; i += 1) {
    const first = orderLeastLoaded(targets, loads, random)[0];
    counts.set(first.id, (counts.get(first.id) ?? 0) + 1);
  }
  return counts;
}

/** Each target's first-pick count must lie in the exact binomial band of its expected share. */
function expectShares(counts: Map<string, number>, expected: Record<string, number>): void {
  for (const [id, p] of Object.entries(expected).filter(([, share]) => share > 0)) {
    const { lo, hi } = binomialBand(DRAWS, p, ALPHA);
    const got = counts.get(id) ?? 0;
    if (got < lo || got > hi)
      throw new Error(`${id}: ${String(got)} first picks of ${String(DRAWS)}, expected ${String(lo)}..${String(hi)} (share ${String(p)})`);
  }
}

/** The chance that a wrong split (shares `wrong`) would pass every band meant for `expected`: must be negligible. */
function chanceWrongPasses(expected: Record<string, number>, wrong: Record<string, number>): number {
  let chance = 1;
  for (const [id, p] of Object.entries(expected).filter(([, share]) => share > 0)) {
    const { lo, hi } = binomialBand(DRAWS, p, ALPHA);
    chance = Math.min(chance, binomialBetween(DRAWS, lo, hi, wrong[id]));
  }
  return chance;
}

describe('effectiveWeight', () => {
  it('with maxCalls: weight × free fraction, 0 once full', () => {
    expect(effectiveWeight({ id: 'a', priority: 1, weight: 60, maxCalls: 100 }, 0)).toBe(60);
    expect(effectiveWeight({ id: 'a', priority: 1, weight: 60, maxCalls: 100 }, 25)).toBe(45);
    expect(effectiveWeight({ id: 'a', priority: 1, weight: 60, maxCalls: 100 }, 100)).toBe(0);
    expect(effectiveWeight({ id: 'a', priority: 1, weight: 60, maxCalls: 100 }, 130)).toBe(0);
  });
  it('without maxCalls (capacity unknown): weight / (1 + load)', () => {
    expect(effectiveWeight({ id: 'a', priority: 1, weight: 40 }, 0)).toBe(40);
    expect(effectiveWeight({ id: 'a', priority: 1, weight: 40 }, 3)).toBe(10);
    expect(effectiveWeight({ id: 'a', priority: 1, weight: 0 }, 0)).toBe(0);
  });
});

describe('orderLeastLoaded (RFC 2782 order on weight × free capacity)', () => {
  // one tier: effective weights 3 × 50/100 = 1.5, 1 × 100/100 = 1, 1 / (1 + 1) = 0.5 → 1/2, 1/3, 1/6
  const pool: LoadedTarget[] = [
    { id: 'big', priority: 10, weight: 3, maxCalls: 100 },
    { id: 'small', priority: 10, weight: 1, maxCalls: 100 },
    { id: 'unknown', priority: 10, weight: 1 },
    { id: 'backup', priority: 20, weight: 1, maxCalls: 10 },
  ];
  const loads = new Map([
    ['big', 50],
    ['small', 0],
    ['unknown', 1],
    ['backup', 0],
  ]);
  const expected = { big: 1 / 2, small: 1 / 3, unknown: 1 / 6, backup: 0 };

  it('splits first picks 1/2 : 1/3 : 1/6 by weight × free capacity, never the backup tier first', () => {
    const counts = firstPicks(pool, loads, 2782);
    expectShares(counts, expected);
    expect(counts.get('backup')).toBe(0);
  });

  it('the bands tell it from a load-blind split (3:1:1) and from an unweighted one (load only: 1/4, 1/2, 1/4)', () => {
    expect(chanceWrongPasses(expected, { big: 3 / 5, small: 1 / 5, unknown: 1 / 5, backup: 0 })).toBeLessThan(1e-9);
    expect(chanceWrongPasses(expected, { big: 1 / 4, small: 1 / 2, unknown: 1 / 4, backup: 0 })).toBeLessThan(1e-9);
    expect(chanceWrongPasses(expected, { big: 1 / 3, small: 1 / 3, unknown: 1 / 3, backup: 0 })).toBeLessThan(1e-9);
  });

  it('an idle pool is split exactly as the weighted strategy splits it', () => {
    const idle = new Map<string, number>();
    const a = seededRandom(9);
    const b = seededRandom(9);
    for (let i = 0; i < 1000; i += 1) expect(orderLeastLoaded(pool, idle, a).map((t) => t.id)).toEqual(orderTargets(pool, b).map((t) => t.id));
  });

  it('a target full by the view goes last in its tier, still before the next tier', () => {
    const full = new Map([...loads, ['big', 100]]);
    const random = seededRandom(5);
    for (let i = 0; i < 500; i += 1) {
      const order = orderLeastLoaded(pool, full, random).map((t) => t.id);
      expect(order.slice(2)).toEqual(['big', 'backup']);
    }
  });

  it('keeps every target once and priority tiers in order, whatever the loads', () => {
    const random = seededRandom(11);
    for (let i = 0; i < 500; i += 1) {
      const heavy = new Map(pool.map((t) => [t.id, Math.floor(random() * 200)]));
      const order = orderLeastLoaded(pool, heavy, random);
      expect(order.map((t) => t.id).sort()).toEqual(pool.map((t) => t.id).sort());
      expect(order[order.length - 1].id).toBe('backup');
    }
  });
});
