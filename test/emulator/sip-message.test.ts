/** Unit tests of the emulator's SIP message model and app-header handling (makeTags rules). */
import { capitalizeAfterDash, parseAppHeaders } from './headers';
import { SipMessage, getTag, headerErrorPhrase, parseNameAddr, parseUri, parseVia, replaceHostInNameAddr, splitCommaList } from './sip-message';
import { stampTopVia } from './transactions';

describe('SipMessage', () => {
  it('parses requests with compact and folded headers, counts Content-Length in bytes', () => {
    const body = 'héllo';
    const raw =
      'MESSAGE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nv: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n' +
      'f: "A, B" <sip:a@example.com>;tag=abc\r\nt: <sip:bob@example.com>\r\ni: cid\r\nCSeq: 7 MESSAGE\r\nSubject: one\r\n two\r\n' +
      `c: text/plain\r\nl: ${Buffer.byteLength(body)}\r\n\r\n${body}trailing-garbage`;
    const m = SipMessage.parse(raw);
    expect(m.method).toBe('MESSAGE');
    expect(m.callId).toBe('cid');
    expect(m.cseq).toEqual({ seq: 7, method: 'MESSAGE' });
    expect(m.fromTag).toBe('abc');
    expect(m.toTag).toBeUndefined();
    expect(m.branch).toBe('z9hG4bK1');
    expect(m.getAll('via')).toHaveLength(2);
    expect(m.get('subject')).toBe('one two');
    expect(m.body).toBe(body);
    expect(m.toString()).toContain(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });

  it('parses responses and rejects garbage', () => {
    expect(SipMessage.parse('SIP/2.0 183 Session Progress\r\n\r\n').status).toBe(183);
    expect(() => SipMessage.parse('hello world\r\n\r\n')).toThrow();
  });

  it('name-addr, URI, Via helpers', () => {
    expect(getTag('<sip:a@b;tag=uri-param>;tag=hdr')).toBe('hdr');
    expect(getTag('sip:a@b;tag=x')).toBe('x');
    expect(parseNameAddr('"Al" <sip:al@h:5080;transport=udp>;tag=1')).toMatchObject({ display: '"Al"', uri: 'sip:al@h:5080;transport=udp' });
    expect(parseUri('sip:al@10.0.0.1:5080;transport=udp')).toMatchObject({ user: 'al', host: '10.0.0.1', port: 5080 });
    expect(parseUri('sip:10.0.0.1')).toMatchObject({ host: '10.0.0.1', port: undefined });
    expect(parseVia('SIP/2.0/UDP 1.2.3.4:5062;rport;branch=z9hG4bKx')).toMatchObject({ host: '1.2.3.4', port: 5062 });
    expect(splitCommaList('<sip:a@b>;x="1,2", <sip:c@d>')).toEqual(['<sip:a@b>;x="1,2"', '<sip:c@d>']);
    expect(replaceHostInNameAddr('"Bob" <sip:123@localhost>;tag=9', '127.0.0.1', 5070)).toBe('"Bob" <sip:123@127.0.0.1:5070>;tag=9');
    expect(replaceHostInNameAddr('sip:123@localhost', '127.0.0.1', 5070)).toBe('<sip:123@127.0.0.1:5070>');
  });

  it('header errors as sofia-sip flags them, with the 400 reason phrase drachtio-server v0.9.10 sends', () => {
    const invite = (extra: string, cseq = '1 INVITE', mf = '70') =>
      SipMessage.parse(
        `INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: ${cseq}\r\nMax-Forwards: ${mf}\r\n${extra}\r\n`,
      );
    expect(headerErrorPhrase(invite(''))).toBeUndefined();
    expect(headerErrorPhrase(invite('X-Repeat: 1\r\nX-Repeat: 2\r\nP-Asserted-Identity: <sip:a@b>\r\nP-Asserted-Identity: <sip:c@d>\r\n'))).toBeUndefined();
    expect(headerErrorPhrase(invite('i: c2\r\n'))).toBe('Bad Call-ID Header'); // compact form of a second Call-ID
    expect(headerErrorPhrase(invite('To: <sip:z@b>\r\n'))).toBe('Bad To Header');
    expect(headerErrorPhrase(invite('Expires: 1\r\nExpires: 2\r\n'))).toBe('Bad Expires Header');
    expect(headerErrorPhrase(invite('Subject: a\r\nSubject: b\r\n'))).toBe('Bad Request');
    // a line that is not `token ":"` (checked against drachtio-server v0.9.10: 400 Bad Request)
    expect(headerErrorPhrase(invite('From <sip: nobody\r\n'))).toBe('Bad Request');
    expect(headerErrorPhrase(invite(': no name\r\n'))).toBe('Bad Request');
    expect(headerErrorPhrase(invite('X-Spaced : ok\r\n'))).toBeUndefined();
    expect(headerErrorPhrase(invite('', 'one INVITE'))).toBe('Bad CSeq Header');
    expect(headerErrorPhrase(invite('', '1 INVITE', 'lots'))).toBe('Bad Request');
    expect(headerErrorPhrase(invite('Content-Length: many\r\n'))).toBe('Bad Content-Length Header');
  });

  it('stamps received/rport on the top Via (NTATAG_SERVER_RPORT(2))', () => {
    const m = SipMessage.parse('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1, SIP/2.0/UDP p;branch=z9hG4bK0\r\ni: c\r\n\r\n');
    stampTopVia(m, { address: '192.0.2.1', port: 40000 });
    expect(m.getAll('via')[0]).toBe('SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1;received=192.0.2.1;rport=40000');
    expect(m.getAll('via')).toHaveLength(2);
  });
});

describe('app headers (makeTags)', () => {
  it('drops immutable headers, replaces @localhost in address headers, capitalises custom names', () => {
    const hdrs = parseAppHeaders(
      'Via: SIP/2.0/UDP evil\r\nRecord-Route: <sip:x>\r\nContent-Length: 99\r\nFrom: <sip:alice@localhost>\r\n' +
        'Contact: sip:alice@localhost\r\nSubject: localhost@localhost\r\nx-my-header: v\r\nbad header: nope\r\n',
      { localhost: { host: '127.0.0.1', port: 5090 } },
    );
    expect(hdrs.map((h) => h.name)).toEqual(['From', 'Contact', 'Subject', 'X-My-Header']);
    expect(hdrs[0].value).toBe('<sip:alice@127.0.0.1:5090>');
    expect(hdrs[1].value).toBe('<sip:alice@127.0.0.1:5090>');
    expect(hdrs[2].value).toBe('localhost@localhost');
  });

  it('safe tags (CANCEL) cannot carry From/To/Contact/P-Asserted-Identity', () => {
    const hdrs = parseAppHeaders('From: <sip:a@b>\r\nReason: Q.850;cause=16\r\nP-Asserted-Identity: <sip:c@d>\r\n', { safe: true });
    expect(hdrs.map((h) => h.name)).toEqual(['Reason']);
  });

  it('capitalizeAfterDash', () => {
    expect(capitalizeAfterDash('x-callerID-foo')).toBe('X-CallerID-Foo');
  });
});
