import { compileScannerMatch, DEFAULT_SCANNER_USER_AGENTS } from '../../lib/security/scanners';
import { SourceRate } from '../../lib/security/source-rate';

describe('SourceRate', () => {
  it('lets maxPerSecond calls from one source through in a second, then says over', () => {
    const r = new SourceRate(3);
    expect([0, 10, 20, 30, 40].map((t) => r.hit('10.0.0.1', t))).toEqual([false, false, false, true, true]);
    expect(r.hit('10.0.0.2', 40)).toBe(false); // each source has its own count
    expect(r.hit('10.0.0.1', 1000)).toBe(false); // a new window
  });

  it('is off at 0, and prune forgets sources whose window ended', () => {
    const off = new SourceRate(0);
    expect(Array.from({ length: 100 }, () => off.hit('10.0.0.1', 0)).some(Boolean)).toBe(false);
    const r = new SourceRate(5);
    r.hit('a', 0);
    r.hit('b', 600);
    r.prune(1200);
    expect(r.size).toBe(1);
  });
});

describe('scanner User-Agents', () => {
  const match = compileScannerMatch(DEFAULT_SCANNER_USER_AGENTS);
  it.each(['friendly-scanner', 'sipvicious 0.3.4', 'SIPCLI/v1.8', 'Friendly-Scanner'])('matches %s', (ua) => {
    expect(match(ua)).toBeDefined();
  });
  it.each(['Linphone/5.2', 'Asterisk PBX 20.5.0', 'FreeSWITCH', undefined, ''])('lets %s through', (ua) => {
    expect(match(ua)).toBeUndefined();
  });
  it('matches nothing with an empty list', () => {
    expect(compileScannerMatch([])('friendly-scanner')).toBeUndefined();
  });
});
