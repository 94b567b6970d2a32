import { CallRegistry, type Endable } from '../../lib/call/registry';

const call = (key: string): Endable => ({ key, end: () => Promise.resolve(true) });

describe('CallRegistry: calls setting up, and those waiting for a first answer', () => {
  it('a provisional answer takes a call out of waiting, not out of setting up; an answer out of both', () => {
    const r = new CallRegistry();
    const [a, b, c] = [call('a'), call('b'), call('c')];
    for (const x of [a, b, c]) r.add(x);
    expect([r.settingUp, r.waiting]).toEqual([3, 3]);
    r.heard(a);
    r.heard(a);
    expect([r.settingUp, r.waiting]).toEqual([3, 2]);
    r.answered(a);
    expect([r.settingUp, r.waiting]).toEqual([2, 2]);
    r.answered(b);
    r.heard(b); // a late 18x after the answer changes nothing
    expect([r.settingUp, r.waiting]).toEqual([1, 1]);
    r.heard(c);
    r.remove(c);
    r.remove(a);
    expect([r.size, r.settingUp, r.waiting]).toEqual([1, 0, 0]);
    // a call not (or no longer) here is not counted
    r.heard(call('gone'));
    expect(r.waiting).toBe(0);
  });
});
