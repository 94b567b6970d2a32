import SrfBase from 'drachtio-srf';
import {
  DRACHTIO_MAX_INVITE_URI_LENGTH,
  forwardedUser,
  inviteUriTooLong,
  parseRequestUri,
  requestDomain,
  requestUser,
  targetId,
  targetUri,
  USER_PARAMETERS_REJECTED,
} from '../../lib/sip/uri';

describe('parseRequestUri', () => {
  it('splits number portability parameters off the user, not off the URI (issue 6)', () => {
    expect(parseRequestUri('sip:+4940123;npdi;rn=+4940999@ingate.com')).toEqual({
      scheme: 'sip',
      user: '+4940123;npdi;rn=+4940999',
      userBase: '+4940123',
      userParams: ['npdi', 'rn=+4940999'],
      host: 'ingate.com',
      params: [],
      headers: '',
    });
  });

  it('keeps user parameters, URI parameters and port apart', () => {
    expect(parseRequestUri('sip:1234;phone-context=+4940@Gw.Example.com:5070;user=phone;transport=tcp')).toEqual({
      scheme: 'sip',
      user: '1234;phone-context=+4940',
      userBase: '1234',
      userParams: ['phone-context=+4940'],
      host: 'gw.example.com',
      port: 5070,
      params: ['user=phone', 'transport=tcp'],
      headers: '',
    });
    expect(parseRequestUri('sip:+4940123;isub=1234;isub-encoding=nsap-ia5@192.0.2.1')?.userParams).toEqual(['isub=1234', 'isub-encoding=nsap-ia5']);
  });

  it('RFC 4475 §3.1.1.2 (intmeth): the widest user and password the grammar allows', () => {
    const u = parseRequestUri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
    expect(u).toMatchObject({
      user: "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
      userBase: "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/",
      password: "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)",
      host: 'example.com',
    });
  });

  it('RFC 4475 §3.1.1.3 (esc01), §3.1.1.4 (escnull), §3.1.1.9 (semiuri): escapes stay as written', () => {
    expect(parseRequestUri('sip:sips%3Auser%40example.com@example.net')).toMatchObject({ user: 'sips%3Auser%40example.com', host: 'example.net' });
    expect(parseRequestUri('sip:null-%00-null@example.com')).toMatchObject({ user: 'null-%00-null', host: 'example.com' });
    expect(parseRequestUri('sip:user;par=u%40example.net@example.com')).toMatchObject({
      user: 'user;par=u%40example.net',
      userBase: 'user',
      userParams: ['par=u%40example.net'],
      host: 'example.com',
    });
    // an escaped ';' is part of the user's name, not a parameter separator
    expect(parseRequestUri('sip:+4940123%3bnpdi@example.com')).toMatchObject({ user: '+4940123%3bnpdi', userBase: '+4940123%3bnpdi', userParams: [] });
  });

  it('RFC 4475 §3.1.1.1 (wsinv), §3.1.2.11 (escruri, accepted liberally): parameters and headers', () => {
    expect(parseRequestUri('sip:vivekg@chair-dnrc.example.com;unknownparam')).toMatchObject({ host: 'chair-dnrc.example.com', params: ['unknownparam'] });
    expect(parseRequestUri('sip:user@example.com?Route=%3Csip:example.com%3E')).toMatchObject({ host: 'example.com', headers: 'Route=%3Csip:example.com%3E' });
  });

  it('RFC 5118: IPv6 references', () => {
    expect(parseRequestUri('sip:[2001:db8::10]')).toMatchObject({ host: '2001:db8::10' });
    expect(parseRequestUri('sip:[2001:db8::10]:5070')).toMatchObject({ host: '2001:db8::10', port: 5070 });
    // §4.3: legal, one address whose last group is 5070, and no port
    const ambiguous = parseRequestUri('sip:[2001:db8::10:5070]');
    expect(ambiguous).toMatchObject({ host: '2001:db8::10:5070' });
    expect(ambiguous?.port).toBeUndefined();
    expect(parseRequestUri('sip:user@[2001:DB8::192.0.2.1]')).toMatchObject({ host: '2001:db8::192.0.2.1' }); // §4.10
  });

  it('scheme in any case, sips:, passwords, tel:', () => {
    expect(parseRequestUri('SIP:Alice@Example.COM')).toMatchObject({ scheme: 'sip', user: 'Alice', host: 'example.com' });
    expect(parseRequestUri('sips:bob@example.com')).toMatchObject({ scheme: 'sips', user: 'bob' });
    expect(parseRequestUri('sip:user:secret@example.com')).toMatchObject({ user: 'user', password: 'secret', host: 'example.com' });
    expect(parseRequestUri('tel:+49-40-123;npdi;rn=+4940999')).toEqual({
      scheme: 'tel',
      user: '+49-40-123;npdi;rn=+4940999',
      userBase: '+49-40-123',
      userParams: ['npdi', 'rn=+4940999'],
      host: '',
      params: [],
      headers: '',
    });
    expect(parseRequestUri('TEL:7042;phone-context=example.com')).toMatchObject({ scheme: 'tel', userBase: '7042', userParams: ['phone-context=example.com'] });
  });

  it.each([
    ['<sip:user@example.com>', 'RFC 4475 §3.1.2.7 (ltgtruri): brackets'],
    ['sip:user@example.com; lr', 'RFC 4475 §3.1.2.8 (lwsruri): whitespace'],
    ['sip:user@example.com;', 'empty parameter'],
    ['sip:2001:db8::10', 'RFC 5118 §4.2: IPv6 without brackets'],
    ['sip:[2001:db8:::192.0.2.1]', 'RFC 5118 §4.10: three colons'],
    ['sip:[2001:db8::10', 'unclosed ['],
    ['sip:user@[fe80::1%25eth0]', 'zone id'],
    ['sip:1234', 'no host: 1234 is neither a host name nor an IPv4 address'],
    ['sip:1234@', 'empty host'],
    ['sip:a@b@example.com', 'two @'],
    ['sip:a@example.com;x=@b', '@ in a parameter'],
    ['sip:user@example.com?Subject', 'header without "="'],
    ['sip:us er@example.com', 'space in user'],
    ['sip:user%4@example.com', 'broken escape'],
    ['sip:user@example.com:50x', 'port not a number'],
    ['sip:user@-example.com', 'label starting with -'],
    ['sip:user@example.123', 'numeric top label'],
    ['sip:user:pa:ss@example.com', 'colon in password'],
    ['tel:', 'empty tel'],
    ['tel:+', 'tel without digits'],
    ['isbn:2983792873', 'unknown scheme'],
    ['garbage', 'no scheme'],
  ])('refuses %j (%s)', (uri) => {
    expect(parseRequestUri(uri)).toBeUndefined();
  });
});

describe('requestDomain', () => {
  it.each([
    ['sip:alice@Ingate.COM', 'ingate.com'],
    ['sip:alice@ingate.com:5060;transport=udp', 'ingate.com'],
    ['sips:bob@sub.example.com?subject=x', 'sub.example.com'],
    ['sip:+15551234@10.10.10.10', '10.10.10.10'],
    ['sip:alice@[2001:db8::1]:5060', '2001:db8::1'],
    ['sip:ingate.com', 'ingate.com'],
    ['sip:ingate.com.', 'ingate.com'],
    ['SIP:+4940123@INGATE.com', 'ingate.com'],
    // issue 6: user parameters used to leave the domain empty
    ['sip:+49401;npdi;rn=+4940@ingate.com', 'ingate.com'],
    ['sip:+4940123;npdi;rn=+4940999@ingate.com;user=phone', 'ingate.com'],
    ['sip:1234;phone-context=+4940@ingate.com', 'ingate.com'],
    ['sip:user;par=u%40example.net@example.com', 'example.com'],
    ['sip:[2001:db8::10:5070]', '2001:db8::10:5070'],
    ['sip:1234', ''],
    ['sip:1234@', ''],
    ['tel:+15551234', ''],
    ['garbage', ''],
    ['<sip:a@x.org>', ''],
  ])('%s -> %j', (uri, domain) => {
    expect(requestDomain(uri)).toBe(domain);
  });
});

describe('requestUser', () => {
  it.each([
    ['sip:+4940123@ingate.com', '+4940123'],
    ['sip:ingate.com', ''],
    // issue 6: the parameters are part of the user
    ['sip:+4940123;npdi;rn=+4940999@ingate.com', '+4940123;npdi;rn=+4940999'],
    ['sip:+49401;npdi;rn=+4940@ingate.com', '+49401;npdi;rn=+4940'],
    ['sip:1234;phone-context=+4940@ingate.com;user=phone', '1234;phone-context=+4940'],
    ['sip:+4940123;isub=12@ingate.com', '+4940123;isub=12'],
    ['sip:user:secret@example.com', 'user'],
    ['sip:%75se%72@example.com', '%75se%72'],
    ['tel:+4940123;phone-context=+49', '+4940123;phone-context=+49'],
    ['<sip:a@x.org>', ''],
  ])('%s -> %j', (uri, user) => {
    expect(requestUser(uri)).toBe(user);
  });
});

describe('forwardedUser', () => {
  const user = '+4940123;npdi;rn=+4940999';

  it('forward: the user with its parameters', () => {
    expect(forwardedUser(user, 'forward')).toEqual({ user, stripped: [] });
  });

  it('strip: the user up to its first ";", and what was removed', () => {
    expect(forwardedUser(user, 'strip')).toEqual({ user: '+4940123', stripped: ['npdi', 'rn=+4940999'] });
    expect(forwardedUser('1234;phone-context=+4940', 'strip')).toEqual({ user: '1234', stripped: ['phone-context=+4940'] });
  });

  it('reject: 403, never a status that sends the caller elsewhere', () => {
    expect(forwardedUser(user, 'reject')).toEqual({ reject: { status: 403, reason: 'User Parameters Not Accepted' } });
    expect(USER_PARAMETERS_REJECTED.status).toBe(403);
  });

  it.each(['forward', 'strip', 'reject'] as const)('%s: a user without parameters goes as it is', (policy) => {
    expect(forwardedUser('+4940123', policy)).toEqual({ user: '+4940123', stripped: [] });
    expect(forwardedUser('', policy)).toEqual({ user: '', stripped: [] });
    // an escaped ';' is no parameter separator
    expect(forwardedUser('a%3Bb', policy)).toEqual({ user: 'a%3Bb', stripped: [] });
  });
});

describe('targetUri / targetId', () => {
  it('keeps the caller user and adds the transport', () => {
    expect(targetUri({ host: '10.0.0.1', port: 5060, transport: 'udp' }, '1234')).toBe('sip:1234@10.0.0.1:5060');
    expect(targetUri({ host: 'sbc.example.com', port: 5061, transport: 'tls' }, '1234')).toBe('sips:1234@sbc.example.com:5061;transport=tls');
    expect(targetUri({ host: '10.0.0.1', port: 5080, transport: 'tcp' }, '')).toBe('sip:10.0.0.1:5080;transport=tcp');
    expect(targetUri({ host: '2001:db8::5', port: 5060, transport: 'udp' }, 'a')).toBe('sip:a@[2001:db8::5]:5060');
  });

  it('escapes ";", "?" and "," in the user, which drachtio-server refuses unescaped and unescapes before sending', () => {
    const t = { host: '10.0.0.1', port: 5060, transport: 'udp' } as const;
    expect(targetUri(t, '+4940123;npdi;rn=+4940999')).toBe('sip:+4940123%3Bnpdi%3Brn=+4940999@10.0.0.1:5060');
    expect(targetUri({ ...t, transport: 'tcp' }, '1234;phone-context=+4940')).toBe('sip:1234%3Bphone-context=+4940@10.0.0.1:5060;transport=tcp');
    expect(targetUri(t, 'crazy?,/;;*&+$=')).toBe('sip:crazy%3F%2C/%3B%3B*&+$=@10.0.0.1:5060');
    // escapes the caller wrote are left alone
    expect(targetUri(t, 'sips%3Auser%40example.com')).toBe('sip:sips%3Auser%40example.com@10.0.0.1:5060');
  });

  it.each([
    [{ host: '10.0.0.1', port: 5060, transport: 'udp' }, '+4940123;npdi;rn=+4940999'],
    [{ host: 'sbc.example.com', port: 5061, transport: 'tls' }, '1234;phone-context=+4940'],
    [{ host: '2001:db8::5', port: 5080, transport: 'tcp' }, 'crazy?,/;;*&+$='],
  ] as const)('gives %j a URI that drachtio-srf parses as it is (createUAC rewrites one it cannot parse)', (target, user) => {
    const uri = targetUri(target, user);
    const escaped = user.replace(/;/g, '%3B').replace(/\?/g, '%3F').replace(/,/g, '%2C');
    expect(parseRequestUri(uri)).toMatchObject({ user: escaped, userParams: [], port: target.port });
    expect(SrfBase.parseUri(uri)).toMatchObject({ user: escaped, port: target.port });
  });

  it('builds stable target ids', () => {
    expect(targetId({ host: '10.0.0.1', port: 5060, transport: 'udp' })).toBe('udp:10.0.0.1:5060');
    expect(targetId({ host: '2001:db8::5', port: 5060, transport: 'tcp' })).toBe('tcp:[2001:db8::5]:5060');
  });
});

describe('drachtio-server limits', () => {
  const target = { host: '10.0.0.1', port: 5060, transport: 'udp' } as const;
  // `sip:` + user + `@10.0.0.1:5060` (14)
  const userOf = (uriLength: number) => '+49' + '1'.repeat(uriLength - 'sip:+49'.length - '@10.0.0.1:5060'.length);

  it('an INVITE Request-URI may be 497 characters: "INVITE <uri> SIP/2.0" fills the 512 drachtio-server keeps', () => {
    expect(DRACHTIO_MAX_INVITE_URI_LENGTH).toBe(512 - 'INVITE '.length - ' SIP/2.0'.length);
    expect(targetUri(target, userOf(497))).toHaveLength(497);
    expect(inviteUriTooLong(targetUri(target, userOf(497)))).toBe(false);
    expect(inviteUriTooLong(targetUri(target, userOf(498)))).toBe(true);
  });
});
