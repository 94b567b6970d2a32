import { DEFAULTS } from '../../lib/config/schema';
import { compileHeaderPatterns, copyHeaders } from '../../lib/sip/headers';

describe('header copy policy', () => {
  const request = compileHeaderPatterns(DEFAULTS.requestHeaders);

  it('copies the default set, X- headers by prefix, whatever the case', () => {
    const out = copyHeaders({ 'p-asserted-identity': '<sip:+1@x>', 'x-customer': '42', 'X-Trace': 't', diversion: '<sip:d@x>', 'user-agent': 'ua' }, request);
    expect(out).toEqual({ 'p-asserted-identity': '<sip:+1@x>', 'x-customer': '42', 'X-Trace': 't', diversion: '<sip:d@x>', 'user-agent': 'ua' });
  });

  it('never copies per-leg headers, even when configured', () => {
    const all = compileHeaderPatterns(['*']);
    const out = copyHeaders(
      {
        via: 'v',
        from: 'f',
        to: 't',
        'call-id': 'c',
        cseq: '1 INVITE',
        contact: '<sip:a@b>',
        'max-forwards': '70',
        'content-length': '0',
        route: 'r',
        'record-route': 'rr',
        v: 'compact via',
        i: 'compact call-id',
        'x-ok': '1',
      },
      all,
    );
    expect(out).toEqual({ 'x-ok': '1' });
  });

  it('expands compact forms to long names', () => {
    const m = compileHeaderPatterns(['Subject', 'Supported']);
    expect(copyHeaders({ s: 'hello', k: 'timer' }, m)).toEqual({ subject: 'hello', supported: 'timer' });
  });

  it('leaves out headers not in the policy', () => {
    expect(copyHeaders({ 'x-a': '1', authorization: 'Digest', 'p-foo': 'x' }, request)).toEqual({ 'x-a': '1' });
  });
});
