import { makeKeys } from '../../lib/store/keys';

describe('Redis key builders', () => {
  it('builds the documented key names under the prefix', () => {
    const k = makeKeys('sipd:');
    expect(k.call('abc@host')).toBe('sipd:call:abc@host');
    expect(k.instanceCalls('node-1')).toBe('sipd:instance:node-1:calls');
    expect(k.target('udp:10.0.0.1:5060')).toBe('sipd:target:udp:10.0.0.1:5060');
    expect(k.targets()).toBe('sipd:targets');
    expect(k.targetHealth('udp:10.0.0.1:5060')).toBe('sipd:target:udp:10.0.0.1:5060:health');
    expect(k.targetProbe('udp:10.0.0.1:5060')).toBe('sipd:target:udp:10.0.0.1:5060:probe');
    expect(k.route('inbound')).toBe('sipd:route:inbound');
    expect(k.targetReserved('udp:10.0.0.1:5060')).toBe('sipd:target:udp:10.0.0.1:5060:reserved');
    expect(k.targetStarts('udp:10.0.0.1:5060')).toBe('sipd:target:udp:10.0.0.1:5060:starts');
    expect(k.instance('node-1')).toBe('sipd:instance:node-1');
    expect(k.instances()).toBe('sipd:instances');
    expect(k.totals()).toBe('sipd:totals');
    expect(k.takeoverLock('node-1')).toBe('sipd:takeover:node-1');
    expect(k.fence()).toBe('sipd:fence');
    expect(k.events()).toBe('sipd:events');
    expect(k.control('node-1')).toBe('sipd:control:node-1');
    expect(k.blocked()).toBe('sipd:blocked');
    expect(k.blockedUntil()).toBe('sipd:blocked:until');
  });
  it('uses any prefix, including none', () => {
    expect(makeKeys('').call('x')).toBe('call:x');
    expect(makeKeys('prod:eu:').targets()).toBe('prod:eu:targets');
  });
});
