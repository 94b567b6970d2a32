/**
 * The Request-URI of a request an app sends outside a dialog (emulator by default, the real binary
 * when DRACHTIO_BIN is set; both must pass): what drachtio-server refuses (`NOK|invalid request-uri: …`,
 * `Error creating leg`), the 512-byte start line, and the canonical form sofia-sip puts on the wire
 * (escaped user characters unescaped in the Request-URI and in the To header built from it).
 * Source: src/sip-dialog-controller.cpp doSendRequestOutsideDialog (~500-610), src/drachtio.cpp
 * normalizeSipUri (~369-415), sip-dialog-controller.hpp START_LEN, sofia-sip url.c url_d.
 */
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { nameAddrD, normalizeSipUri, requestLineOk, sipAddrCanonical, urlD, urlE } from './sofia-url';
import { RawApp, UdpPeer, authenticate, makeResponse, rnd } from './test-utils';

const SECRET = 'ruri-secret';
const HOST = '127.0.0.1';

describe('sofia-url (pure)', () => {
  const canon = (u: string) => {
    const d = urlD(u);
    return d && urlE(d);
  };

  it('url_d unescapes in a SIP user what may stand there unescaped, keeps (upper-cased) the rest', () => {
    expect(canon('sip:+4940123%3Bnpdi%3Brn=+4940999@10.0.0.1:5060')).toBe('sip:+4940123;npdi;rn=+4940999@10.0.0.1:5060');
    expect(canon('sip:a%3b%3f%2c%2f%26%3d%2b%24%25%3a%40%20%41%2d%7e%5b@h')).toBe('sip:a;?,/&=+$%25%3A%40%20A-~%5B@h');
    expect(canon('sip:u@h;foo=%2f%3a%41?X=%41%3b')).toBe('sip:u@h;foo=/:A?X=A%3B');
    expect(canon('sip:a%zz@h')).toBeUndefined();
    // in place, sofia checks unescaped characters only after the first '%'
    expect(canon('sip:a<b@h')).toBe('sip:a<b@h');
    expect(canon('sip:a%3B<b@h')).toBeUndefined();
    expect(canon('sip:@h')).toBe('sip:@h');
    expect(canon('sip:u@')).toBeUndefined();
    expect(canon('sip:u@[::1]:5060')).toBe('sip:u@[::1]:5060');
    expect(canon('sip:u@h:50x')).toBeUndefined();
    // not a SIP URL: the user is canonized with "&=+$,;" allowed (url.c USER_UNRESERVED)
    expect(canon('tel:+4940%3B1%2F;npdi')).toBe('tel:+4940;1%2F;npdi');
  });

  it('sip_name_addr_d ends an addr-spec at , ; ? and reads display names and header parameters', () => {
    const cutOff = nameAddrD('sip:+4940123;npdi@h');
    expect(cutOff).toMatchObject({ url: { host: '+4940123' }, params: ['npdi'], rest: '@h' });
    expect(cutOff?.url.user).toBeUndefined();
    expect(nameAddrD('"A B" <sip:a@h;lr>;tag=x')).toMatchObject({ display: '"A B"', url: { user: 'a', params: 'lr' }, params: ['tag=x'], rest: '' });
    expect(nameAddrD('Bob  <sip:a@h>')).toMatchObject({ display: 'Bob', rest: '' });
    expect(nameAddrD('<sip:a@h')).toBeUndefined();
  });

  it('normalizeSipUri refuses a user cut off by ; ? , and re-encodes without brackets', () => {
    expect(normalizeSipUri('sip:+4940123;npdi;rn=+4940999@h')).toBeUndefined();
    expect(normalizeSipUri('sip:+4940123?x@h')).toBeUndefined();
    expect(normalizeSipUri('sip:+4940123,x@h')).toBeUndefined();
    expect(normalizeSipUri('sip:+4940123%3Bnpdi@h:5060;transport=udp')).toBe('sip:+4940123;npdi@h:5060;transport=udp');
    expect(normalizeSipUri('sip:u@h;transport=udp?X=y')).toBe('sip:u@h;transport=udp');
  });

  it('sip_request_make: known method (exact case), URL of a known type, a version', () => {
    expect(requestLineOk('INVITE sip:u@h SIP/2.0')).toBe(true);
    expect(requestLineOk('INVITE sip:u@h SIP/2.')).toBe(true);
    expect(requestLineOk('INVITE sip:u@h SIP/2')).toBe(true);
    expect(requestLineOk('INVITE sip:u@h SIP/')).toBe(false);
    expect(requestLineOk('INVITE sip:u@h')).toBe(false);
    expect(requestLineOk('invite sip:u@h SIP/2.0')).toBe(false);
    expect(requestLineOk('INVITE <sip:u@h> SIP/2.0')).toBe(false);
    expect(requestLineOk('INVITE foo:bar SIP/2.0')).toBe(false);
  });

  it('sip_addr_d + sip_addr_e: To/From always bracketed, nothing may follow', () => {
    expect(sipAddrCanonical('sip:x%3By@h;transport=udp')).toBe('<sip:x;y@h>;transport=udp');
    expect(sipAddrCanonical('"Bob" <sip:a%3Bb@h;foo=%2f>;tag=abc')).toBe('"Bob" <sip:a;b@h;foo=/>;tag=abc');
    expect(sipAddrCanonical('sip:a@h?X=y')).toBeUndefined();
    expect(sipAddrCanonical('<sip:a@h>, <sip:b@h>')).toBeUndefined();
  });
});

describe(`request-uri of app requests (${process.env.DRACHTIO_BIN ? 'real drachtio-server' : 'emulator'})`, () => {
  let server: DrachtioServer;
  let peer: UdpPeer;
  let app: RawApp;

  beforeAll(async () => {
    server = await startDrachtio({ secret: SECRET, loglevel: 'error' });
    peer = await new UdpPeer().start();
    app = new RawApp(server.adminPort);
    expect((await authenticate(app, SECRET))[0]).toBe('OK');
  });
  afterAll(async () => {
    app?.close();
    await peer?.close();
    await server?.stop();
  });

  /** app sends `<startLine>` outside a dialog; returns drachtio's answer and the message on the wire, if any */
  async function send(startLine: string, headers: string[] = []): Promise<{ tokens: string[]; echo: string; wire?: string }> {
    const callId = `${rnd()}@test`;
    const id = app.send(`sip||\r\n${startLine}\r\nCall-ID: ${callId}\r\n${headers.map((h) => h + '\r\n').join('')}\r\n`);
    const r = await app.response(id);
    if (r.tokens[0] !== 'OK') {
      // nothing may reach the network
      await new Promise((res) => setTimeout(res, 200));
      expect(peer.inbox.all.some((m) => m.msg.callId === callId)).toBe(false);
      return { tokens: r.tokens, echo: '' };
    }
    const got = await peer.next((m) => m.msg.callId === callId && m.msg.method !== undefined, 5000, `request ${callId}`);
    // end the INVITE transaction (drachtio ACKs the 486)
    peer.send(makeResponse(got.msg, 486, 'Busy Here', { toTag: rnd() }), got.from.port);
    return { tokens: r.tokens, echo: r.sip, wire: got.raw };
  }
  const to = (raw = '') => raw.split('\r\n').find((l) => /^(?:to|t):/i.test(l));
  const firstLine = (raw = '') => raw.split('\r\n')[0];
  const target = () => `${HOST}:${peer.port}`;

  it('refuses a Request-URI whose user holds an unescaped ; ? or , with `invalid request-uri: <uri>`', async () => {
    for (const user of ['+4940123;npdi;rn=+4940999', '+4940123?x', '+4940123,x']) {
      const uri = `sip:${user}@${target()}`;
      const r = await send(`INVITE ${uri} SIP/2.0`);
      expect(r.tokens).toEqual(['NOK', `invalid request-uri: ${uri}`]);
    }
  });

  it('refuses an angle-bracketed Request-URI with `invalid request-uri: <request line>`', async () => {
    const line = `INVITE <sip:+4940123@${target()}> SIP/2.0`;
    expect((await send(line)).tokens).toEqual(['NOK', `invalid request-uri: ${line}`]);
  });

  it('sends an escaped user unescaped in the Request-URI and in the To it builds from it', async () => {
    const r = await send(`INVITE sip:+4940123%3Bnpdi%3Brn=+4940999@${target()} SIP/2.0`);
    expect(r.tokens[0]).toBe('OK');
    expect(firstLine(r.wire)).toBe(`INVITE sip:+4940123;npdi;rn=+4940999@${target()} SIP/2.0`);
    expect(to(r.wire)).toBe(`To: <sip:+4940123;npdi;rn=+4940999@${target()}>`);
    // the `Msg sent:` echo is the message on the wire
    expect(firstLine(r.echo)).toBe(firstLine(r.wire));
    expect(to(r.echo)).toBe(to(r.wire));
  });

  it('url_d canonical form: %3B %3F %2C %2F %26 %3D %2B %24 and unreserved unescaped, %25 %3A %40 %20 %5B kept upper-case', async () => {
    const r = await send(`INVITE sip:a%3B%3F%2C%2F%26%3D%2B%24%25%3a%40%20%41%2d%7e%5b@${target()} SIP/2.0`);
    expect(r.tokens[0]).toBe('OK');
    expect(firstLine(r.wire)).toBe(`INVITE sip:a;?,/&=+$%25%3A%40%20A-~%5B@${target()} SIP/2.0`);
    expect(to(r.wire)).toBe(`To: <sip:a;?,/&=+$%25%3A%40%20A-~%5B@${target()}>`);
  });

  it('To: an app-given one is canonicalised too; one built from a Request-URI with parameters has them after the brackets', async () => {
    const a = await send(`INVITE sip:+4940123%3Bnpdi@${target()} SIP/2.0`, [`To: sip:x%3By@${target()}`]);
    expect(firstLine(a.wire)).toBe(`INVITE sip:+4940123;npdi@${target()} SIP/2.0`);
    expect(to(a.wire)).toBe(`To: <sip:x;y@${target()}>`);
    const b = await send(`INVITE sip:%61bc@${target()};foo=%2f%3a%41 SIP/2.0`);
    expect(firstLine(b.wire)).toBe(`INVITE sip:abc@${target()};foo=/:A SIP/2.0`);
    expect(to(b.wire)).toBe(`To: <sip:abc@${target()}>;foo=%2f%3a%41`);
    // a To that sip_addr_d refuses: the leg is not created
    expect((await send(`INVITE sip:a@${target()} SIP/2.0`, [`To: sip:a@${target()}?X=y`])).tokens).toEqual(['NOK', 'Error creating leg']);
  });

  it('keeps 512 bytes of the start line: cut inside "SIP/2.0" still parses, cut before "SIP/2" is refused with the cut line', async () => {
    const uriOf = (len: number) => {
      const tail = `@${target()}`;
      return `sip:${'a'.repeat(len - 4 - tail.length)}${tail}`;
    };
    // 497: the start line is exactly 512
    const ok = await send(`INVITE ${uriOf(497)} SIP/2.0`);
    expect(ok.tokens[0]).toBe('OK');
    expect(firstLine(ok.wire)).toBe(`INVITE ${uriOf(497)} SIP/2.0`);
    // 499: cut to "… SIP/2", which sip_version_d still takes for a version (the wire says SIP/2.0)
    const cut = await send(`INVITE ${uriOf(499)} SIP/2.0`);
    expect(cut.tokens[0]).toBe('OK');
    expect(firstLine(cut.wire)).toBe(`INVITE ${uriOf(499)} SIP/2.0`);
    // 500 ("… SIP/") and longer: refused, the message quoting the first 512 characters
    for (const len of [500, 600]) {
      const line = `INVITE ${uriOf(len)} SIP/2.0`;
      expect((await send(line)).tokens).toEqual(['NOK', `invalid request-uri: ${line.slice(0, 512)}`]);
    }
  });

  it('refuses an unknown or lower-case method, a missing version and a bad escape with the request line', async () => {
    for (const line of [
      `FOO sip:a@${target()} SIP/2.0`,
      `invite sip:a@${target()} SIP/2.0`,
      `INVITE sip:a@${target()}`,
      `INVITE sip:a%zz@${target()} SIP/2.0`,
    ]) {
      expect((await send(line)).tokens).toEqual(['NOK', `invalid request-uri: ${line}`]);
    }
  });
});
