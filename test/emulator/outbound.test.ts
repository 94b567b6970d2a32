/**
 * drachtio-server outbound connection mode (emulator by default, the real binary when DRACHTIO_BIN
 * is set): a new INVITE is routed by an HTTP request handler; `route` makes the server open a TCP
 * connection to an app doing `srf.listen({port, secret})`, `reject` answers the caller.
 */
import http from 'node:http';
import net from 'node:net';
import { freeTcpPort, startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { createSrf } from '../../lib/drachtio/srf';
import type { SrfDialog, SrfLike } from './srf-types';
import { RawApp, SDP, UdpPeer, makeRequest } from './test-utils';

const SECRET = 'outbound-secret';
const HOST = '127.0.0.1';

interface HttpHit {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** the request handler: records each query, answers with `answer()` */
class RequestHandler {
  readonly hits: HttpHit[] = [];
  answer: (hit: HttpHit) => unknown = () => ({ action: 'reject', data: { status: 503 } });
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const hit: HttpHit = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      this.hits.push(hit);
      const a = this.answer(hit);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(typeof a === 'string' ? a : JSON.stringify(a));
    });
  });
  port = 0;

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, HOST, () => resolve()));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this;
  }

  get url(): string {
    return `http://${HOST}:${this.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** srf in outbound-connection mode: srf.listen({port, secret}) */
async function listenSrf(): Promise<{ srf: SrfLike; server: net.Server; port: number; connections: net.Socket[] }> {
  const srf = createSrf();
  srf.on('error', () => undefined);
  const server = srf.listen({ host: HOST, port: 0, secret: SECRET }) as unknown as net.Server;
  const connections: net.Socket[] = [];
  server.on('connection', (s: net.Socket) => connections.push(s));
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const a = server.address();
  return { srf, server, port: typeof a === 'object' && a ? a.port : 0, connections };
}

function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timeout waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

describe('outbound connection mode (request handler)', () => {
  let handler: RequestHandler;
  let server: DrachtioServer;
  let peer: UdpPeer;
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    handler = await new RequestHandler().start();
    server = await startDrachtio({ secret: SECRET, t1: 100, requestHandler: handler.url });
  });
  beforeEach(async () => {
    peer = await new UdpPeer().start();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    await peer.close();
  });
  afterAll(async () => {
    await server?.stop();
    await handler?.close();
  });

  const invite = (extra: string[] = []) =>
    makeRequest('INVITE', { port: peer.port, target: server.sipPort, body: SDP, ruri: `sip:service@${HOST}:${server.sipPort};foo=bar;lr`, extra });

  it("queries the request handler with drachtio's parameters; the server connects, waits for the app to authenticate, then sends the INVITE", async () => {
    const listener = net.createServer();
    const apps: RawApp[] = [];
    listener.on('connection', (s) => apps.push(new RawApp(s)));
    await new Promise<void>((resolve) => listener.listen(0, HOST, () => resolve()));
    const lport = (listener.address() as net.AddressInfo).port;
    cleanups.push(() => {
      for (const a of apps) a.close();
      return new Promise((r) => listener.close(() => r(undefined)));
    });
    handler.answer = () => ({ action: 'route', data: { uri: `${HOST}:${lport}` } });

    const inv = invite();
    peer.send(inv.raw, server.sipPort);
    await peer.nextResponse(100);
    await waitFor(() => apps.length === 1, 5000, 'outbound connection');
    const hit = handler.hits[handler.hits.length - 1];
    expect(hit.method).toBe('GET');
    expect(hit.headers.accept).toBe('application/json');
    expect(hit.headers['user-agent']).toMatch(/^Drachtio\//);
    const u = new URL(hit.url, handler.url);
    expect(u.pathname).toBe('/');
    expect(hit.url.startsWith('/?method=INVITE&domain=127.0.0.1&protocol=udp&source_address=127.0.0.1&fromUser=tester&toUser=service&uriUser=service')).toBe(
      true,
    );
    expect(Object.fromEntries(u.searchParams)).toEqual({
      method: 'INVITE',
      domain: HOST,
      protocol: 'udp',
      source_address: HOST,
      fromUser: 'tester',
      toUser: 'service',
      uriUser: 'service',
      contentType: 'application/sdp',
      uri: `sip:service@${HOST}:${server.sipPort};foo=bar;lr`,
      foo: 'bar',
      lr: '',
    });

    // the server speaks only after the app authenticates on the connection it opened
    const app = apps[0];
    await new Promise((r) => setTimeout(r, 300));
    expect(app.inbox.all).toEqual([]);
    const id = app.send(`authenticate|${SECRET}|`);
    const auth = await app.response(id);
    expect(auth.tokens[0]).toBe('OK');
    expect(auth.tokens[1]).toContain(`${HOST}:${server.sipPort}`);
    const { tokens, sip } = await app.sip((_t, m) => m.method === 'INVITE');
    // uuid|sip|network|bytes|udp|src|port|time|txnId||destAddr|destPort|
    expect([tokens[2], tokens[4], tokens[5], tokens[6]]).toEqual(['network', 'udp', HOST, String(peer.port)]);
    expect(tokens[9]).toBe('');
    expect(tokens.slice(10, 12)).toEqual([HOST, String(server.sipPort)]);
    expect(sip.callId).toBe(inv.callId);

    const rid = app.send(`sip|${tokens[8]}|\r\nSIP/2.0 486 Busy Here\r\n\r\n`);
    expect((await app.response(rid)).tokens[0]).toBe('OK');
    await peer.nextResponse(486);
  });

  it('route: an srf.listen() app gets the INVITE over its own connection, answers, and a BYE round-trips; one connection per call', async () => {
    const { srf, server: appServer, port, connections } = await listenSrf();
    cleanups.push(() => {
      for (const c of connections) c.destroy();
      return new Promise((r) => appServer.close(() => r(undefined)));
    });
    handler.answer = () => ({ action: 'route', data: { uri: `${HOST}:${port}` } });
    const dialogs: SrfDialog[] = [];
    const destroyed: string[] = [];
    srf.invite((req, res) => {
      void (async () => {
        const dlg = await srf.createUAS(req, res, { localSdp: SDP });
        dialogs.push(dlg);
        dlg.on('destroy', () => destroyed.push(dlg.sip.callId));
      })();
    });

    for (let call = 1; call <= 2; call++) {
      const inv = invite();
      peer.send(inv.raw, server.sipPort);
      const ok = await peer.nextResponse(200, 5000, 'INVITE');
      expect(ok.msg.body).toContain('v=0');
      const toTag = ok.msg.toTag ?? '';
      peer.send(makeRequest('ACK', { port: peer.port, target: server.sipPort, callId: inv.callId, fromTag: inv.fromTag, toTag }).raw, server.sipPort);
      await waitFor(() => dialogs.length === call, 5000, 'dialog');
      expect(connections.length).toBe(call); // a new outbound connection for each call

      const bye = makeRequest('BYE', { port: peer.port, target: server.sipPort, callId: inv.callId, fromTag: inv.fromTag, toTag, cseq: 2 });
      peer.send(bye.raw, server.sipPort);
      await peer.nextResponse(200, 5000, 'BYE');
      await waitFor(() => destroyed.includes(inv.callId), 5000, 'dialog destroy');
    }
    expect(handler.hits.length).toBeGreaterThanOrEqual(2);
  });

  it('route: in-dialog requests from the app go out over the outbound connection (app-initiated BYE)', async () => {
    const { srf, server: appServer, port, connections } = await listenSrf();
    cleanups.push(() => {
      for (const c of connections) c.destroy();
      return new Promise((r) => appServer.close(() => r(undefined)));
    });
    handler.answer = () => ({ action: 'route', data: { uri: `${HOST}:${port}` } });
    let dlg: SrfDialog | undefined;
    srf.invite((req, res) => {
      void (async () => {
        dlg = await srf.createUAS(req, res, { localSdp: SDP });
      })();
    });
    const inv = invite();
    peer.send(inv.raw, server.sipPort);
    const ok = await peer.nextResponse(200, 5000, 'INVITE');
    peer.send(
      makeRequest('ACK', { port: peer.port, target: server.sipPort, callId: inv.callId, fromTag: inv.fromTag, toTag: ok.msg.toTag ?? '' }).raw,
      server.sipPort,
    );
    await waitFor(() => dlg !== undefined, 5000, 'dialog');
    const byeDone = dlg!.destroy();
    const bye = await peer.nextRequest('BYE');
    expect(bye.msg.callId).toBe(inv.callId);
    const res = [
      'SIP/2.0 200 OK',
      ...bye.msg.getAll('via').map((v) => `Via: ${v}`),
      `From: ${bye.msg.get('from')}`,
      `To: ${bye.msg.get('to')}`,
      `Call-ID: ${bye.msg.callId}`,
      `CSeq: ${bye.msg.get('cseq')}`,
      'Content-Length: 0',
    ].join('\r\n');
    peer.send(res + '\r\n\r\n', bye.from.port, bye.from.address);
    await byeDone;
  });

  it('reject: the caller gets the status and reason from the request handler (and ACKs it)', async () => {
    handler.answer = () => ({ action: 'reject', data: { status: 486, reason: 'Busy Elsewhere' } });
    peer.send(invite().raw, server.sipPort);
    const r = await peer.nextResponse(486);
    expect(r.raw.split('\r\n')[0]).toBe('SIP/2.0 486 Busy Elsewhere');
    expect(r.msg.toTag).toBeTruthy();

    handler.answer = () => ({ action: 'reject', data: { status: 603 } });
    peer.send(invite().raw, server.sipPort);
    expect((await peer.nextResponse(603)).raw.split('\r\n')[0]).toBe('SIP/2.0 603 Decline');
  });

  it('route to a port where nothing listens => 480; an answer that is not a valid instruction => 500', async () => {
    const dead = await freeTcpPort();
    handler.answer = () => ({ action: 'route', data: { uri: `${HOST}:${dead}` } });
    peer.send(invite().raw, server.sipPort);
    await peer.nextResponse(480, 5000);

    handler.answer = () => 'not json';
    peer.send(invite().raw, server.sipPort);
    await peer.nextResponse(500);

    handler.answer = () => ({ action: 'route', data: {} });
    peer.send(invite().raw, server.sipPort);
    await peer.nextResponse(500);
  });

  /** a plain TCP listener standing in for the app, to drive the wire protocol by hand */
  const rawListener = async (): Promise<{ port: number; apps: RawApp[] }> => {
    const listener = net.createServer();
    const apps: RawApp[] = [];
    listener.on('connection', (s) => apps.push(new RawApp(s)));
    await new Promise<void>((resolve) => listener.listen(0, HOST, () => resolve()));
    cleanups.push(() => {
      for (const a of apps) a.close();
      return new Promise((r) => listener.close(() => r(undefined)));
    });
    return { port: (listener.address() as net.AddressInfo).port, apps };
  };

  it('redirect: 302 Moved with one Contact per entry', async () => {
    handler.answer = () => ({ action: 'redirect', data: { contact: ['<sip:a@127.0.0.1:5070>', '<sip:b@127.0.0.1:5071>'] } });
    peer.send(invite().raw, server.sipPort);
    const r = await peer.nextResponse(302);
    expect(r.raw.split('\r\n')[0]).toBe('SIP/2.0 302 Moved');
    expect(r.msg.getAll('contact').join(',')).toMatch(/sip:a@127\.0\.0\.1:5070.*sip:b@127\.0\.0\.1:5071/);
  });

  it('a wrong secret on the outbound connection: NO|incorrect secret, disconnected, the request is never delivered', async () => {
    const { port, apps } = await rawListener();
    handler.answer = () => ({ action: 'route', data: { uri: `${HOST}:${port}` } });
    peer.send(invite().raw, server.sipPort);
    await peer.nextResponse(100);
    await waitFor(() => apps.length === 1, 5000, 'outbound connection');
    const id = apps[0].send('authenticate|wrong|');
    expect((await apps[0].response(id)).tokens).toEqual(['NO', 'incorrect secret']);
    await waitFor(() => apps[0].closed, 5000, 'disconnect');
    await new Promise((r) => setTimeout(r, 300));
    expect(apps[0].hasReceived((m) => m.split('|')[1] === 'sip')).toBe(false);
    expect(peer.inbox.pending().filter((r) => (r.msg.status ?? 0) >= 200)).toEqual([]);
  });

  it("CANCEL before the app authenticated: 200 + 487 at once; the INVITE is still delivered, the app's answer is refused", async () => {
    const { port, apps } = await rawListener();
    handler.answer = () => ({ action: 'route', data: { uri: `${HOST}:${port}` } });
    const inv = invite();
    peer.send(inv.raw, server.sipPort);
    await waitFor(() => apps.length === 1, 5000, 'outbound connection');
    const cancel = makeRequest('CANCEL', {
      port: peer.port,
      target: server.sipPort,
      callId: inv.callId,
      fromTag: inv.fromTag,
      branch: inv.branch,
      ruri: `sip:service@${HOST}:${server.sipPort};foo=bar;lr`,
    });
    peer.send(cancel.raw, server.sipPort);
    await peer.nextResponse(200, 5000, 'CANCEL');
    await peer.nextResponse(487, 5000, 'INVITE');
    const app = apps[0];
    const id = app.send(`authenticate|${SECRET}|`);
    expect((await app.response(id)).tokens[0]).toBe('OK');
    const { tokens } = await app.sip((_t, m) => m.method === 'INVITE');
    const rid = app.send(`sip|${tokens[8]}|\r\nSIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\n${SDP}`);
    expect((await app.response(rid)).tokens[0]).toBe('NOK');
  });

  it('a route uri that does not match host:port gets no answer at all (only the 100)', async () => {
    handler.answer = () => ({ action: 'route', data: { uri: 'no-port-here' } });
    peer.send(invite().raw, server.sipPort);
    await peer.nextResponse(100);
    await new Promise((r) => setTimeout(r, 1000));
    expect(peer.inbox.pending().filter((r) => (r.msg.status ?? 0) >= 200)).toEqual([]);
  });

  it('methods without a request handler still use inbound connections (none here => 503)', async () => {
    const before = handler.hits.length;
    peer.send(makeRequest('OPTIONS', { port: peer.port, target: server.sipPort }).raw, server.sipPort);
    await peer.nextResponse(503);
    expect(handler.hits.length).toBe(before);
  });
});

describe('outbound connection mode: POST handler for every method (`*`)', () => {
  let handler: RequestHandler;
  let server: DrachtioServer;
  let peer: UdpPeer;

  beforeAll(async () => {
    handler = await new RequestHandler().start();
    server = await startDrachtio({ secret: SECRET, requestHandler: `${handler.url}/route`, requestHandlerSipMethod: '*', requestHandlerHttpMethod: 'POST' });
    peer = await new UdpPeer().start();
  });
  afterAll(async () => {
    await peer?.close();
    await server?.stop();
    await handler?.close();
  });

  it('POSTs the SIP message with the same query string (path gets a trailing /), for OPTIONS too', async () => {
    handler.answer = () => ({ action: 'reject', data: { status: 404, reason: 'Nobody Here' } });
    const opt = makeRequest('OPTIONS', { port: peer.port, target: server.sipPort });
    peer.send(opt.raw, server.sipPort);
    const r = await peer.nextResponse(404);
    expect(r.raw.split('\r\n')[0]).toBe('SIP/2.0 404 Nobody Here');
    const hit = handler.hits[0];
    expect(hit.method).toBe('POST');
    expect(hit.url.startsWith('/route/?method=OPTIONS&domain=127.0.0.1&protocol=udp&source_address=127.0.0.1')).toBe(true);
    expect(hit.headers['content-type']).toBe('text/plain; charset=UTF-8');
    expect(hit.body.startsWith(`OPTIONS sip:service@${HOST}:${server.sipPort} SIP/2.0\r\n`)).toBe(true);
    expect(hit.body).toContain(`Call-ID: ${opt.callId}`);
  });
});
