/**
 * Wire-format tests of the drachtio-server emulator, using raw admin-protocol frames and the
 * real drachtio-srf client.
 */
import { FrameDecoder, encodeFrame } from './framing';
import { startEmulator, type EmulatorHandle } from './emulator';
import { SipMessage } from './sip-message';
import { connectSrf, type SrfDialog, type SrfLike, type SrfMsg, type SrfReq, type SrfRes } from './srf-types';
import { RawApp, SDP, UdpPeer, authenticate, makeRequest, makeResponse, rnd } from './test-utils';

const SECRET = 'wire-secret';

describe('framing', () => {
  it('encodes the byte length of the UTF-8 payload', () => {
    const payload = 'abc|é€😀';
    const f = encodeFrame(payload);
    const len = Buffer.byteLength(payload, 'utf8');
    expect(f.toString('utf8')).toBe(`${len}#${payload}`);
    expect(len).toBe(4 + 2 + 3 + 4);
  });

  it('decodes frames split anywhere and several frames per chunk', () => {
    const msgs = ['uuid1|response|a|OK', 'uuid2|sip|x|y\r\nINVITE sip:é@h SIP/2.0\r\n\r\n', 'z😀z'];
    const all = Buffer.concat(msgs.map(encodeFrame));
    for (let cut = 1; cut < all.length; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      expect(out).toEqual(msgs);
    }
    // byte by byte
    const d = new FrameDecoder();
    const out: string[] = [];
    for (const b of all) out.push(...d.push(Buffer.from([b])));
    expect(out).toEqual(msgs);
  });

  it('rejects an invalid length specifier', () => {
    expect(() => new FrameDecoder().push(Buffer.from('abc#def'))).toThrow();
    expect(() => new FrameDecoder().push(Buffer.from('1234567'))).toThrow();
  });
});

describe('admin protocol (raw client)', () => {
  let emu: EmulatorHandle;
  let peer: UdpPeer;
  const apps: RawApp[] = [];
  const newApp = () => {
    const a = new RawApp(emu.adminPort);
    apps.push(a);
    return a;
  };

  beforeAll(async () => {
    emu = await startEmulator({ secret: SECRET, loglevel: 'silent' });
    peer = await new UdpPeer().start();
  });
  afterEach(() => {
    for (const a of apps.splice(0)) a.close();
  });
  afterAll(async () => {
    await peer.close();
    await emu.close();
  });

  it('authenticate: OK with hostport|version|local hostports, NO + disconnect on a bad secret', async () => {
    const app = newApp();
    const tokens = await authenticate(app, SECRET);
    expect(tokens).toEqual(['OK', `udp/127.0.0.1:${emu.sipPort}`, expect.stringMatching(/^v\d+\.\d+\.\d+/), `udp/127.0.0.1:${emu.sipPort}`]);

    const bad = newApp();
    expect(await authenticate(bad, 'wrong')).toEqual(['NO', 'incorrect secret']);
    await new Promise((r) => setTimeout(r, 100));
    expect(bad.closed).toBe(true);
  });

  it('ping, route, and frames split / coalesced over TCP chunks (with multi-byte UTF-8)', async () => {
    const app = newApp();
    await authenticate(app, SECRET);
    const f1 = encodeFrame('m1|ping');
    const f2 = encodeFrame('m2|route|options');
    const f3 = encodeFrame('m3|route|info');
    const all = Buffer.concat([f1, f2, f3]);
    app.write(all.subarray(0, 2));
    await new Promise((r) => setTimeout(r, 20));
    app.write(all.subarray(2, f1.length + 5));
    await new Promise((r) => setTimeout(r, 20));
    app.write(all.subarray(f1.length + 5));
    expect((await app.response('m1')).tokens).toEqual(['OK', 'pong']);
    expect((await app.response('m2')).tokens).toEqual(['OK']);
    expect((await app.response('m3')).tokens).toEqual(['OK']);

    // an OPTIONS with multi-byte characters reaches the app in one correctly sized frame
    const r = makeRequest('OPTIONS', { port: peer.port, target: emu.sipPort, extra: ['Subject: héllo wörld 😀'] });
    peer.send(r.raw, emu.sipPort);
    const got = await app.sip((t, s) => s.method === 'OPTIONS' && s.callId === r.callId);
    expect(got.sip.get('subject')).toBe('héllo wörld 😀');
    // <uuid>|sip|network|<bytes>|udp|<addr>|<port>|<time>|<txnId>||<recv addr>|<recv port>|
    const t = got.tokens;
    expect(t[1]).toBe('sip');
    expect(t[2]).toBe('network');
    expect(Number(t[3])).toBeGreaterThan(0);
    expect(t.slice(4, 7)).toEqual(['udp', '127.0.0.1', String(peer.port)]);
    expect(t[7]).toMatch(/^\d\d:\d\d:\d\d\.\d{6}$/);
    expect(t[8]).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.slice(9)).toEqual(['', '127.0.0.1', String(emu.sipPort), '']);

    // respond and check the echo: OK|application|bytes|udp|<dest addr>|<dest port>|time|txnId|dialogId||Msg sent:|
    const id = app.send(`sip|${t[8]}|\r\nSIP/2.0 200 OK\r\nX-Custom: 1\r\n\r\n`);
    const echo = await app.response(id);
    expect(echo.tokens[0]).toBe('OK');
    expect(echo.tokens.slice(1, 6)).toEqual(['application', String(Buffer.byteLength(echo.sip)), 'udp', '127.0.0.1', String(peer.port)]);
    expect(echo.tokens.slice(7)).toEqual([t[8], '', '', 'Msg sent:', '']);
    const onWire = await peer.nextResponse(200);
    expect(onWire.raw).toBe(echo.sip);
    expect(onWire.msg.toTag).toBeTruthy();
    expect(onWire.msg.get('x-custom')).toBe('1');
    expect(onWire.msg.get('via')).toContain(`rport=${peer.port}`);
  });

  it('NOK for a response on an unknown transaction and for a request on an unknown dialog', async () => {
    const app = newApp();
    await authenticate(app, SECRET);
    const id1 = app.send(`sip|nope-${rnd()}|\r\nSIP/2.0 200 OK\r\n\r\n`);
    expect((await app.response(id1)).tokens).toEqual(['NOK', 'Response not sent due to unknown transaction']);
    const id2 = app.send(`sip||nope;from-tag=x\r\nINFO sip:placeholder SIP/2.0\r\n\r\n`);
    expect((await app.response(id2)).tokens).toEqual(['NOK', 'Server error: unable to find dialog for dialog id provided']);
    const id3 = app.send(`sip||\r\nINVITE not-a-uri SIP/2.0\r\n\r\n`);
    expect((await app.response(id3)).tokens[0]).toBe('NOK');
  });

  it('503 when no app routes the method; 481 for BYE on an unknown dialog', async () => {
    const inv = makeRequest('INVITE', { port: peer.port, target: emu.sipPort, body: SDP });
    peer.send(inv.raw, emu.sipPort);
    const trying = await peer.nextResponse(100);
    expect(trying.msg.callId).toBe(inv.callId);
    const r503 = await peer.nextResponse(503);
    expect(r503.msg.callId).toBe(inv.callId);
    // retransmission of the INVITE gets the 503 again
    peer.send(inv.raw, emu.sipPort);
    expect((await peer.nextResponse(503)).msg.callId).toBe(inv.callId);

    const bye = makeRequest('BYE', { port: peer.port, target: emu.sipPort, toTag: 'unknown' });
    peer.send(bye.raw, emu.sipPort);
    expect((await peer.nextResponse(481)).msg.callId).toBe(bye.callId);
  });

  it('spreads new requests round-robin across apps that routed the method', async () => {
    const a = newApp();
    const b = newApp();
    for (const app of [a, b]) {
      await authenticate(app, SECRET);
      await app.response(app.send('route|message'));
    }
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = makeRequest('MESSAGE', { port: peer.port, target: emu.sipPort, extra: ['Content-Type: text/plain'] });
      peer.send(r.raw, emu.sipPort);
      await new Promise((res) => setTimeout(res, 150));
      const has = (app: RawApp) => app.hasReceived((m) => m.includes(`Call-ID: ${r.callId}`));
      const winner = has(a) && !has(b) ? 'a' : has(b) && !has(a) ? 'b' : '?';
      seen.push(winner);
    }
    expect(seen).toEqual(['a', 'b', 'a', 'b']);
  });
});

describe('drachtio-srf against the emulator', () => {
  let onInvite: (req: SrfReq, res: SrfRes) => void | Promise<void> = () => undefined;
  let emu: EmulatorHandle;
  let peer: UdpPeer;
  let srf: SrfLike;
  let hostport: string;

  beforeAll(async () => {
    emu = await startEmulator({ secret: SECRET, loglevel: 'silent', t1: 40 });
    peer = await new UdpPeer().start();
    ({ srf, hostport } = await connectSrf(emu.adminPort, SECRET));
    srf.invite((req, res) => void onInvite(req, res));
  });
  beforeEach(() => peer.drain());
  afterAll(async () => {
    srf.disconnect();
    await peer.close();
    await emu.close();
  });

  it('connects and learns the SIP hostport', () => {
    expect(hostport).toBe(`udp/127.0.0.1:${emu.sipPort}`);
  });

  it('delivers a network request with source_address/port/protocol and sends the app response', async () => {
    const got = new Promise<{ req: SrfReq; sent: SrfMsg }>((resolve, reject) => {
      srf.options((req, res) => {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- srf's error, passed on as it came
        res.send(200, { headers: { 'X-App': 'yes' } }, (err, sent) => (err ? reject(err) : resolve({ req, sent })));
      });
    });
    const r = makeRequest('OPTIONS', { port: peer.port, target: emu.sipPort });
    peer.send(r.raw, emu.sipPort);
    const { req, sent } = await got;
    expect(req.source).toBe('network');
    expect(req.source_address).toBe('127.0.0.1');
    expect(req.source_port).toBe(peer.port);
    expect(req.protocol).toBe('udp');
    expect(req.stackTxnId).toMatch(/^[0-9a-f-]{36}$/);
    expect(req.stackTime).toMatch(/^\d\d:\d\d:\d\d\.\d{6}$/);
    expect(req.receivedOn).toBe(`127.0.0.1:${emu.sipPort}`);
    expect(req.server).toEqual({ address: '127.0.0.1', hostport: `udp/127.0.0.1:${emu.sipPort}` });
    expect(req.get('call-id')).toBe(r.callId);
    const wire = await peer.nextResponse(200);
    expect(wire.msg.get('x-app')).toBe('yes');
    expect(sent.get('call-id')).toBe(r.callId);
  });

  it('fills Via/From tag/Call-ID/CSeq/Max-Forwards and replaces @localhost on app requests', async () => {
    const sent = new Promise<SrfReq>((resolve, reject) =>
      srf.request(`sip:peer@127.0.0.1:${peer.port}`, { method: 'OPTIONS', headers: { From: 'sip:alice@localhost', 'X-Test': 'a' } }, (err, req) =>
        err ? reject(err) : resolve(req),
      ),
    );
    const onWire = await peer.nextRequest('OPTIONS');
    const req = await sent;
    const m = onWire.msg;
    expect(m.get('via')).toMatch(new RegExp(`^SIP/2.0/UDP 127.0.0.1:${emu.sipPort};rport;branch=z9hG4bK`));
    expect(m.get('from')).toMatch(new RegExp(`^<sip:alice@127.0.0.1:${emu.sipPort}>;tag=\\w+`));
    expect(m.get('to')).toBe(`<sip:peer@127.0.0.1:${peer.port}>`);
    expect(m.callId).toBeTruthy();
    expect(m.cseq.method).toBe('OPTIONS');
    expect(m.get('max-forwards')).toBe('70');
    expect(m.get('x-test')).toBe('a');
    expect(req.source).toBe('application');
    expect(req.stackTxnId).toMatch(/^[0-9a-f-]{36}$/);
    const response = new Promise<SrfMsg>((resolve) => req.on('response', (res: SrfMsg) => resolve(res)));
    peer.send(makeResponse(m, 200, 'OK'), emu.sipPort);
    expect((await response).status).toBe(200);
  });

  it('reports a locally generated 408 when a non-INVITE request times out (timer F)', async () => {
    const sent = new Promise<SrfReq>((resolve, reject) =>
      srf.request(`sip:peer@127.0.0.1:${peer.port}`, { method: 'OPTIONS' }, (err, req) => (err ? reject(err) : resolve(req))),
    );
    const first = await peer.nextRequest('OPTIONS');
    const retrans = await peer.nextRequest('OPTIONS');
    expect(retrans.raw).toBe(first.raw);
    const req = await sent;
    const res = await new Promise<SrfMsg>((resolve) => req.on('response', (r: SrfMsg) => resolve(r)));
    expect(res.status).toBe(408);
  });

  it('NOK for an in-dialog request on an unknown dialog surfaces as ENODIALOG', async () => {
    const err = await new Promise<(Error & { code?: string }) | null>((resolve) =>
      srf.request('sip:placeholder', { method: 'INFO', stackDialogId: 'nope;from-tag=x' } as never, (e) => resolve(e)),
    );
    expect(err?.code).toBe('ENODIALOG');
  });

  it('UAS: retransmits the 200 OK until ACK timeout, then BYEs both sides (unsolicited BYE to the app)', async () => {
    const destroyed = new Promise<void>((resolve) => {
      onInvite = async (req, res) => {
        const dlg = await srf.createUAS(req, res, { localSdp: SDP });
        dlg.on('destroy', () => resolve());
      };
    });
    const inv = makeRequest('INVITE', { port: peer.port, target: emu.sipPort, body: SDP });
    peer.send(inv.raw, emu.sipPort);
    await peer.nextResponse(100);
    const ok1 = await peer.nextResponse(200, 5000, 'INVITE');
    const ok2 = await peer.nextResponse(200, 5000, 'INVITE');
    expect(ok2.raw).toBe(ok1.raw);
    expect(ok1.msg.get('contact')).toBe(`<sip:127.0.0.1:${emu.sipPort}>`);
    const bye = await peer.nextRequest('BYE', 10000);
    expect(bye.msg.get('reason')).toBe('SIP ;cause=200 ;text="ACK timeout"');
    expect(bye.msg.callId).toBe(inv.callId);
    expect(bye.msg.get('to')).toContain(inv.fromTag);
    await destroyed;
    peer.send(makeResponse(bye.msg, 200, 'OK'), emu.sipPort);
  });

  it('caller CANCEL: 200 to the CANCEL, 487 to the INVITE, cancel event to the app', async () => {
    const canceled = new Promise<void>((resolve) => {
      onInvite = (req, res) => {
        req.on('cancel', () => resolve());
        res.send(180);
      };
    });
    const inv = makeRequest('INVITE', { port: peer.port, target: emu.sipPort, body: SDP });
    peer.send(inv.raw, emu.sipPort);
    const ringing = await peer.nextResponse(180);
    const cancel = makeRequest('CANCEL', { port: peer.port, target: emu.sipPort, callId: inv.callId, fromTag: inv.fromTag, branch: inv.branch });
    peer.send(cancel.raw, emu.sipPort);
    const ok = await peer.next((r) => r.msg.status === 200 && r.msg.cseq.method === 'CANCEL');
    expect(ok.msg.callId).toBe(inv.callId);
    const r487 = await peer.nextResponse(487);
    expect(r487.msg.toTag).toBe(ringing.msg.toTag);
    await canceled;
    // ACK the 487 (same branch) -> absorbed; no more 487 retransmissions afterwards
    peer.send(
      makeRequest('ACK', { port: peer.port, target: emu.sipPort, callId: inv.callId, fromTag: inv.fromTag, branch: inv.branch, toTag: r487.msg.toTag }).raw,
      emu.sipPort,
    );
  });

  it('UAC: retransmits the INVITE (timer A), app CANCEL is built from the INVITE, 487 is ACKed by the stack', async () => {
    let sentReq: SrfReq | undefined;
    const uac = srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, { localSdp: SDP }, { cbRequest: (_e: unknown, req: SrfReq) => (sentReq = req) });
    const inv1 = await peer.nextRequest('INVITE');
    const inv2 = await peer.nextRequest('INVITE');
    expect(inv2.raw).toBe(inv1.raw);
    expect(inv1.msg.get('contact')).toBe(`<sip:127.0.0.1:${emu.sipPort}>`);
    peer.send(makeResponse(inv1.msg, 180, 'Ringing', { toTag: 'callee1' }), emu.sipPort);
    await new Promise((r) => setTimeout(r, 50));
    sentReq?.cancel();
    const cancel = await peer.nextRequest('CANCEL');
    expect(cancel.msg.branch).toBe(inv1.msg.branch);
    expect(cancel.msg.cseq).toEqual({ seq: inv1.msg.cseq.seq, method: 'CANCEL' });
    expect(cancel.msg.uri).toBe(inv1.msg.uri);
    peer.send(makeResponse(cancel.msg, 200, 'OK'), emu.sipPort);
    peer.send(makeResponse(inv1.msg, 487, 'Request Terminated', { toTag: 'callee1' }), emu.sipPort);
    await expect(uac).rejects.toMatchObject({ status: 487 });
    const ack = await peer.nextRequest('ACK');
    expect(ack.msg.branch).toBe(inv1.msg.branch);
    expect(ack.msg.toTag).toBe('callee1');
  });

  it('UAC: 200 OK -> app ACK to the Contact, in-dialog INFO and BYE use the dialog state', async () => {
    const uac = srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, { localSdp: SDP });
    const inv = await peer.nextRequest('INVITE');
    peer.send(makeResponse(inv.msg, 200, 'OK', { toTag: 'callee2', contactPort: peer.port, body: SDP }), emu.sipPort);
    const dlg = await uac;
    expect(dlg.id).toBe(`${inv.msg.callId};from-tag=${inv.msg.fromTag}`);
    const ack = await peer.nextRequest('ACK');
    expect(ack.msg.uri).toBe(`sip:peer@127.0.0.1:${peer.port}`);
    expect(ack.msg.cseq).toEqual({ seq: inv.msg.cseq.seq, method: 'ACK' });
    expect(ack.msg.branch).not.toBe(inv.msg.branch);
    // 200 retransmission -> ACK retransmitted by the stack
    peer.send(makeResponse(inv.msg, 200, 'OK', { toTag: 'callee2', contactPort: peer.port, body: SDP }), emu.sipPort);
    const ack2 = await peer.nextRequest('ACK');
    expect(ack2.raw).toBe(ack.raw);

    const infoP = dlg.request({ method: 'INFO', headers: { 'Content-Type': 'text/plain' }, body: 'hi' });
    const info = await peer.nextRequest('INFO');
    expect(info.msg.uri).toBe(`sip:peer@127.0.0.1:${peer.port}`);
    expect(info.msg.cseq.seq).toBe(inv.msg.cseq.seq + 1);
    expect(info.msg.toTag).toBe('callee2');
    peer.send(makeResponse(info.msg, 200, 'OK'), emu.sipPort);
    expect((await infoP).status).toBe(200);

    // in-dialog request from the far end reaches the app that owns the dialog
    const gotInfo = new Promise<SrfReq>((resolve) =>
      dlg.on('info', (req: SrfReq, res: { send(s: number): void }) => {
        res.send(200);
        resolve(req);
      }),
    );
    const remoteInfo = makeRequest('INFO', {
      port: peer.port,
      target: emu.sipPort,
      callId: inv.msg.callId,
      fromTag: 'callee2',
      toTag: inv.msg.fromTag,
      cseq: 7,
      extra: ['Content-Type: text/plain'],
    });
    peer.send(remoteInfo.raw, emu.sipPort);
    expect((await gotInfo).stackDialogId).toBe(dlg.id);
    expect((await peer.nextResponse(200, 5000, 'INFO')).msg.callId).toBe(inv.msg.callId);

    const byeP = dlg.destroy();
    const bye = await peer.nextRequest('BYE');
    expect(bye.msg.callId).toBe(inv.msg.callId);
    peer.send(makeResponse(bye.msg, 200, 'OK'), emu.sipPort);
    await byeP;
    // dialog gone: an in-dialog request from the far end now gets 481
    const late = makeRequest('BYE', { port: peer.port, target: emu.sipPort, callId: inv.msg.callId, fromTag: 'callee2', toTag: inv.msg.fromTag, cseq: 8 });
    peer.send(late.raw, emu.sipPort);
    expect((await peer.nextResponse(481)).msg.callId).toBe(inv.msg.callId);
  });

  it('UAS: re-INVITE, INFO and BYE from the caller reach the app owning the dialog (100 Trying on re-INVITE)', async () => {
    const dlgP = new Promise<SrfDialog>((resolve) => {
      onInvite = async (req, res) => resolve(await srf.createUAS(req, res, { localSdp: SDP }));
    });
    const inv = makeRequest('INVITE', { port: peer.port, target: emu.sipPort, body: SDP });
    peer.send(inv.raw, emu.sipPort);
    const ok = await peer.nextResponse(200, 5000, 'INVITE');
    const toTag = ok.msg.toTag ?? '';
    const dlg = await dlgP;
    expect(dlg.id).toBe(`${inv.callId};from-tag=${inv.fromTag}`);
    const acked = new Promise<void>((resolve) => dlg.once('ack', () => resolve()));
    peer.send(makeRequest('ACK', { port: peer.port, target: emu.sipPort, callId: inv.callId, fromTag: inv.fromTag, toTag }).raw, emu.sipPort);
    await acked;

    const modified = new Promise<void>((resolve) =>
      dlg.once('modify', (_req: SrfReq, res: SrfRes) => {
        res.send(200, { body: SDP });
        resolve();
      }),
    );
    const reinv = makeRequest('INVITE', { port: peer.port, target: emu.sipPort, callId: inv.callId, fromTag: inv.fromTag, toTag, cseq: 2, body: SDP });
    peer.send(reinv.raw, emu.sipPort);
    expect((await peer.next((r) => r.msg.status === 100 && r.msg.cseq.seq === 2)).msg.callId).toBe(inv.callId);
    await modified;
    const ok2 = await peer.next((r) => r.msg.status === 200 && r.msg.cseq.seq === 2);
    expect(ok2.msg.get('contact')).toBe(`<sip:127.0.0.1:${emu.sipPort}>`);
    peer.send(makeRequest('ACK', { port: peer.port, target: emu.sipPort, callId: inv.callId, fromTag: inv.fromTag, toTag, cseq: 2 }).raw, emu.sipPort);

    const destroyed = new Promise<void>((resolve) => dlg.once('destroy', () => resolve()));
    peer.send(makeRequest('BYE', { port: peer.port, target: emu.sipPort, callId: inv.callId, fromTag: inv.fromTag, toTag, cseq: 3 }).raw, emu.sipPort);
    await destroyed;
    expect((await peer.next((r) => r.msg.status === 200 && r.msg.cseq.method === 'BYE')).msg.callId).toBe(inv.callId);
  });

  it('UAS: an UPDATE in the early dialog reaches the pending INVITE (update event) and is answered', async () => {
    const updated = new Promise<void>((resolve) => {
      onInvite = (req, res) => {
        req.on('update', (_u: SrfReq, ures: SrfRes) => {
          ures.send(200, { body: SDP });
          resolve();
        });
        res.send(183, { body: SDP });
      };
    });
    const inv = makeRequest('INVITE', { port: peer.port, target: emu.sipPort, body: SDP });
    peer.send(inv.raw, emu.sipPort);
    const r183 = await peer.nextResponse(183);
    const upd = makeRequest('UPDATE', {
      port: peer.port,
      target: emu.sipPort,
      callId: inv.callId,
      fromTag: inv.fromTag,
      toTag: r183.msg.toTag,
      cseq: 2,
      body: SDP,
    });
    peer.send(upd.raw, emu.sipPort);
    await updated;
    const ok = await peer.nextResponse(200, 5000, 'UPDATE');
    expect(ok.msg.toTag).toBe(r183.msg.toTag);
    expect(ok.msg.body).toBe(SDP);
    // clean up: caller cancels
    peer.send(makeRequest('CANCEL', { port: peer.port, target: emu.sipPort, callId: inv.callId, fromTag: inv.fromTag, branch: inv.branch }).raw, emu.sipPort);
    const r487 = await peer.nextResponse(487);
    peer.send(
      makeRequest('ACK', { port: peer.port, target: emu.sipPort, callId: inv.callId, fromTag: inv.fromTag, branch: inv.branch, toTag: r487.msg.toTag }).raw,
      emu.sipPort,
    );
  });

  it('UAC: app re-INVITE in dialog gets CSeq+1 and our Contact; its ACK reuses the re-INVITE CSeq', async () => {
    const uac = srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, { localSdp: SDP });
    const inv = await peer.nextRequest('INVITE');
    peer.send(makeResponse(inv.msg, 200, 'OK', { toTag: 'callee5', contactPort: peer.port, body: SDP }), emu.sipPort);
    const dlg = (await uac) as SrfDialog & { modify(sdp: string): Promise<string> };
    await peer.nextRequest('ACK');
    const modP = dlg.modify(SDP.replace('10000', '10002'));
    const reinv = await peer.nextRequest('INVITE');
    expect(reinv.msg.cseq).toEqual({ seq: inv.msg.cseq.seq + 1, method: 'INVITE' });
    expect(reinv.msg.get('contact')).toBe(`<sip:127.0.0.1:${emu.sipPort}>`);
    expect(reinv.msg.toTag).toBe('callee5');
    expect(reinv.msg.uri).toBe(`sip:peer@127.0.0.1:${peer.port}`);
    peer.send(makeResponse(reinv.msg, 200, 'OK', { contactPort: peer.port, body: SDP }), emu.sipPort);
    const ack = await peer.nextRequest('ACK');
    expect(ack.msg.cseq).toEqual({ seq: inv.msg.cseq.seq + 1, method: 'ACK' });
    await modP;
    const byeP = dlg.destroy();
    const bye = await peer.nextRequest('BYE');
    expect(bye.msg.cseq.seq).toBe(inv.msg.cseq.seq + 2);
    peer.send(makeResponse(bye.msg, 200, 'OK'), emu.sipPort);
    await byeP;
  });

  it('UAC: an app CANCEL is held until a provisional response arrives', async () => {
    let sentReq: SrfReq | undefined;
    const uac = srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, { localSdp: SDP }, { cbRequest: (_e: unknown, req: SrfReq) => (sentReq = req) });
    const inv = await peer.nextRequest('INVITE');
    await new Promise((r) => setTimeout(r, 20));
    sentReq?.cancel();
    await expect(peer.nextRequest('CANCEL', 300)).rejects.toThrow(/timeout/);
    peer.send(makeResponse(inv.msg, 180, 'Ringing', { toTag: 'callee3' }), emu.sipPort);
    const cancel = await peer.nextRequest('CANCEL');
    expect(cancel.msg.branch).toBe(inv.msg.branch);
    peer.send(makeResponse(cancel.msg, 200, 'OK'), emu.sipPort);
    peer.send(makeResponse(inv.msg, 487, 'Request Terminated', { toTag: 'callee3' }), emu.sipPort);
    await expect(uac).rejects.toMatchObject({ status: 487 });
  });

  it('dialogs of a disconnected app: in-dialog requests get 481', async () => {
    const other = await connectSrf(emu.adminPort, SECRET);
    const uac = other.srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, { localSdp: SDP });
    const inv = await peer.nextRequest('INVITE');
    peer.send(makeResponse(inv.msg, 200, 'OK', { toTag: 'callee4', contactPort: peer.port, body: SDP }), emu.sipPort);
    await uac;
    await peer.nextRequest('ACK');
    other.srf.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    const info = makeRequest('INFO', {
      port: peer.port,
      target: emu.sipPort,
      callId: inv.msg.callId,
      fromTag: 'callee4',
      toTag: inv.msg.fromTag ?? '',
      cseq: 5,
    });
    peer.send(info.raw, emu.sipPort);
    expect((await peer.nextResponse(481, 5000, 'INFO')).msg.callId).toBe(inv.msg.callId);
    const bye = makeRequest('BYE', { port: peer.port, target: emu.sipPort, callId: inv.msg.callId, fromTag: 'callee4', toTag: inv.msg.fromTag ?? '', cseq: 6 });
    peer.send(bye.raw, emu.sipPort);
    expect((await peer.nextResponse(481, 5000, 'BYE')).msg.callId).toBe(inv.msg.callId);
  });

  it('parses as SipMessage what it sends', () => {
    const m = SipMessage.parse('OPTIONS sip:a@b SIP/2.0\r\ni: x\r\nf: <sip:a@b>;tag=1\r\nl: 0\r\n\r\n');
    expect(m.callId).toBe('x');
    expect(m.fromTag).toBe('1');
  });
});
