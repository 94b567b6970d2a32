import {
  EMPTY_RUN,
  failureCause,
  firstReturn,
  healthSignal,
  parseRetryAfter,
  selectableTargets,
  stepFailureRun,
  usableTargets,
  type FailureRun,
  type TargetState,
} from '../../lib/routing/health';

describe('parseRetryAfter (RFC 3261 §20.33: delta-seconds [comment] *(;retry-param))', () => {
  it.each([
    ['5', 5],
    ['  120 ', 120],
    ['18000;duration=3600', 3600],
    ['30 (Server maintenance)', 30],
    ['30(maintenance);duration=10', 30],
    ['0', 0],
    ['3600', 3600],
    ['3601', 3600],
    ['99999999999999999999999', 3600],
  ])('%j → %j (cap 3600)', (value, expected) => {
    expect(parseRetryAfter(value, 3600)).toBe(expected);
  });
  it.each([[undefined], [''], ['soon'], ['-5'], ['5s'], ['1.5'], ['(comment) 5']])('%j → undefined', (value) => {
    expect(parseRetryAfter(value, 3600)).toBeUndefined();
  });
});

describe('healthSignal', () => {
  const max = 60;
  it('503 with a positive Retry-After quarantines, capped', () => {
    expect(healthSignal({ kind: 'rejected', status: 503, reason: 'x' }, '5', max)).toEqual({ kind: 'quarantine', seconds: 5, cause: '503 Retry-After 5' });
    expect(healthSignal({ kind: 'rejected', status: 503, reason: 'x' }, '600;duration=1', max)).toEqual({
      kind: 'quarantine',
      seconds: 60,
      cause: '503 Retry-After 60',
    });
  });
  it('503 without (or with a zero or unparsable) Retry-After is a failure', () => {
    for (const ra of [undefined, '0', 'later'])
      expect(healthSignal({ kind: 'rejected', status: 503, reason: 'x' }, ra, max)).toEqual({ kind: 'failure', label: '503' });
  });
  it("timeouts and send errors that are not the request's fault are failures; answers are successes", () => {
    expect(healthSignal({ kind: 'timeout' }, undefined, max)).toEqual({ kind: 'failure', label: 'timeout' });
    expect(healthSignal({ kind: 'send-error', message: 'x', requestFault: false }, undefined, max)).toEqual({ kind: 'failure', label: 'error' });
    expect(healthSignal({ kind: 'answered' }, undefined, max)).toEqual({ kind: 'success' });
  });
  it('other outcomes say nothing about the target', () => {
    expect(healthSignal({ kind: 'send-error', message: 'x', requestFault: true }, undefined, max)).toEqual({ kind: 'none' });
    expect(healthSignal({ kind: 'rejected', status: 486, reason: 'Busy' }, '5', max)).toEqual({ kind: 'none' });
    expect(healthSignal({ kind: 'rejected', status: 500, reason: 'x' }, '5', max)).toEqual({ kind: 'none' });
    expect(healthSignal({ kind: 'canceled' }, undefined, max)).toEqual({ kind: 'none' });
    expect(healthSignal({ kind: 'no-answer' }, undefined, max)).toEqual({ kind: 'none' });
  });
});

describe('usableTargets / firstReturn', () => {
  const targets = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
  const now = 1_000_000;
  const states = new Map<string, TargetState>([
    ['a', { state: 'quarantined', until: now + 5000, cause: '503 Retry-After 5' }],
    ['b', { state: 'down', until: now, cause: '3 consecutive failures (timeout,timeout,timeout)' }],
  ]);
  it('skips targets out of selection and keeps the order of the rest; a state whose until has come counts as up', () => {
    expect(usableTargets(targets, states, now).map((t) => t.id)).toEqual(['b', 'c']);
    expect(usableTargets(targets, states, now - 1).map((t) => t.id)).toEqual(['c']);
    expect(usableTargets(targets, new Map(), now)).toEqual(targets);
    expect(usableTargets(targets, states, now + 5000).map((t) => t.id)).toEqual(['a', 'b', 'c']);
  });
  it('all out: the first return is the earliest until', () => {
    const all = new Map(states);
    all.set('b', { state: 'down', until: now + 3000, cause: 'x' });
    all.set('c', { state: 'down', until: now + 9000, cause: 'x' });
    expect(usableTargets(targets, all, now)).toEqual([]);
    expect(firstReturn(targets, all, now)).toBe(now + 3000);
    expect(firstReturn(targets, states, now)).toBe(now);
  });
});

describe('selectableTargets (panic mode)', () => {
  const now = 1_000_000;
  const ids = (xs: { id: string }[]): string[] => xs.map((t) => t.id);
  const down = (until = NO_END_FOR_TEST): TargetState => ({ state: 'down', until, cause: 'x' });
  const NO_END_FOR_TEST = now + 60_000;
  const four = [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }];

  it('half or more usable: only the usable ones, no panic', () => {
    const states = new Map([
      ['a', down()],
      ['b', down()],
    ]);
    expect(selectableTargets(four, states, now, 50)).toEqual({ targets: [{ id: 'c' }, { id: 'd' }], panic: false });
  });

  it('fewer than panicBelowPercent usable: the down ones are tried too, in their given order', () => {
    const states = new Map([
      ['a', down()],
      ['b', down()],
      ['c', down()],
    ]);
    const r = selectableTargets(four, states, now, 50);
    expect(r.panic).toBe(true);
    expect(ids(r.targets)).toEqual(['a', 'b', 'c', 'd']);
    // every target down: all of them
    expect(ids(selectableTargets(four, new Map([...states, ['d', down()]]), now, 50).targets)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('quarantined and drained targets are never tried, panic or not', () => {
    const states = new Map<string, TargetState>([
      ['a', { state: 'quarantined', until: now + 5000, cause: '503 Retry-After 5' }],
      ['b', { state: 'draining', until: now + 60_000, cause: 'operator' }],
      ['c', down()],
    ]);
    const r = selectableTargets(four, states, now, 50);
    expect(r).toEqual({ targets: [{ id: 'c' }, { id: 'd' }], panic: true });
    // nothing down to add: no panic, only the usable one
    const noDown = new Map(states);
    noDown.delete('c');
    noDown.set('d', { state: 'quarantined', until: now + 5000, cause: 'q' });
    expect(selectableTargets(four, noDown, now, 50)).toEqual({ targets: [{ id: 'c' }], panic: false });
    // every target quarantined: none
    const allQ = new Map<string, TargetState>(four.map((t) => [t.id, { state: 'quarantined', until: now + 5000, cause: 'q' }]));
    expect(selectableTargets(four, allQ, now, 50)).toEqual({ targets: [], panic: false });
  });

  it('panicBelowPercent 0 turns it off; 100 panics as soon as one target is down', () => {
    const one = new Map([['a', down()]]);
    expect(selectableTargets(four, new Map([...one, ['b', down()], ['c', down()], ['d', down()]]), now, 0)).toEqual({ targets: [], panic: false });
    expect(selectableTargets(four, one, now, 100)).toEqual({ targets: four, panic: true });
    expect(selectableTargets(four, one, now, 75)).toEqual({ targets: [{ id: 'b' }, { id: 'c' }, { id: 'd' }], panic: false });
    // a down state whose until has come is up
    expect(selectableTargets(four, new Map([['a', down(now)]]), now, 100)).toEqual({ targets: four, panic: false });
  });
});

describe('stepFailureRun (passive health counter)', () => {
  const fail = (label = 'timeout') => ({ kind: 'failure' as const, label });
  function run(events: Array<'F' | 'S'>, threshold: number): { run: FailureRun; downs: string[] } {
    let r = EMPTY_RUN;
    const downs: string[] = [];
    for (const e of events) {
      const next = stepFailureRun(r, e === 'F' ? fail() : { kind: 'success' }, threshold);
      r = next.run;
      if (next.down) downs.push(next.down);
    }
    return { run: r, downs };
  }
  it('marks down at the threshold-th failure in a row, and starts a new run', () => {
    expect(run(['F', 'F'], 3)).toEqual({ run: { count: 2, labels: ['timeout', 'timeout'] }, downs: [] });
    expect(run(['F', 'F', 'F'], 3)).toEqual({ run: EMPTY_RUN, downs: ['3 consecutive failures (timeout,timeout,timeout)'] });
    expect(run(['F', 'F', 'F', 'F', 'F', 'F'], 3).downs).toHaveLength(2);
  });
  it('a success resets the run', () => {
    expect(run(['F', 'F', 'S', 'F', 'F'], 3)).toEqual({ run: { count: 2, labels: ['timeout', 'timeout'] }, downs: [] });
  });
  it('threshold 0 never marks down', () => {
    expect(run(Array<'F'>(50).fill('F'), 0).downs).toEqual([]);
  });
  it('a failure while out of selection is not counted; the cause lists the labels', () => {
    expect(stepFailureRun({ count: 2, labels: ['a', 'b'] }, fail(), 3, true)).toEqual({ run: { count: 2, labels: ['a', 'b'] } });
    expect(stepFailureRun({ count: 1, labels: ['503'] }, fail('error'), 2).down).toBe('2 consecutive failures (503,error)');
    expect(failureCause({ count: 1, labels: ['timeout'] })).toBe('1 consecutive failures (timeout)');
  });
});
