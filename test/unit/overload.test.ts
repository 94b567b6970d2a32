import { CallRegistry } from '../../lib/call/registry';
import { EPISODE_QUIET_MS, eventLoopOverloaded, EventLoopMonitor, OverloadGuard, TokenBucket, type OverloadChange } from '../../lib/call/overload';

describe('TokenBucket', () => {
  it('lets a full second of calls through at once, then refills at the rate', () => {
    const b = new TokenBucket(10, 0);
    const burst = Array.from({ length: 15 }, () => b.take(0)).filter(Boolean).length;
    expect(burst).toBe(10);
    expect(b.take(50)).toBe(false); // half a token
    expect(b.take(100)).toBe(true); // one token after 100 ms at 10/s
    expect(b.take(100)).toBe(false);
  });

  it('over a long run admits the rate, not more', () => {
    const b = new TokenBucket(20, 0);
    let taken = 0;
    for (let t = 0; t <= 10000; t += 5) if (b.take(t)) taken += 1; // 200 offers a second
    expect(taken).toBe(20 + 10 * 20); // the first second's bucket, then 20 a second
  });

  it('does not save up more than one second of tokens while idle', () => {
    const b = new TokenBucket(5, 0);
    const after = Array.from({ length: 20 }, () => b.take(60000)).filter(Boolean).length;
    expect(after).toBe(5);
  });
});

describe('eventLoopOverloaded', () => {
  it('turns on above the limit and off only below half of it', () => {
    expect(eventLoopOverloaded(false, 150, 150)).toBe(false);
    expect(eventLoopOverloaded(false, 151, 150)).toBe(true);
    expect(eventLoopOverloaded(true, 100, 150)).toBe(true);
    expect(eventLoopOverloaded(true, 74, 150)).toBe(false);
    expect(eventLoopOverloaded(false, 10000, 0)).toBe(false);
  });
});

describe('OverloadGuard', () => {
  it('refuses at maxSettingUp, reports one change per episode with the number refused', () => {
    const changes: OverloadChange[] = [];
    const g = new OverloadGuard({ maxSettingUp: 2, maxCps: 0, maxEventLoopDelayMs: 0 }, (c) => changes.push(c), 0);
    const t = 10_000;
    expect([g.admit(0, t), g.admit(1, t), g.admit(2, t), g.admit(5, t), g.admit(2, t)]).toEqual([
      undefined,
      undefined,
      'setting-up',
      'setting-up',
      'setting-up',
    ]);
    expect(g.overloaded).toBe(true);
    // hovering at the limit (every other call refused) is the same episode
    expect([g.admit(1, t + 100), g.admit(2, t + 200), g.admit(1, t + 300)]).toEqual([undefined, 'setting-up', undefined]);
    expect(changes).toEqual([{ overloaded: true, cause: 'setting-up' }]);
    // it ends at the first call taken EPISODE_QUIET_MS after the last refusal
    expect(g.admit(1, t + 200 + EPISODE_QUIET_MS - 1)).toBeUndefined();
    expect(g.overloaded).toBe(true);
    expect(g.admit(1, t + 200 + EPISODE_QUIET_MS)).toBeUndefined();
    expect(g.overloaded).toBe(false);
    expect(changes).toEqual([
      { overloaded: true, cause: 'setting-up' },
      { overloaded: false, cause: 'setting-up', refused: 4 },
    ]);
    expect(g.refused).toEqual({ 'setting-up': 4, cps: 0, 'event-loop': 0 });
  });

  it('refuses on event-loop delay before spending a cps token', () => {
    const g = new OverloadGuard({ maxSettingUp: 0, maxCps: 1, maxEventLoopDelayMs: 100 }, () => undefined, 0);
    g.sampleEventLoop(250);
    expect(g.admit(0, 0)).toBe('event-loop');
    g.sampleEventLoop(40);
    expect(g.admit(0, 0)).toBeUndefined(); // the token was not spent on the refused call
    expect(g.admit(0, 0)).toBe('cps');
  });
});

describe('CallRegistry.settingUp', () => {
  it('counts calls not answered yet', () => {
    const r = new CallRegistry();
    const call = (key: string) => ({ key, end: () => Promise.resolve(true) });
    const a = call('a');
    const b = call('b');
    r.add(a);
    r.add(b);
    expect(r.settingUp).toBe(2);
    r.answered(a);
    expect(r.settingUp).toBe(1);
    r.remove(a);
    expect([r.size, r.settingUp]).toEqual([1, 1]);
    r.answered(call('b')); // another object with the same key is not the call here
    expect(r.settingUp).toBe(1);
    r.remove(b);
    expect([r.size, r.settingUp]).toEqual([0, 0]);
  });
});

describe('EventLoopMonitor', () => {
  it("samples the real event loop's delay: a 300 ms block shows in the window's p99", async () => {
    const samples: number[] = [];
    const m = new EventLoopMonitor(150, (ms) => samples.push(ms));
    m.start();
    await new Promise((r) => setTimeout(r, 200));
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // block the loop
    }
    await new Promise((r) => setTimeout(r, 400));
    m.stop();
    expect(Math.max(...samples)).toBeGreaterThanOrEqual(250);
  });
});
