import { requestDomain, requestUser, targetId, targetUri } from '../../lib/sip/uri';

describe('requestDomain', () => {
  it.each([
    ['sip:alice@Ingate.COM', 'ingate.com'],
    ['sip:alice@ingate.com:5060;transport=udp', 'ingate.com'],
    ['sips:bob@sub.example.com?subject=x', 'sub.example.com'],
    ['sip:+15551234@10.10.10.10', '10.10.10.10'],
    ['sip:alice@[2001:db8::1]:5060', '2001:db8::1'],
    ['sip:ingate.com', 'ingate.com'],
    ['sip:1234', ''],
    ['sip:1234@', ''],
    ['tel:+15551234', ''],
    ['garbage', ''],
    ['<sip:a@x.org>', 'x.org'],
  ])('%s -> %j', (uri, domain) => {
    expect(requestDomain(uri)).toBe(domain);
  });
});

describe('requestUser', () => {
  it('returns the user part or empty', () => {
    expect(requestUser('sip:+4940123@ingate.com')).toBe('+4940123');
    expect(requestUser('sip:ingate.com')).toBe('');
  });
});

describe('targetUri / targetId', () => {
  it('keeps the caller user and adds the transport', () => {
    expect(targetUri({ host: '10.0.0.1', port: 5060, transport: 'udp' }, '1234')).toBe('sip:1234@10.0.0.1:5060');
    expect(targetUri({ host: 'sbc.example.com', port: 5061, transport: 'tls' }, '1234')).toBe('sips:1234@sbc.example.com:5061;transport=tls');
    expect(targetUri({ host: '10.0.0.1', port: 5080, transport: 'tcp' }, '')).toBe('sip:10.0.0.1:5080;transport=tcp');
    expect(targetUri({ host: '2001:db8::5', port: 5060, transport: 'udp' }, 'a')).toBe('sip:a@[2001:db8::5]:5060');
  });
  it('builds stable target ids', () => {
    expect(targetId({ host: '10.0.0.1', port: 5060, transport: 'udp' })).toBe('udp:10.0.0.1:5060');
    expect(targetId({ host: '2001:db8::5', port: 5060, transport: 'tcp' })).toBe('tcp:[2001:db8::5]:5060');
  });
});
