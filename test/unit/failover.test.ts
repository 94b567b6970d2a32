import { DEFAULTS } from '../../lib/config/schema';
import { decide, outcomeLabel } from '../../lib/call/failover';

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
