import { DEFAULTS } from '../../lib/config/schema';
import { decide, groupOutcome, outcomeLabel } from '../../lib/call/failover';

const triggers = DEFAULTS.failoverOn;

describe('decide', () => {
  it.each([408, 500, 502, 503, 504])('fails over on %i by default', (status) => {
    expect(decide({ kind: 'rejected', status, reason: '' }, triggers)).toBe('failover');
  });
  it.each([404, 480, 486, 488, 600, 603])('stops and relays %i', (status) => {
    expect(decide({ kind: 'rejected', status, reason: '' }, triggers)).toBe('stop');
  });
  it('stops at 487 even if configured as a trigger', () => {
    expect(decide({ kind: 'rejected', status: 487, reason: '' }, [487])).toBe('stop');
  });
  it('fails over on timeouts and send errors; stops when the caller cancelled', () => {
    expect(decide({ kind: 'timeout' }, triggers)).toBe('failover');
    expect(decide({ kind: 'send-error', message: 'x', requestFault: false }, triggers)).toBe('failover');
    expect(decide({ kind: 'canceled' }, triggers)).toBe('stop');
    expect(decide({ kind: 'answered' }, triggers)).toBe('answered');
  });
  it('honours a per-route trigger list', () => {
    expect(decide({ kind: 'rejected', status: 486, reason: '' }, [486])).toBe('failover');
    expect(decide({ kind: 'rejected', status: 503, reason: '' }, [486])).toBe('stop');
  });
  it('labels outcomes for counters', () => {
    expect(outcomeLabel({ kind: 'rejected', status: 503, reason: '' })).toBe('503');
    expect(outcomeLabel({ kind: 'timeout' })).toBe('timeout');
    expect(outcomeLabel({ kind: 'send-error', message: '', requestFault: false })).toBe('error');
  });
});

describe('new outcomes', () => {
  it('stops on a ring timeout (another SIParator would ring the same callee) and on a request drachtio refuses to send', () => {
    expect(decide({ kind: 'no-answer' }, triggers)).toBe('stop');
    expect(decide({ kind: 'send-error', message: 'invalid request-uri: x', requestFault: true }, triggers)).toBe('stop');
    expect(outcomeLabel({ kind: 'no-answer' })).toBe('no-answer');
    expect(outcomeLabel({ kind: 'send-error', message: '', requestFault: true })).toBe('request-error');
  });
});

describe('groupOutcome: a parallel group none of whose targets answered', () => {
  const r = (status: number) => ({ kind: 'rejected' as const, status, reason: '' });
  it('prefers a rejection that stops the hunt (486) over failover statuses, whatever the order', () => {
    expect(groupOutcome([r(503), r(486)], triggers)).toEqual(r(486));
    expect(groupOutcome([r(486), r(503)], triggers)).toEqual(r(486));
    // a stopping status above every failover status still wins
    expect(groupOutcome([r(500), r(603)], triggers)).toEqual(r(603));
  });
  it('takes the lowest stopping status when several stop', () => {
    expect(groupOutcome([r(603), r(486), r(404)], triggers)).toEqual(r(404));
  });
  it('stops on a ring timeout even if another leg failed over', () => {
    expect(groupOutcome([r(503), { kind: 'no-answer' }], triggers)).toEqual({ kind: 'no-answer' });
  });
  it('fails over when every leg failed over: the lowest status, else the first outcome', () => {
    expect(groupOutcome([r(503), r(500)], triggers)).toEqual(r(500));
    expect(groupOutcome([{ kind: 'timeout' }, r(503)], triggers)).toEqual(r(503));
    expect(groupOutcome([{ kind: 'timeout' }, { kind: 'timeout' }], triggers)).toEqual({ kind: 'timeout' });
  });
  it('is the answer when a leg answered', () => {
    expect(groupOutcome([{ kind: 'canceled' }, { kind: 'answered' }], triggers)).toEqual({ kind: 'answered' });
  });
});
