import { BUDGET_WINDOW_S, FailoverBudget } from '../../lib/call/failover-budget';

const T0 = 1_700_000_000_000;

/** How many of `n` failovers asked at `at` the budget allows. */
function allowed(b: FailoverBudget, n: number, at: number): number {
  let ok = 0;
  for (let i = 0; i < n; i += 1) if (b.tryFailover(at)) ok += 1;
  return ok;
}

describe('FailoverBudget (retry budget: a share of new calls over 10 s, with a floor per second)', () => {
  it('allows percent of the calls of the window, no more', () => {
    const b = new FailoverBudget({ percent: 20, minPerS: 0 });
    for (let i = 0; i < 1000; i += 1) b.noteCall(T0 + i * 5); // 1000 calls over 5 s
    expect(allowed(b, 500, T0 + 5000)).toBe(200);
  });

  it('the floor: minPerS × the window, even with few calls', () => {
    const b = new FailoverBudget({ percent: 20, minPerS: 10 });
    b.noteCall(T0);
    expect(allowed(b, 500, T0)).toBe(10 * BUDGET_WINDOW_S);
  });

  it('calls and failovers older than the window stop counting', () => {
    const b = new FailoverBudget({ percent: 50, minPerS: 0 });
    for (let i = 0; i < 100; i += 1) b.noteCall(T0);
    expect(allowed(b, 100, T0)).toBe(50);
    // 9 s later both still count: nothing left
    expect(allowed(b, 10, T0 + 9000)).toBe(0);
    // 10 s later the first second has left the window: no calls, no budget; new calls bring it back
    expect(allowed(b, 10, T0 + 10_000)).toBe(0);
    for (let i = 0; i < 10; i += 1) b.noteCall(T0 + 10_500);
    expect(allowed(b, 10, T0 + 10_500)).toBe(5);
    // and after a long silence, nothing stale is left either
    for (let i = 0; i < 10; i += 1) b.noteCall(T0 + 100_000);
    expect(allowed(b, 10, T0 + 100_000)).toBe(5);
  });

  it('reports one episode when it starts refusing, and its count when a failover is allowed again', () => {
    const episodes: Array<[string, number]> = [];
    const b = new FailoverBudget({ percent: 10, minPerS: 0 }, (state, n) => episodes.push([state, n]));
    for (let i = 0; i < 30; i += 1) b.noteCall(T0);
    expect(allowed(b, 10, T0)).toBe(3);
    expect(episodes).toEqual([['spent', 1]]);
    for (let i = 0; i < 30; i += 1) b.noteCall(T0 + 1000);
    expect(allowed(b, 1, T0 + 1000)).toBe(1);
    expect(episodes).toEqual([
      ['spent', 1],
      ['recovered', 7],
    ]);
  });

  it('configure takes new settings and keeps the counts', () => {
    const b = new FailoverBudget({ percent: 0, minPerS: 0 });
    for (let i = 0; i < 10; i += 1) b.noteCall(T0);
    expect(allowed(b, 5, T0)).toBe(0);
    b.configure({ percent: 30, minPerS: 0 });
    expect(allowed(b, 5, T0)).toBe(3);
  });
});
