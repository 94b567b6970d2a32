import {
  EMPTY_PROBE_RUN,
  firstReturn,
  isUsable,
  NO_END,
  probeResult,
  stepProbe,
  type ProbeResult,
  type ProbeRun,
  type TargetState,
} from '../../lib/routing/health';

const T = { downAfter: 3, upAfter: 2 };
const NOW = 1_000_000;
const ok: ProbeResult = { alive: true };
const fail = (label = 'timeout'): ProbeResult => ({ alive: false, label });

/** Runs results through stepProbe from `run`, with the state each transition leaves (down: NO_END; up: none). */
function run(results: ProbeResult[], state?: TargetState, start: ProbeRun = EMPTY_PROBE_RUN) {
  let r = start;
  let s = state;
  const transitions: string[] = [];
  for (const res of results) {
    const step = stepProbe(r, res, s, NOW, T);
    r = step.run;
    if (step.transition?.kind === 'down') s = { state: 'down', until: NO_END, cause: step.transition.cause };
    if (step.transition?.kind === 'up') s = undefined;
    if (step.transition) transitions.push(step.transition.kind === 'down' ? `down:${step.transition.cause}` : `up:${step.transition.cause}`);
  }
  return { run: r, state: s, transitions };
}

describe('probeResult: which replies count as alive', () => {
  it('any final response but the dead statuses is alive; no reply and a send error are failures', () => {
    expect(probeResult({ status: 200 }, [408, 503])).toEqual({ alive: true });
    expect(probeResult({ status: 404 }, [408, 503])).toEqual({ alive: true });
    expect(probeResult({ status: 405 }, [408, 503])).toEqual({ alive: true });
    expect(probeResult({ status: 503 }, [408, 503])).toEqual({ alive: false, label: '503' });
    expect(probeResult({ status: 408 }, [408, 503])).toEqual({ alive: false, label: '408' });
    expect(probeResult('timeout', [])).toEqual({ alive: false, label: 'timeout' });
    expect(probeResult('error', [])).toEqual({ alive: false, label: 'error' });
    expect(probeResult({ status: 500 }, [500])).toEqual({ alive: false, label: '500' });
  });
});

describe('stepProbe: the probe state machine', () => {
  it('an up target goes down after downAfter failures in a row, with their labels as the cause', () => {
    const r = run([fail(), fail(), fail('503')]);
    expect(r.transitions).toEqual(['down:3 probe failures (timeout,timeout,503)']);
    expect(r.run).toEqual(EMPTY_PROBE_RUN);
  });

  it('a success in between starts the failure run again', () => {
    expect(run([fail(), fail(), ok, fail(), fail()]).transitions).toEqual([]);
    expect(run([fail(), fail(), ok, fail(), fail(), fail()]).transitions).toEqual(['down:3 probe failures (timeout,timeout,timeout)']);
  });

  it('a down target comes back after upAfter alive probes in a row, not after one', () => {
    const down: TargetState = { state: 'down', until: NO_END, cause: '3 probe failures (timeout,timeout,timeout)' };
    expect(run([ok], down).transitions).toEqual([]);
    expect(run([ok, fail(), ok], down).transitions).toEqual([]);
    expect(run([ok, ok], down).transitions).toEqual(['up:3 probe failures (timeout,timeout,timeout)']);
  });

  it('a target marked down passively (while probed) is brought back by probes the same way', () => {
    const passive: TargetState = { state: 'down', until: NO_END, cause: '3 consecutive failures (timeout,timeout,timeout)' };
    expect(run([ok, ok], passive).transitions).toEqual(['up:3 consecutive failures (timeout,timeout,timeout)']);
  });

  it('a down target whose fixed end has passed counts as up: failures mark it down again', () => {
    const over: TargetState = { state: 'down', until: NOW - 1, cause: 'x' };
    expect(run([fail(), fail(), fail()], over).transitions).toHaveLength(1);
    expect(run([ok, ok], over).transitions).toEqual([]);
  });

  it('a quarantine in force is not ended early nor turned into down by probes', () => {
    const q: TargetState = { state: 'quarantined', until: NOW + 5000, cause: '503 Retry-After 5' };
    expect(run([ok, ok, ok], q).transitions).toEqual([]);
    const r = run([fail(), fail(), fail(), fail()], q);
    expect(r.transitions).toEqual([]);
    expect(r.run.failures).toBe(4);
    // once it has run out, the next failure (the run is long enough) marks it down
    expect(stepProbe(r.run, fail(), { ...q, until: NOW - 1 }, NOW, T).transition).toEqual({
      kind: 'down',
      cause: '5 probe failures (timeout,timeout,timeout)',
    });
  });

  it('a drained target is never changed by probes', () => {
    const d: TargetState = { state: 'draining', until: NO_END, cause: 'operator drain' };
    expect(run([fail(), fail(), fail(), fail(), ok, ok, ok], d).transitions).toEqual([]);
  });

  it('keeps only the last downAfter labels', () => {
    const q: TargetState = { state: 'quarantined', until: NOW + 5000, cause: 'q' };
    expect(run([fail('a'), fail('b'), fail('c'), fail('d')], q).run.labels).toEqual(['b', 'c', 'd']);
  });
});

describe('states with no end', () => {
  it('are never usable, and count as lasting openEndedMs for the Retry-After', () => {
    const states = new Map<string, TargetState>([
      ['a', { state: 'down', until: NO_END, cause: 'x' }],
      ['b', { state: 'draining', until: NO_END, cause: 'operator drain' }],
    ]);
    expect(isUsable(states.get('a'), NOW + 1e12)).toBe(false);
    expect(firstReturn([{ id: 'a' }, { id: 'b' }], states, NOW, 10000)).toBe(NOW + 10000);
    // a quarantine that ends sooner wins
    states.set('c', { state: 'quarantined', until: NOW + 3000, cause: 'q' });
    expect(firstReturn([{ id: 'a' }, { id: 'c' }], states, NOW, 10000)).toBe(NOW + 3000);
    expect(new Date(NO_END).toISOString()).toBe('+275760-09-13T00:00:00.000Z');
  });
});
