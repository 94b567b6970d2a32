/**
 * A BYE sent by an app OUTSIDE a dialog, built from stored dialog data (emulator by default, the real
 * binary when DRACHTIO_BIN is set; both must pass): drachtio-server keeps the app's Call-ID, From (with
 * its tag), To (with the peer's tag) and CSeq number, so the peer takes it for the BYE of its dialog.
 * That is how sip-dispatcher ends calls whose dialogs a restarted drachtio-server lost
 * (lib/cluster/reconnect.ts). Source: sip-dialog-controller.cpp doSendRequestOutsideDialog
 * (nta_leg_tcreate with the app's From/To/Call-ID, nta_leg_tag(leg, NULL)), sofia nta.c
 * nta_msg_request_complete (CSeq), sip_basic.c sip_cseq_d, sip_time.c sip_now.
 */
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { createSrf, type Dialog, type Srf } from '../../lib/drachtio/srf';
import { dialogExists } from '../../lib/cluster/adopted-call';
import { LOST_DIALOG_CSEQ, lostLegOf, sendByeOutsideDialog, withTag } from '../../lib/cluster/reconnect';
import { appCSeq, sofiaInitialSeq } from './emulator';
import type { AppHeader } from './headers';
import { RawApp, SDP, UdpPeer, authenticate, makeRequest, makeResponse, rnd } from './test-utils';

const SECRET = 'bye-secret';
const HOST = '127.0.0.1';
const hdr = (name: string, value: string): AppHeader => ({ name, lname: name.toLowerCase(), value });

describe('CSeq of app requests outside a dialog (pure)', () => {
  it("sofia's initial CSeq: (seconds since 1900 >> 1) & 0x7ffffff", () => {
    // measured on v0.9.10: an INVITE sent at 1796245953 s (Unix) carried CSeq 123569184
    expect(sofiaInitialSeq(1796245953_000)).toBe(123569184);
    expect(sofiaInitialSeq(1796245953_999)).toBe(123569184);
    expect(sofiaInitialSeq(1796245955_000)).toBe(123569185);
  });

  it('sip_cseq_d: a uint32, LWS, a method token; the bad one is located', () => {
    expect(appCSeq([])).toEqual({});
    expect(appCSeq([hdr('CSeq', '2147483647 BYE')])).toEqual({ seq: 2147483647 });
    expect(appCSeq([hdr('CSeq', '4294967295 BYE')])).toEqual({ seq: 4294967295 });
    expect(appCSeq([hdr('CSeq', '0 BYE')])).toEqual({ seq: 0 });
    expect(appCSeq([hdr('CSeq', '77 INVITE')])).toEqual({ seq: 77 });
    expect(appCSeq([hdr('X-A', 'a'), hdr('CSeq', 'abc BYE')])).toEqual({ bad: 1 });
    expect(appCSeq([hdr('CSeq', '42')])).toEqual({ bad: 0 });
    expect(appCSeq([hdr('CSeq', '4294967296 BYE')])).toEqual({ bad: 0 });
  });

  it('withTag sets the tag of a name-addr or an addr-spec', () => {
    expect(withTag('<sip:a@h>', 'x')).toBe('<sip:a@h>;tag=x');
    expect(withTag('"A" <sip:a@h;transport=udp>;tag=old;p=1', 'x')).toBe('"A" <sip:a@h;transport=udp>;p=1;tag=x');
    expect(withTag('sip:a@h;tag=y', 'y')).toBe('<sip:a@h>;tag=y');
    expect(withTag('sip:a@h', 'x')).toBe('<sip:a@h>;tag=x');
  });
});

describe(`BYE outside a dialog (${process.env.DRACHTIO_BIN ? 'real drachtio-server' : 'emulator'})`, () => {
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

  const line = (raw: string, name: string) => raw.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

  /** the app sends a BYE outside any dialog with these headers; returns it as the peer got it (answered 200) */
  async function bye(headers: string[]): Promise<string> {
    const callId = `${rnd()}@test`;
    const id = app.send(`sip||\r\nBYE sip:peer@${HOST}:${String(peer.port)} SIP/2.0\r\nCall-ID: ${callId}\r\n${headers.map((h) => h + '\r\n').join('')}\r\n`);
    expect((await app.response(id)).tokens[0]).toBe('OK');
    const got = await peer.next((m) => m.msg.callId === callId && m.msg.method === 'BYE', 5000, `BYE ${callId}`);
    peer.send(makeResponse(got.msg, 200, 'OK'), got.from.port);
    return got.raw;
  }

  it("keeps the app's From tag, To tag and CSeq number", async () => {
    const raw = await bye(['From: <sip:me@127.0.0.1>;tag=mytag', 'To: <sip:peer@127.0.0.1>;tag=peertag', `CSeq: ${String(LOST_DIALOG_CSEQ)} BYE`]);
    expect(line(raw, 'From')).toBe('From: <sip:me@127.0.0.1>;tag=mytag');
    expect(line(raw, 'To')).toBe('To: <sip:peer@127.0.0.1>;tag=peertag');
    expect(line(raw, 'CSeq')).toBe('CSeq: 2147483647 BYE');
    // 0 and the uint32 maximum are kept too
    expect(line(await bye(['From: <sip:me@127.0.0.1>;tag=a', 'CSeq: 0 BYE']), 'CSeq')).toBe('CSeq: 0 BYE');
    expect(line(await bye(['From: <sip:me@127.0.0.1>;tag=a', 'CSeq: 4294967295 BYE']), 'CSeq')).toBe('CSeq: 4294967295 BYE');
  });

  it("CSeq: the request's method replaces the app's; none or an unparseable one gives sofia's own, and drops the app headers after it", async () => {
    expect(line(await bye(['CSeq: 77 INVITE']), 'CSeq')).toBe('CSeq: 77 BYE');
    const within = async (headers: string[]) => {
      const before = sofiaInitialSeq();
      const raw = await bye(headers);
      const seq = Number(/^CSeq: (\d+) BYE$/.exec(line(raw, 'CSeq') ?? '')?.[1]);
      expect(seq).toBeGreaterThanOrEqual(before);
      expect(seq).toBeLessThanOrEqual(sofiaInitialSeq());
      return raw;
    };
    await within([]);
    const bad = await within(['X-Before: b', 'CSeq: abc BYE', 'X-After: a', 'Subject: s']);
    expect(line(bad, 'X-Before')).toBe('X-Before: b');
    expect(line(bad, 'X-After')).toBeUndefined();
    expect(line(bad, 'Subject')).toBeUndefined();
    expect(line(await within(['CSeq: 42', 'X-After: a']), 'X-After')).toBeUndefined();
    expect(line(await within(['CSeq: 4294967296 BYE', 'X-After: a']), 'X-After')).toBeUndefined();
  });

  it('after a restart the dialog is gone (local probe ENODIALOG, the peer gets 481), and a BYE outside the dialog reaches the peer as the BYE of its dialog', async () => {
    const srf: Srf = createSrf();
    let connects = 0;
    srf.on('connect', (err) => {
      if (!err) connects += 1;
    });
    srf.on('error', () => undefined);
    srf.connect({ host: HOST, port: server.adminPort, secret: SECRET, reconnect: { retryMaxDelay: 200 } });
    const waitFor = async (cond: () => boolean, what: string) => {
      for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
      if (!cond()) throw new Error(`timed out waiting for ${what}`);
    };
    let uasP: Promise<Dialog> | undefined;
    srf.invite((req, res) => {
      uasP = srf.createUAS(req, res, { localSdp: SDP });
    });
    try {
      await waitFor(() => connects === 1, 'connect');
      // a dialog where the app is UAS: the peer calls in
      const inbound = makeRequest('INVITE', { port: peer.port, target: server.sipPort, body: SDP });
      peer.send(inbound.raw, server.sipPort);
      const ok = await peer.nextResponse(200, 5000, 'INVITE');
      await waitFor(() => uasP !== undefined, 'the INVITE at the app');
      const uas: Dialog = await (uasP as Promise<Dialog>);
      peer.send(
        makeRequest('ACK', { port: peer.port, target: server.sipPort, callId: inbound.callId, fromTag: inbound.fromTag, toTag: ok.msg.toTag }).raw,
        server.sipPort,
      );
      // a dialog where the app is UAC: it calls the peer
      const toTag = rnd();
      const uacP = srf.createUAC(`sip:peer@${HOST}:${String(peer.port)}`, { localSdp: SDP }, {});
      const inv = await peer.nextRequest('INVITE');
      peer.send(makeResponse(inv.msg, 200, 'OK', { toTag, contactPort: peer.port, body: SDP }), inv.from.port);
      const uac: Dialog = await uacP;
      await peer.nextRequest('ACK');
      expect(await dialogExists(srf, uac.id)).toBe(true);
      expect(await dialogExists(srf, uas.id)).toBe(true);

      await server.restart();
      await waitFor(() => connects === 2, 'reconnect');
      expect(await dialogExists(srf, uac.id)).toBe(false);
      expect(await dialogExists(srf, uas.id)).toBe(false);

      // the peer's BYE to the restarted server: no dialog, 481
      const peerBye = makeRequest('BYE', { port: peer.port, target: server.sipPort, callId: uac.sip.callId, fromTag: toTag, toTag: uac.sip.localTag, cseq: 2 });
      peer.send(peerBye.raw, server.sipPort);
      expect((await peer.nextResponse(481, 5000, 'BYE')).msg.callId).toBe(uac.sip.callId);

      // our BYE, from the stored dialog data
      const leg = lostLegOf(uac, 'uac');
      let final = 0;
      await sendByeOutsideDialog(srf, leg, (s) => {
        final = s;
      });
      const got = await peer.nextRequest('BYE');
      expect(got.raw.split('\r\n')[0]).toBe(`BYE sip:peer@${HOST}:${String(peer.port)} SIP/2.0`);
      expect(got.msg.callId).toBe(uac.sip.callId);
      expect(got.msg.fromTag).toBe(uac.sip.localTag);
      expect(got.msg.toTag).toBe(toTag);
      expect(got.msg.cseq).toEqual({ seq: LOST_DIALOG_CSEQ, method: 'BYE' });
      expect(got.msg.cseq.seq).toBeGreaterThan(inv.msg.cseq.seq);
      peer.send(makeResponse(got.msg, 200, 'OK'), got.from.port);
      await waitFor(() => final === 200, 'the 200 to the BYE');

      // the caller's leg: From is the URI it called with our tag (the To tag of our 200), To is its From
      final = 0;
      await sendByeOutsideDialog(srf, lostLegOf(uas, 'uas'), (st) => {
        final = st;
      });
      const got2 = await peer.nextRequest('BYE');
      expect(got2.raw.split('\r\n')[0]).toBe(`BYE sip:tester@${HOST}:${String(peer.port)} SIP/2.0`);
      expect(got2.msg.callId).toBe(inbound.callId);
      expect(got2.msg.get('from')).toBe(`<sip:service@${HOST}:${String(server.sipPort)}>;tag=${String(ok.msg.toTag)}`);
      expect(got2.msg.get('to')).toBe(`<sip:tester@${HOST}:${String(peer.port)}>;tag=${inbound.fromTag}`);
      expect(got2.msg.cseq).toEqual({ seq: LOST_DIALOG_CSEQ, method: 'BYE' });
      peer.send(makeResponse(got2.msg, 200, 'OK'), got2.from.port);
      await waitFor(() => final === 200, 'the 200 to the second BYE');
    } finally {
      srf.disconnect();
    }
  }, 30000);
});
