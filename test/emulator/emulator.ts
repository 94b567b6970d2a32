/**
 * drachtio-server emulator core: glues the admin wire protocol (wire-server.ts) to a UDP SIP
 * stack (udp-transport.ts, transactions.ts, dialogs.ts) and performs the SIP duties that
 * drachtio-server performs for its applications. See EMULATOR.md for the source map.
 */
import dns from 'node:dns/promises';
import type http from 'node:http';
import net from 'node:net';
import { Dialog, DialogStore } from './dialogs';
import { findHeader, parseAppHeaders, type AppHeader } from './headers';
import { REASONS, SipMessage, getTag, headerErrorPhrase, parseVia, parseNameAddr, parseUri, replaceHostInNameAddr, withTag } from './sip-message';
import {
  RESPONSE_REASONS,
  RequestRouter,
  buildRoutingUrl,
  httpQuery,
  parseRouteUri,
  parseRoutingInstruction,
  type RequestHandlerConfig,
} from './request-handler';
import { cutToStartLen, normalizeSipUri, requestLineOk, requestUriToken, sipAddrCanonical, urlD, urlE } from './sofia-url';
import { ClientTransaction, ServerTransaction, TransactionLayer, stampTopVia } from './transactions';
import { UdpTransport, type Endpoint } from './udp-transport';
import { Timers, makeLogger, makeTimerConfig, randomToken, stackTime, uuid, type LogLevel, type Logger, type SipTimerConfig } from './util';
import { AppClient, EMULATED_VERSION, WireServer, metaToString, type SipCommand, type SipMeta } from './wire-server';

export interface EmulatorOptions {
  /** address the admin TCP server listens on (default 127.0.0.1) */
  adminAddress?: string;
  /** admin TCP port; 0 picks a free port */
  adminPort?: number;
  /** SIP UDP address (default 127.0.0.1) */
  sipAddress?: string;
  /** SIP UDP port; 0 picks a free port */
  sipPort?: number;
  secret: string;
  loglevel?: LogLevel | 'silent';
  /** RFC 3261 T1 in ms (default 500); all other timers scale from it */
  t1?: number;
  /**
   * HTTP request handlers for new requests (drachtio `<request-handlers>` / `--http-handler`):
   * outbound connection mode for the methods they cover
   */
  requestHandlers?: RequestHandlerConfig[];
}

export interface EmulatorHandle {
  adminPort: number;
  sipPort: number;
  sipAddress: string;
  emulator: DrachtioEmulator;
  close(): Promise<void>;
}

/** methods drachtio hands to apps as new requests (DrachtioController::processMessageStatelessly) */
const NEW_REQUEST_METHODS = new Set(['INVITE', 'REGISTER', 'MESSAGE', 'OPTIONS', 'INFO', 'NOTIFY', 'SUBSCRIBE', 'PUBLISH']);
/** m_mapMethod2Type: methods drachtio accepts from apps */
const KNOWN_METHODS = new Set([
  'INVITE',
  'ACK',
  'CANCEL',
  'BYE',
  'OPTIONS',
  'REGISTER',
  'INFO',
  'PRACK',
  'UPDATE',
  'MESSAGE',
  'SUBSCRIBE',
  'NOTIFY',
  'REFER',
  'PUBLISH',
]);

/** an incoming INVITE handed to an app (PendingRequest_t, then IIP once the app responds) */
interface UasInvite {
  txnId: string;
  stx: ServerTransaction;
  client: AppClient;
  req: SipMessage;
  source: Endpoint;
  localTag: string;
  /** set once the app sent its first response (IIP created in setupLegForIncomingRequest) */
  dialog?: Dialog;
  canceled: boolean;
  pendingTimer?: NodeJS.Timeout;
  /** UPDATE received in the early dialog, handed to the app with the INVITE's transaction id */
  updateStx?: ServerTransaction;
}

/** any other incoming request handed to an app (m_mapTransactionId2Irq) */
interface IncomingRequest {
  txnId: string;
  stx: ServerTransaction;
  client: AppClient;
  dialogId: string;
  localTag: string;
  pendingTimer?: NodeJS.Timeout;
}

/**
 * a new request waiting for its request handler's answer / outbound connection
 * (PendingRequest_t between processNewRequest and routeNewRequestToClient)
 */
interface PendingRequest {
  txnId: string;
  method: string;
  stx: ServerTransaction;
  req: SipMessage;
  source: Endpoint;
  localTag: string;
  raw: string;
  meta: SipMeta;
  /** a CANCEL arrived (PendingRequest_t::cancel): 200/487 sent, the app can no longer answer */
  canceled: boolean;
  pendingTimer?: NodeJS.Timeout;
}

/** an INVITE sent by an app (IIP, uac side) */
interface UacInvite {
  txnId: string;
  ctx: ClientTransaction;
  dialog: Dialog;
  client: AppClient;
  canceled: boolean;
  final: boolean;
}

/**
 * The CSeq sofia gives the first request of a leg that has none: `(sip_now() >> 1) & 0x7ffffff`, where
 * sip_now() is su_now().tv_sec, seconds since 1900 (nta.c `nta_msg_request_complete`, sip_time.c, su_time.c).
 */
export function sofiaInitialSeq(nowMs = Date.now()): number {
  const ntpSeconds = Math.floor(nowMs / 1000) + 2208988800;
  return Math.floor(ntpSeconds / 2) % 0x8000000;
}

/**
 * The app's CSeq on a request outside a dialog, as drachtio-server v0.9.10 treats it (checked):
 * `makeTags` passes it to `nta_outgoing_tcreate`, whose leg (made without a CSeq) keeps its number
 * (`nta_msg_request_complete`: `leg_seq` 0, `sip->sip_cseq` set) with the request's own method
 * (`77 INVITE` on a BYE goes out as `77 BYE`). One sofia cannot parse (`sip_cseq_d`: a uint32, LWS, a
 * method token; `abc BYE`, `42`, `4294967296 BYE`) makes `sip_add_tagis` stop there: it and every app
 * header after it are dropped, and the leg's own CSeq (`sofiaInitialSeq`) is used. `bad`: its index in `hdrs`.
 */
export function appCSeq(hdrs: readonly AppHeader[]): { seq?: number; bad?: number } {
  const i = hdrs.findIndex((h) => h.lname === 'cseq');
  if (i === -1) return {};
  const m = /^(\d+)[ \t\r\n]+[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t\r\n].*)?$/.exec(hdrs[i].value);
  const seq = m ? Number(m[1]) : NaN;
  if (!m || !(seq <= 0xffffffff)) return { bad: i };
  return { seq };
}

function isIp(host: string): boolean {
  return net.isIP(host.replace(/^\[|\]$/g, '')) !== 0;
}

export class DrachtioEmulator {
  readonly log: Logger;
  readonly timers = new Timers();
  readonly cfg: SipTimerConfig;
  readonly wire: WireServer;
  readonly udp: UdpTransport;
  readonly layer: TransactionLayer;
  readonly dialogs = new DialogStore();
  private readonly uasInvites = new Map<string, UasInvite>();
  private readonly incoming = new Map<string, IncomingRequest>();
  private readonly uacInvites = new Map<string, UacInvite>();
  private readonly secret: string;
  readonly router: RequestRouter;
  /** new requests routed by a request handler, by transaction id (PendingRequestController) */
  private readonly routing = new Map<string, PendingRequest>();
  private readonly outboundSockets = new Set<net.Socket>();
  private readonly httpRequests = new Set<http.ClientRequest>();
  private closing = false;

  constructor(opts: EmulatorOptions) {
    this.log = makeLogger(opts.loglevel ?? 'info');
    this.cfg = makeTimerConfig(opts.t1 ?? 500);
    this.secret = opts.secret;
    this.router = new RequestRouter(opts.requestHandlers);
    this.udp = new UdpTransport(opts.sipAddress ?? '127.0.0.1', opts.sipPort ?? 0, this.log, (raw, from) => this.onSipMessage(raw, from));
    this.layer = new TransactionLayer({
      send: (raw, to) => this.udp.send(raw, to),
      timers: this.timers,
      cfg: this.cfg,
      log: this.log,
    });
    this.wire = new WireServer(opts.adminAddress ?? '127.0.0.1', opts.adminPort ?? 0, this.log, {
      authenticated: (secret) => secret === this.secret,
      authResponse: () => `${this.hostport}|${EMULATED_VERSION}|${this.hostport}`,
      onSip: (client, cmd) => this.onAppSip(client, cmd),
      onClientGone: (client) => this.onClientGone(client),
      outboundReady: (client, txnId) => this.outboundReady(client, txnId),
    });
  }

  async start(): Promise<void> {
    await this.udp.start();
    await this.wire.start();
    this.log.info(`listening for applications on tcp/${this.wire.port}, sip on udp/${this.udp.address}:${this.udp.port}`);
    // DrachtioController::logConfig
    for (const h of this.router.all()) {
      this.log.info(`Route for outbound connection: sip-method: ${h.sipMethod}, http-method: ${h.httpMethod}, http-url: ${h.url}`);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const r of this.httpRequests) r.destroy();
    this.httpRequests.clear();
    for (const sock of this.outboundSockets) sock.destroy();
    this.outboundSockets.clear();
    this.timers.clearAll();
    this.layer.clear();
    this.timers.clearAll();
    await this.wire.close();
    await this.udp.close();
  }

  /** SipTransport::getHostport: `udp/<host>:<port>` */
  get hostport(): string {
    return `udp/${this.udp.address}:${this.udp.port}`;
  }

  /** SipTransport::getContactUri (udp => no transport param) */
  private get contactUri(): string {
    return `sip:${this.udp.address}:${this.udp.port}`;
  }

  private newVia(): string {
    return `SIP/2.0/UDP ${this.udp.address}:${this.udp.port};rport;branch=z9hG4bK${randomToken(10)}`;
  }

  // ---------------------------------------------------------------- metadata (SipMsgData_t)

  private networkMeta(raw: string, from: Endpoint): SipMeta {
    return { source: 'network', bytes: Buffer.byteLength(raw), protocol: 'udp', address: from.address, port: from.port, time: stackTime() };
  }

  /** requests we send: address/port are our transport's (tport_name) */
  private appRequestMeta(raw: string): SipMeta {
    return { source: 'application', bytes: Buffer.byteLength(raw), protocol: 'udp', address: this.udp.address, port: this.udp.port, time: stackTime() };
  }

  /** responses we send: address/port are the destination (msg_addr) */
  private appResponseMeta(raw: string, to: Endpoint): SipMeta {
    return { source: 'application', bytes: Buffer.byteLength(raw), protocol: 'udp', address: to.address, port: to.port, time: stackTime() };
  }

  // ================================================================ network side

  private onSipMessage(raw: string, from: Endpoint): void {
    let msg: SipMessage;
    try {
      msg = SipMessage.parse(raw);
    } catch (err) {
      this.log.warn(`discarding unparseable message from ${from.address}:${from.port}: ${(err as Error).message}`);
      return;
    }
    if (!msg.isRequest) {
      if (!this.layer.handleResponse(msg, from, raw)) {
        this.log.info(`unknown response (possibly late arriving?) - discarding: ${msg.status} ${msg.cseq.method}`);
      }
      return;
    }
    // nta.c agent_recv_request: a top Via sofia cannot parse leaves no Via to answer to, so the
    // request is dropped; header errors (headerErrorPhrase) and sip_sanity_check failures (a missing
    // mandatory header, a CSeq method other than the request's) get a 400, never for an ACK
    const viaOk = msg.topVia !== undefined && parseVia(msg.topVia).host !== '';
    const bad = headerErrorPhrase(msg);
    const insane = !msg.callId || !msg.get('from') || !msg.get('to') || !msg.get('cseq') || msg.cseq.method !== msg.method;
    if (!viaOk || bad || insane) {
      if (viaOk && msg.method !== 'ACK') this.sendStateless(msg, from, 400, bad ?? REASONS[400]);
      return;
    }
    stampTopVia(msg, from);
    this.onRequest(msg, from);
  }

  private sendStateless(req: SipMessage, to: Endpoint, status: number, reason = REASONS[status] ?? ''): void {
    const res = this.buildResponse(req, status, reason, [], '', { localTag: randomToken(5) });
    this.udp.send(res.toString(), to);
  }

  private onRequest(req: SipMessage, from: Endpoint): void {
    const method = req.method ?? '';
    if (method === 'ACK') return this.onAck(req, from);
    if (method === 'CANCEL') return this.onCancel(req, from);

    const existing = this.layer.findServer(req);
    if (existing) {
      this.log.info(`discarding retransmitted request: ${req.callId} ${method}`);
      existing.retransmission();
      return;
    }

    if (req.toTag) {
      const dlg = this.dialogs.findForRequest(req.callId, req.fromTag, req.toTag);
      if (dlg) return this.onRequestInsideDialog(dlg, req, from);
      if (method === 'UPDATE') {
        const iip = [...this.uasInvites.values()].find(
          (r) => r.dialog && !r.stx.finalSent && r.req.callId === req.callId && r.localTag === req.toTag && r.dialog.remoteTag === req.fromTag,
        );
        if (iip) return this.onUpdateDuringInvite(iip, req, from);
      }
      if (method === 'INVITE') {
        // PendingRequestController::processNewRequest: new INVITE with a to tag we are not tracking
        return this.rejectNew(req, from, 481);
      }
    }

    if (method === 'INVITE' && !req.toTag) {
      // A merged INVITE (RFC 3261 §8.2.2.2: same Call-ID and From tag, another branch) while an INVITE
      // from that caller is in progress with an early dialog (we sent a provisional with a To tag):
      // sofia-sip's leg matching (nta.c leg_find: no To tag matches the leg's local tag) gives it to that
      // early leg, so drachtio-server handles it as an in-dialog request, SipDialogController::
      // processRequestInsideDialog: route_request_inside_dialog finds no client for a dialog still in
      // progress ("unable to find client for dialog (may be invite-in-progress)",
      // client-controller.cpp:373), and an INVITE is not among the methods re-routed as out-of-dialog
      // (sip-dialog-controller.cpp:1768-1800). The caller gets 100 Trying and no final response; the app
      // never sees it, and it gets 500 when that dialog ends (observed on v0.9.10: after the BYE).
      // Without an early dialog it is a new request like any other.
      const early = [...this.uasInvites.values()].find(
        (r) => r.dialog && !r.stx.finalSent && r.req.callId === req.callId && r.dialog.remoteTag === req.fromTag,
      );
      if (early) {
        const stx = this.layer.createServer(req, from);
        stx.respond(this.buildResponse(req, 100, 'Trying', [], '', {}));
        early.dialog?.absorbedInvites.push(stx);
        this.log.warn(`unable to find client for dialog (may be invite-in-progress): ${early.dialog?.id ?? ''}`);
        return;
      }
    }
    if (NEW_REQUEST_METHODS.has(method)) return this.onNewRequest(req, from);
    if (method === 'BYE' || method === 'UPDATE') return this.rejectNew(req, from, 481);
    this.log.info(`discarding ${method} outside of any dialog: ${req.callId}`);
  }

  private rejectNew(req: SipMessage, from: Endpoint, status: number): void {
    const stx = this.layer.createServer(req, from);
    stx.respond(this.buildResponse(req, status, REASONS[status] ?? '', [], '', { localTag: randomToken(5) }));
  }

  /** processMessageStatelessly + PendingRequestController::processNewRequest */
  private onNewRequest(req: SipMessage, from: Endpoint): void {
    const method = req.method ?? '';
    const stx = this.layer.createServer(req, from);
    const localTag = randomToken(5);
    if (method === 'INVITE') {
      stx.respond(this.buildResponse(req, 100, 'Trying', [], '', {}));
    }
    // RequestRouter::getRoute: a request handler for this method => outbound connection mode
    const route = this.router.get(method);
    let client: AppClient | undefined;
    if (!route) {
      client = this.wire.routes.select(method);
      if (!client) {
        this.log.info(`No providers available for ${method}`);
        stx.respond(this.buildResponse(req, 503, REASONS[503], [], '', { localTag }));
        return;
      }
    }
    const txnId = uuid();
    stx.txnId = txnId;
    const raw = req.toString();
    const meta = this.networkMeta(raw, from);
    const p: PendingRequest = { txnId, method, stx, req, source: from, localTag, raw, meta, canceled: false };
    // CLIENT_TIMEOUT: give the app 64s (from arrival, HTTP query included) to respond before clearing state
    p.pendingTimer = this.timers.after(128 * this.cfg.t1, () => {
      this.routing.delete(txnId);
      this.uasInvites.delete(txnId);
      this.incoming.delete(txnId);
    });
    if (client) {
      this.routeNewRequestToClient(client, p);
      return;
    }
    if (!route) return;
    this.routing.set(txnId, p);
    if (route.url.startsWith('tcp://') || route.url.startsWith('tls://')) {
      // RequestHandler::startRequest: connect directly, no HTTP query
      const uri = `${route.url.slice(6)};transport=${route.url.startsWith('tcp://') ? 'tcp' : 'tls'}`;
      this.log.info(`no web callback required, sending directly to ${route.url}`);
      this.httpCallRoutingComplete(txnId, JSON.stringify({ action: 'route', data: { uri } }));
      return;
    }
    const url = buildRoutingUrl(route.url, req, meta.protocol, meta.address);
    this.log.info(`sending http ${route.httpMethod}: ${url}`);
    void httpQuery(route.httpMethod, url, raw, EMULATED_VERSION, (r) => {
      this.httpRequests.add(r);
      return () => this.httpRequests.delete(r);
    }).then(({ status, body }) => {
      if (this.closing) return;
      this.log.info(`http ${status} response received from server: ${body}`);
      this.httpCallRoutingComplete(txnId, body);
    });
  }

  /**
   * PendingRequestController::routeNewRequestToClient (and the inbound-connection branch of
   * processNewRequest): hand the new request to the app with the 3-arg sendSipMessageToClient.
   */
  private routeNewRequestToClient(client: AppClient, p: PendingRequest): void {
    const { txnId, stx, req, source, localTag, pendingTimer } = p;
    if (!p.canceled) {
      if (p.method === 'INVITE') {
        this.uasInvites.set(txnId, { txnId, stx, client, req, source, localTag, canceled: false, pendingTimer });
      } else {
        this.incoming.set(txnId, { txnId, stx, client, dialogId: '', localTag, pendingTimer });
      }
    }
    client.sendNewSip(txnId, p.raw, p.meta, { address: this.udp.address, port: this.udp.port });
  }

  /** DrachtioController::httpCallRoutingComplete: act on the request handler's JSON */
  private httpCallRoutingComplete(txnId: string, body: string): void {
    const ins = parseRoutingInstruction(body);
    switch (ins.action) {
      case 'reject':
        return this.respondFromServer(txnId, ins.status, ins.reason ?? RESPONSE_REASONS[ins.status] ?? '', []);
      case 'redirect':
        // processRedirectInstruction: `SIP/2.0 302 Moved` with one Contact per entry
        return this.respondFromServer(
          txnId,
          302,
          'Moved',
          ins.contacts.map((c) => ({ name: 'Contact', lname: 'contact', value: c })),
        );
      case 'proxy':
        this.log.error(`request handler answered 'proxy' (to ${ins.destinations.join(',')}): proxying is not emulated, rejecting with 500`);
        return this.respondFromServer(txnId, 500, REASONS[500], []);
      case 'route':
        if ('uri' in ins) return this.makeOutboundConnection(txnId, ins.uri);
        return this.selectClientForTag(txnId, ins.tag);
      case 'error':
        this.log.error(`DrachtioController::processRoutingInstructions ${ins.message}: ${body}`);
        return this.respondFromServer(txnId, 500, REASONS[500], []);
    }
  }

  /**
   * processRejectInstruction / processRedirectInstruction / ClientController::outboundFailed:
   * respondToSipRequest with no app (fails silently once the request was canceled or timed out)
   */
  private respondFromServer(txnId: string, status: number, reason: string, hdrs: AppHeader[]): void {
    const p = this.routing.get(txnId);
    if (!p || p.canceled || p.stx.finalSent || status < 100 || status > 699) {
      this.log.error(`error sending response ${status} for transactionId ${txnId}`);
      return;
    }
    this.routing.delete(txnId);
    this.timers.cancel(p.pendingTimer);
    const contact = p.method === 'INVITE' && status >= 200 && status < 300 && !findHeader(hdrs, 'contact') ? `<${this.contactUri}>` : undefined;
    p.stx.respond(this.buildResponse(p.req, status, reason, hdrs, '', { localTag: p.localTag, contact }));
  }

  /** ClientController::outboundFailed: `480 Temporarily Unavailable` */
  private outboundFailed(txnId: string): void {
    this.respondFromServer(txnId, 480, 'Temporarily Unavailable', []);
  }

  /** ClientController::selectClientForTag: an inbound connection routing the method with that tag */
  private selectClientForTag(txnId: string, tag: string): void {
    const p = this.routing.get(txnId);
    if (!p) {
      this.log.error(`selectClientForTag - unable to find transactionId: ${txnId}`);
      return this.outboundFailed(txnId);
    }
    const client = this.wire.routes.select(p.method, tag);
    if (!client) {
      this.log.error(`selectClientForTag - no clients registered for tag: ${tag}`);
      return this.outboundFailed(txnId);
    }
    this.routeNewRequestToClient(client, p);
  }

  /**
   * DrachtioController::makeOutboundConnection + ClientController::makeOutboundConnection:
   * a new TCP connection to the app for this request (one per routed request, never reused);
   * connect failure => 480; the request is sent once the app has authenticated on it.
   */
  private makeOutboundConnection(txnId: string, uri: string): void {
    const target = parseRouteUri(uri);
    if (!target) {
      // the server logs and leaves the request unanswered ("TODO: send 480")
      this.log.warn(`makeOutboundConnection - invalid uri: ${uri}`);
      return;
    }
    if (target.transport === 'tls') {
      this.log.error(`makeOutboundConnection - tls connections are not emulated (${uri}); answering 480`);
      return this.outboundFailed(txnId);
    }
    this.log.info(`makeOutboundConnection - attempting connection to ${target.host}:${target.port} with transport tcp`);
    this.resolve(target.host, target.port).then(
      (dest) => {
        if (this.closing) return;
        const sock = net.connect({ host: dest.address, port: dest.port });
        this.outboundSockets.add(sock);
        const onError = (err: Error) => {
          this.outboundSockets.delete(sock);
          this.log.warn(`Client::connect_handler tcp - unable to connect to ${target.host}:${target.port}: ${err.message}`);
          this.outboundFailed(txnId);
        };
        sock.once('error', onError);
        sock.once('connect', () => {
          sock.off('error', onError);
          this.outboundSockets.delete(sock);
          if (this.closing) {
            sock.destroy();
            return;
          }
          this.wire.adoptOutbound(sock, txnId);
        });
      },
      (err: Error) => {
        // resolver.resolve() throws inside httpCallRoutingComplete's try => 500
        this.log.error(`makeOutboundConnection - unable to resolve ${target.host}: ${err.message}`);
        this.respondFromServer(txnId, 500, REASONS[500], []);
      },
    );
  }

  /** ClientController::outboundReady: the app authenticated on the outbound connection */
  private outboundReady(client: AppClient, txnId: string): void {
    const p = this.routing.get(txnId);
    if (!p) {
      this.log.error(`routeNewRequestToClient: transactionId not found: ${txnId}`);
      return this.outboundFailed(txnId);
    }
    this.routing.delete(txnId);
    this.routeNewRequestToClient(client, p);
  }

  /** SipDialogController::processRequestInsideDialog (default case) */
  private onRequestInsideDialog(dlg: Dialog, req: SipMessage, from: Endpoint): void {
    const method = req.method ?? '';
    const stx = this.layer.createServer(req, from);
    if (method === 'INVITE') stx.respond(this.buildResponse(req, 100, 'Trying', [], '', {}));
    dlg.remoteCSeq = req.cseq.seq;
    if ((method === 'INVITE' || method === 'UPDATE') && req.get('contact')) {
      dlg.remoteTarget = parseNameAddr(req.getAll('contact', true)[0]).uri; // target refresh
    }
    const client = dlg.client && !dlg.client.closed ? dlg.client : undefined;
    if (!client) {
      this.log.warn(`no client found for ${method} in dialog ${dlg.id}`);
      if (method === 'BYE') this.clearDialog(dlg);
      stx.respond(this.buildResponse(req, 481, REASONS[481], [], '', {}));
      return;
    }
    const txnId = uuid();
    stx.txnId = txnId;
    this.incoming.set(txnId, { txnId, stx, client, dialogId: dlg.id, localTag: dlg.localTag });
    const raw = req.toString();
    client.sendSip(txnId, dlg.id, raw, this.networkMeta(raw, from));
    if (method === 'BYE') {
      // dialog is cleared when the BYE is received, not when it is answered
      this.clearDialog(dlg);
      this.timers.after(64 * this.cfg.t1, () => this.incoming.delete(txnId)); // timeoutBye
    }
  }

  /**
   * UPDATE in the early dialog of an incoming INVITE: handed to the app with the INVITE's
   * transaction id (SipDialogController::processRequestInsideDialog, route_request_inside_invite);
   * a second one while the first is unanswered gets 500 (RFC 3311 5.2).
   */
  private onUpdateDuringInvite(iip: UasInvite, req: SipMessage, from: Endpoint): void {
    const stx = this.layer.createServer(req, from);
    if (iip.updateStx && !iip.updateStx.finalSent) {
      stx.respond(this.buildResponse(req, 500, REASONS[500], [], '', {}));
      return;
    }
    iip.updateStx = stx;
    const dlg = iip.dialog;
    if (!dlg || iip.client.closed) {
      stx.respond(this.buildResponse(req, 481, REASONS[481], [], '', {}));
      return;
    }
    const raw = req.toString();
    iip.client.sendSip(iip.txnId, dlg.id, raw, this.networkMeta(raw, from));
  }

  private onAck(req: SipMessage, from: Endpoint): void {
    const stx = this.layer.findServer(req) ?? this.layer.findInviteForAck(req);
    if (stx && stx.state === 'completed') {
      stx.ack(); // ACK for a non-2xx final: absorbed by the transaction layer
      return;
    }
    const dlg = this.dialogs.findForRequest(req.callId, req.fromTag, req.toTag);
    if (!dlg) {
      this.log.warn(`received ACK but no dialog found (stale or invalid ACK): ${req.callId}`);
      return;
    }
    let txnId = uuid();
    for (const [id, rec] of this.uasInvites) {
      if (rec.dialog === dlg) {
        txnId = id;
        this.uasInvites.delete(id);
      }
    }
    this.clearSipTimers(dlg);
    if (dlg.inviteStx) {
      dlg.inviteStx.terminate();
      dlg.inviteStx = undefined;
    }
    const client = dlg.client && !dlg.client.closed ? dlg.client : undefined;
    if (!client) return;
    const raw = req.toString();
    client.sendSip(txnId, dlg.id, raw, this.networkMeta(raw, from));
  }

  private onCancel(req: SipMessage, from: Endpoint): void {
    const inv = this.layer.findServer(req, 'INVITE');
    const existing = this.layer.findServer(req, 'CANCEL');
    if (existing) {
      existing.retransmission();
      return;
    }
    const cancelStx = this.layer.createServer(req, from);
    if (!inv) {
      cancelStx.respond(this.buildResponse(req, 481, REASONS[481], [], '', { localTag: randomToken(5) }));
      return;
    }
    const rec = [...this.uasInvites.values()].find((r) => r.stx === inv);
    // quick cancel of a request still waiting for its request handler / outbound connection
    const routed = [...this.routing.values()].find((r) => r.stx === inv);
    if (routed && inv.state === 'proceeding') routed.canceled = true;
    if (inv.state === 'proceeding') {
      const localTag = rec?.localTag ?? randomToken(5);
      cancelStx.respond(this.buildResponse(req, 200, 'OK', [], '', { localTag }));
      inv.respond(this.buildResponse(inv.request, 487, REASONS[487], [], '', { localTag }));
      if (rec) {
        rec.canceled = true;
        this.timers.cancel(rec.pendingTimer);
        this.uasInvites.delete(rec.txnId);
        if (!rec.client.closed) {
          const raw = req.toString();
          const meta = this.networkMeta(raw, from);
          if (rec.dialog) rec.client.sendSip(rec.txnId, rec.dialog.id, raw, meta);
          else rec.client.sendNewSip(rec.txnId, raw, meta);
        }
      }
      return;
    }
    const dlg = rec?.dialog;
    if (inv.state === 'accepted' && dlg && this.dialogs.get(dlg.id) === dlg) {
      // CANCEL after 200 OK but before ACK: 481 to the CANCEL, then tear the dialog down with a BYE
      cancelStx.respond(this.buildResponse(req, 481, REASONS[481], [], '', {}));
      this.clearSipTimers(dlg);
      this.terminateDialogWithBye(dlg, 'SIP ;cause=200 ;text="CANCEL after 200 OK"');
      if (rec) this.uasInvites.delete(rec.txnId);
      return;
    }
    cancelStx.respond(this.buildResponse(req, 200, 'OK', [], '', { localTag: inv.localTag ?? randomToken(5) }));
  }

  // ================================================================ application side

  private onAppSip(client: AppClient, cmd: SipCommand): boolean {
    if (cmd.startLine.startsWith('SIP/')) {
      if (!cmd.transactionId) {
        // BaseClient::processClientMessage: NO + disconnect
        client.sendControlResponse(cmd.msgId, false, 'transaction id missing');
        return false;
      }
      this.respondToSipRequest(client, cmd);
    } else if (cmd.dialogId) {
      this.sendRequestInsideDialog(client, cmd);
    } else if (cmd.transactionId) {
      if (cmd.startLine.startsWith('CANCEL')) this.sendCancelRequest(client, cmd);
      else client.sendApiResponse(cmd.msgId, 'NOK', 'only CANCEL may be sent inside a transaction');
    } else {
      this.sendRequestOutsideDialog(client, cmd).catch((err: Error) => {
        this.log.error(`sendRequestOutsideDialog - ${err.message}`);
        client.sendApiResponse(cmd.msgId, 'NOK', err.message);
      });
    }
    return true;
  }

  private get localhostReplacement(): { host: string; port: number } {
    return { host: this.udp.address, port: this.udp.port };
  }

  /** Build a response to `req` (sofia nta_incoming_treply + drachtio's Contact / content-type rules). */
  private buildResponse(
    req: SipMessage,
    status: number,
    reason: string,
    appHeaders: AppHeader[],
    body: string,
    opts: { localTag?: string; contact?: string },
  ): SipMessage {
    const res = SipMessage.response(status, reason);
    for (const v of req.getAll('via')) res.append('Via', v);
    res.append('From', req.get('from') ?? '');
    let to = req.get('to') ?? '';
    if (status > 100 && opts.localTag && !getTag(to)) to = withTag(to, opts.localTag);
    res.append('To', to);
    res.append('Call-ID', req.callId);
    res.append('CSeq', req.get('cseq') ?? '');
    if (opts.contact) res.append('Contact', opts.contact);
    for (const h of appHeaders) {
      if (['from', 'to', 'call-id', 'cseq'].includes(h.lname)) continue;
      res.append(h.name, h.value);
    }
    this.setBody(res, appHeaders, body);
    return res;
  }

  /** body + content-type auto-detection ("v=0" => application/sdp); returns false if content-type is missing */
  private setBody(m: SipMessage, appHeaders: AppHeader[], body: string): boolean {
    if (!body) return true;
    m.body = body;
    if (!findHeader(appHeaders, 'content-type')) {
      if (body.startsWith('v=0')) m.append('Content-Type', 'application/sdp');
      else return false;
    }
    return true;
  }

  /** SipDialogController::doRespondToSipRequest */
  private respondToSipRequest(client: AppClient, cmd: SipCommand): void {
    const m = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/.exec(cmd.startLine.trim());
    if (!m) {
      client.sendApiResponse(cmd.msgId, 'NOK', 'Unknown server error sending response');
      return;
    }
    const code = parseInt(m[1], 10);
    const reason = m[2] || REASONS[code] || '';
    const hdrs = parseAppHeaders(cmd.headers, { localhost: this.localhostReplacement });
    const customContact = findHeader(hdrs, 'contact');

    const inv = this.uasInvites.get(cmd.transactionId);
    if (inv && !inv.canceled && inv.updateStx && !inv.updateStx.finalSent && /(?:^|\n)cseq:\s*\d+\s*UPDATE/i.test(cmd.headers)) {
      // response to an UPDATE received during the invite in progress (containsCseqUpdate)
      const upd = inv.updateStx;
      const raw = upd.respond(this.buildResponse(upd.request, code, reason, hdrs, cmd.body, { localTag: inv.localTag }));
      this.apiResponseForResponse(client, cmd.msgId, raw, upd.source, cmd.transactionId, '');
      return;
    }
    if (inv && !inv.canceled) return this.respondToInvite(client, cmd, inv, code, reason, hdrs);

    const rec = this.incoming.get(cmd.transactionId);
    if (!rec) {
      const cseqLine = cmd.headers.split(/\r\n/).find((l) => /^cseq\s*:/i.test(l)) ?? '';
      const failMsg = /\bCANCEL\s*$/i.test(cseqLine)
        ? '200 OK to incoming CANCEL is automatically generated by the stack'
        : 'Response not sent due to unknown transaction';
      client.sendApiResponse(cmd.msgId, 'NOK', failMsg);
      return;
    }
    const req = rec.stx.request;
    const method = req.method ?? '';
    const dialogId = rec.dialogId;
    const needsContact = (method === 'INVITE' || method === 'SUBSCRIBE') && !customContact;
    const res = this.buildResponse(req, code, reason, hdrs, cmd.body, {
      localTag: rec.localTag,
      contact: needsContact ? `<${this.contactUri}>` : undefined,
    });
    if (rec.stx.finalSent) {
      // e.g. a re-INVITE the stack already answered 487 after a CANCEL (nta_incoming_treply fails)
      client.sendApiResponse(cmd.msgId, 'NOK', 'Unknown server error sending response');
      this.incoming.delete(cmd.transactionId);
      return;
    }
    const raw = rec.stx.respond(res);
    this.apiResponseForResponse(client, cmd.msgId, raw, rec.stx.source, cmd.transactionId, dialogId);
    if (code >= 200) {
      this.timers.cancel(rec.pendingTimer);
      this.incoming.delete(cmd.transactionId);
    }
  }

  private respondToInvite(client: AppClient, cmd: SipCommand, inv: UasInvite, code: number, reason: string, hdrs: AppHeader[]): void {
    const req = inv.req;
    if (!inv.dialog) {
      // setupLegForIncomingRequest: the app may choose the local tag via the To header
      const toHdr = findHeader(hdrs, 'to');
      const appTag = toHdr ? /tag=([^;>\s]+)/.exec(toHdr.value)?.[1] : undefined;
      if (appTag) inv.localTag = appTag;
      const dlg = new Dialog('uas', req.callId, inv.localTag, req.fromTag ?? '');
      dlg.transactionId = inv.txnId;
      dlg.client = inv.client;
      dlg.remoteParty = req.get('from') ?? '';
      dlg.localParty = withTag(req.get('to') ?? '', inv.localTag);
      dlg.remoteTarget = parseNameAddr(req.getAll('contact', true)[0] ?? '').uri;
      dlg.routeSet = req.getAll('record-route', true);
      dlg.remoteCSeq = req.cseq.seq;
      // the leg is created with SIPTAG_CSEQ(sip->sip_cseq): our first in-dialog request uses INVITE CSeq + 1
      dlg.localCSeq = req.cseq.seq;
      const target = parseUri(dlg.remoteTarget);
      // SipDialog::SipDialog (UAS, udp): Contact host differs from the source, or an explicit port differs
      if (!dlg.routeSet.length && target && (target.host !== inv.source.address || (target.port !== undefined && target.port !== inv.source.port))) {
        this.log.info(`(UAS) detected client behind nat, using ${inv.source.address}:${inv.source.port} as route`);
        dlg.natRoute = inv.source;
      }
      inv.dialog = dlg;
    }
    const dlg = inv.dialog;
    if (inv.stx.finalSent) {
      this.log.warn(`application attempting to send final response ${code} when a final response has already been sent; discarding`);
      client.sendApiResponse(cmd.msgId, 'NOK', 'final response already sent');
      return;
    }
    const customContact = findHeader(hdrs, 'contact');
    const ourContact = `<${this.contactUri}>`;
    dlg.localContact = customContact ? customContact.value : ourContact;
    dlg.sipStatus = code;
    const res = this.buildResponse(req, code, reason, hdrs, cmd.body, {
      localTag: inv.localTag,
      contact: code >= 200 && code < 300 && !customContact ? ourContact : undefined,
    });
    const raw = inv.stx.respond(res);
    this.apiResponseForResponse(client, cmd.msgId, raw, inv.source, inv.txnId, dlg.id);
    if (code >= 200) this.timers.cancel(inv.pendingTimer);
    if (code === 200) {
      this.dialogs.add(dlg);
      dlg.inviteStx = inv.stx;
      this.startTimerGH(dlg, inv.stx);
    } else if (code > 200) {
      this.uasInvites.delete(inv.txnId);
      this.releaseAbsorbed(dlg);
    }
  }

  /** timer G (retransmit 2xx, T1 doubling up to T2) and timer H (64*T1, then BYE "ACK timeout") */
  private startTimerGH(dlg: Dialog, stx: ServerTransaction): void {
    dlg.timerGInterval = this.cfg.t1;
    const g = () => {
      dlg.timerG = undefined;
      if (stx.state === 'terminated') return;
      stx.retransmission();
      dlg.timerGInterval = Math.min(dlg.timerGInterval * 2, this.cfg.t2);
      dlg.timerG = this.timers.after(dlg.timerGInterval, g);
    };
    dlg.timerG = this.timers.after(dlg.timerGInterval, g);
    dlg.timerH = this.timers.after(64 * this.cfg.t1, () => {
      dlg.timerH = undefined;
      this.log.error(`never received ACK for final response to incoming INVITE ${dlg.callId}; sending BYE`);
      this.clearSipTimers(dlg);
      stx.terminate();
      for (const [id, rec] of this.uasInvites) if (rec.dialog === dlg) this.uasInvites.delete(id);
      this.terminateDialogWithBye(dlg, 'SIP ;cause=200 ;text="ACK timeout"');
    });
  }

  private clearSipTimers(dlg: Dialog): void {
    this.timers.cancel(dlg.timerG);
    this.timers.cancel(dlg.timerH);
    dlg.timerG = undefined;
    dlg.timerH = undefined;
  }

  private clearDialog(dlg: Dialog): void {
    this.clearSipTimers(dlg);
    this.forgetDialog(dlg);
  }

  /** Removes a dialog; merged INVITEs it absorbed while early now get their 500. */
  private forgetDialog(dlg: Dialog): void {
    this.dialogs.delete(dlg);
    this.releaseAbsorbed(dlg);
  }

  private releaseAbsorbed(dlg: Dialog): void {
    for (const stx of dlg.absorbedInvites.splice(0)) {
      if (!stx.finalSent) stx.respond(this.buildResponse(stx.request, 500, 'Internal Server Error', [], '', { localTag: randomToken(5) }));
    }
  }

  /**
   * Send a BYE on the dialog ourselves and tell the owning app with an `unsolicited` BYE
   * (SipDialogController::endRetransmitFinalResponse / notifyTerminateStaleDialog).
   */
  private terminateDialogWithBye(dlg: Dialog, reasonHdr: string): void {
    const bye = this.buildInDialogRequest(dlg, 'BYE', [{ name: 'Reason', lname: 'reason', value: reasonHdr }], '');
    const dest = dlg.nextHop();
    if (dest) this.layer.createClient(bye, dest, {});
    const raw = bye.toString();
    const client = dlg.client && !dlg.client.closed ? dlg.client : undefined;
    if (client) client.sendSip('unsolicited', dlg.id, raw, this.appRequestMeta(raw));
    this.clearDialog(dlg);
  }

  private apiResponseForResponse(client: AppClient, msgId: string, raw: string, dest: Endpoint, txnId: string, dialogId: string): void {
    const meta = this.appResponseMeta(raw, dest);
    client.sendApiResponse(msgId, 'OK', `${metaToString(meta)}|${txnId}|${dialogId}||Msg sent:|\r\n${raw}`);
  }

  private apiResponseForRequest(client: AppClient, msgId: string, raw: string, txnId: string): void {
    const meta = this.appRequestMeta(raw);
    client.sendApiResponse(msgId, 'OK', `${metaToString(meta)}|${txnId}|Msg sent:|\r\n${raw}`);
  }

  /** Build an in-dialog request from dialog state (sofia nta_outgoing_tcreate on a leg). */
  private buildInDialogRequest(dlg: Dialog, method: string, hdrs: AppHeader[], body: string, uri?: string): SipMessage {
    const req = SipMessage.request(method, uri ?? dlg.remoteTarget);
    req.append('Via', this.newVia());
    req.append('Max-Forwards', findHeader(hdrs, 'max-forwards')?.value ?? '70');
    req.append('From', dlg.localParty);
    req.append('To', dlg.remoteParty);
    req.append('Call-ID', dlg.callId);
    let seq: number;
    if (method === 'ACK') seq = dlg.lastInviteCSeq;
    else {
      dlg.localCSeq += 1;
      seq = dlg.localCSeq;
      if (method === 'INVITE') dlg.lastInviteCSeq = seq;
    }
    req.append('CSeq', `${seq} ${method}`);
    for (const r of dlg.routeSet) req.append('Route', r);
    if ((method === 'INVITE' || method === 'SUBSCRIBE' || method === 'REFER') && !findHeader(hdrs, 'contact')) {
      req.append('Contact', dlg.localContact || `<${this.contactUri}>`);
    }
    for (const h of hdrs) {
      if (['from', 'to', 'call-id', 'cseq', 'max-forwards'].includes(h.lname)) continue;
      req.append(h.name, h.value);
    }
    this.setBody(req, hdrs, body);
    return req;
  }

  /** SipDialogController::doSendRequestInsideDialog */
  private sendRequestInsideDialog(client: AppClient, cmd: SipCommand): void {
    const [rawMethod, rawUri] = cmd.startLine.trim().split(/\s+/);
    const method = (rawMethod ?? '').toUpperCase();
    const dlg = this.dialogs.get(cmd.dialogId);
    if (!dlg) {
      const err = method === 'ACK' ? 'ACK for non-success final response is automatically generated by server' : 'unable to find dialog for dialog id provided';
      client.sendApiResponse(cmd.msgId, 'NOK', `Server error: ${err}`);
      return;
    }
    if (!KNOWN_METHODS.has(method)) {
      client.sendApiResponse(cmd.msgId, 'NOK', `Server error: invalid or missing method supplied on start line: ${cmd.startLine}`);
      return;
    }
    const hdrs = parseAppHeaders(cmd.headers, { localhost: this.localhostReplacement });
    if (cmd.body && !findHeader(hdrs, 'content-type') && !cmd.body.startsWith('v=0')) {
      client.sendApiResponse(cmd.msgId, 'NOK', 'Server error: missing content-type');
      return;
    }
    const uri = method === 'ACK' || !rawUri || rawUri.includes('placeholder') ? dlg.remoteTarget : rawUri;
    const dest = dlg.nextHop();
    if (!dest) {
      client.sendApiResponse(cmd.msgId, 'NOK', `Server error: unable to find route when sending request inside dialog for dialog id ${dlg.id}`);
      return;
    }
    const txnId = uuid();

    if (method === 'ACK') {
      if (dlg.sipStatus !== 200) {
        this.forgetDialog(dlg);
        client.sendApiResponse(cmd.msgId, 'NOK', 'ACK for non-success responses is automatically generated by the stack');
        return;
      }
      const ack = this.buildInDialogRequest(dlg, 'ACK', hdrs, cmd.body, uri);
      const raw = ack.toString();
      this.udp.send(raw, dest);
      dlg.lastAck = { raw, dest, cseq: dlg.lastInviteCSeq };
      for (const [id, rec] of this.uacInvites) if (rec.dialog === dlg) this.uacInvites.delete(id); // IIP_Clear
      this.apiResponseForRequest(client, cmd.msgId, raw, txnId);
      if (dlg.ackBye) {
        this.log.info(`ACK-BYE: 200 OK arrived for a canceled INVITE, tearing down ${dlg.id}`);
        this.terminateDialogWithBye(dlg, 'SIP ;cause=200 ;text="ACK-BYE due to cancel race condition"');
      }
      return;
    }

    const req = this.buildInDialogRequest(dlg, method, hdrs, cmd.body, uri);
    if (method === 'INVITE' && cmd.body) dlg.localContact = findHeader(hdrs, 'contact')?.value ?? dlg.localContact;
    const clearOnResponse = method === 'BYE';
    const ctx = this.layer.createClient(req, dest, {
      onResponse: (res, from, raw) => {
        const status = res.status ?? 0;
        if (status === 100) return; // not passed up (sa_pass_100 = 0)
        const owner = !client.closed ? client : undefined;
        if (owner) owner.sendSip(txnId, dlg.id, raw, this.networkMeta(raw, from));
        if (clearOnResponse && status >= 200 && status !== 401 && status !== 407) this.forgetDialog(dlg);
      },
      on2xxRetransmission: (res) => {
        if (dlg.lastAck && dlg.lastAck.cseq === res.cseq.seq) this.udp.send(dlg.lastAck.raw, dlg.lastAck.dest);
      },
      onTimeout: (res) => {
        const raw = res.toString();
        if (!client.closed) client.sendSip(txnId, dlg.id, raw, this.networkMeta(raw, dest));
        if (clearOnResponse) this.forgetDialog(dlg);
      },
    });
    if (method === 'INVITE') dlg.ackTarget = ctx;
    this.apiResponseForRequest(client, cmd.msgId, ctx.raw, txnId);
  }

  /** SipDialogController::doSendRequestOutsideDialog */
  private async sendRequestOutsideDialog(client: AppClient, cmd: SipCommand): Promise<void> {
    // SipMessageData keeps only START_LEN (512) bytes of the start line and of the route url
    const startLine = cutToStartLen(cmd.startLine);
    const routeUrl = cmd.routeUrl ? cutToStartLen(cmd.routeUrl) : '';
    // sip_request_make(startLine): method, URL type, version
    if (!requestLineOk(startLine)) throw new Error(`invalid request-uri: ${startLine}`);
    const method = startLine.split(/[ \t]+/)[0];
    const requestUri = requestUriToken(startLine);
    const targetUri = parseUri(routeUrl || requestUri);
    if (!targetUri) {
      // SipTransport::findAppropriateTransport finds none for what the emulator cannot parse
      if (routeUrl) throw new Error(`invalid request-uri: ${routeUrl}`);
      throw new Error(`invalid request-uri: ${startLine}`);
    }
    const transport = targetUri.params.get('transport');
    if (targetUri.scheme === 'sips' || (transport && transport.toLowerCase() !== 'udp')) {
      throw new Error('requested protocol/transport not available');
    }
    const hdrs = parseAppHeaders(cmd.headers, { localhost: this.localhostReplacement });
    const host = this.udp.address;
    const port = this.udp.port;
    const contact = `<${this.contactUri}>`;

    let from = findHeader(hdrs, 'from')?.value;
    if (from !== undefined) {
      if (from.includes('localhost')) {
        const r = replaceHostInNameAddr(from, host, port);
        if (!r) throw new Error(`invalid from value provided by client: ${from}`);
        from = r;
      }
    } else {
      from = contact;
    }
    if (!getTag(from)) from = withTag(from, randomToken(5));
    // default To header to request uri if not provided (the token as the app wrote it)
    const toValue = findHeader(hdrs, 'to')?.value ?? requestUri;
    const callId = findHeader(hdrs, 'call-id')?.value ?? `${randomToken(8)}-${randomToken(4)}`;
    if (cmd.body && !findHeader(hdrs, 'content-type') && !cmd.body.startsWith('v=0')) throw new Error('missing content-type');

    // normalizeSipUri(requestUri, 0): refuses a user part holding an unescaped ';', '?' or ','
    const normalized = normalizeSipUri(requestUri);
    if (normalized === undefined) throw new Error(`invalid request-uri: ${requestUri}`);
    // nta_outgoing_tcreate(URL_STRING_MAKE(normalized)): the Request-URI in sofia's canonical form
    const wireUrl = urlD(normalized);
    const wireUri = wireUrl ? urlE(wireUrl) : normalized;
    const ruri = parseUri(wireUri);
    if (!ruri) throw new Error(`invalid request-uri: ${startLine}`);

    // prevent looping messages
    if ((ruri.host === host || ruri.host === 'localhost') && (ruri.port ?? 5060) === port) {
      throw new Error('can not send request to myself');
    }
    // nta_leg_tcreate(SIPTAG_TO_STR(to)): sip_addr_d, encoded canonically with brackets
    const to = sipAddrCanonical(toValue);
    if (to === undefined) throw new Error('Error creating leg');

    const dest = await this.resolve(targetUri.host, targetUri.port ?? 5060);
    // the app's CSeq number is kept; a CSeq sofia cannot parse is dropped with every app header after it
    const cseq = appCSeq(hdrs);
    const seq = cseq.seq ?? sofiaInitialSeq();
    const extra = cseq.bad === undefined ? hdrs : hdrs.slice(0, cseq.bad);
    const req = SipMessage.request(method, wireUri);
    req.append('Via', this.newVia());
    req.append('Max-Forwards', findHeader(hdrs, 'max-forwards')?.value ?? '70');
    req.append('From', from);
    req.append('To', to);
    req.append('Call-ID', callId);
    req.append('CSeq', `${seq} ${method}`);
    const customContact = findHeader(hdrs, 'contact');
    if ((method === 'INVITE' || method === 'SUBSCRIBE') && !customContact) req.append('Contact', contact);
    for (const h of extra) {
      if (['from', 'to', 'call-id', 'cseq', 'max-forwards'].includes(h.lname)) continue;
      req.append(h.name, h.value);
    }
    this.setBody(req, hdrs, cmd.body);
    const txnId = uuid();

    if (method === 'INVITE') {
      const dlg = new Dialog('uac', callId, getTag(from) ?? '', '');
      dlg.transactionId = txnId;
      dlg.client = client;
      dlg.localParty = from;
      dlg.localCSeq = seq;
      dlg.lastInviteCSeq = seq;
      dlg.localContact = customContact ? customContact.value : contact;
      // responses arrive asynchronously, after `rec` below is assigned
      // eslint-disable-next-line prefer-const -- the callbacks below test `rec` and must not hit its TDZ should one run early
      let rec: UacInvite | undefined;
      const ctx = this.layer.createClient(req, dest, {
        onResponse: (res, from2, raw) => rec && this.onUacInviteResponse(rec, res, from2, raw),
        on2xxRetransmission: (res) => {
          if (dlg.lastAck && dlg.lastAck.cseq === res.cseq.seq) {
            this.log.info(`retransmitted ACK for callid: ${callId}`);
            this.udp.send(dlg.lastAck.raw, dlg.lastAck.dest);
          }
        },
        onTimeout: (res) => {
          if (rec) rec.final = true;
          this.uacInvites.delete(txnId);
          const raw = res.toString();
          if (!client.closed) client.sendSip(txnId, dlg.id, raw, this.networkMeta(raw, dest));
        },
      });
      rec = { txnId, dialog: dlg, client, canceled: false, final: false, ctx };
      this.uacInvites.set(txnId, rec);
      this.apiResponseForRequest(client, cmd.msgId, rec.ctx.raw, txnId);
      return;
    }

    const ctx = this.layer.createClient(req, dest, {
      onResponse: (res, from2, raw) => {
        if (res.status === 100) return; // not passed up (sa_pass_100 = 0)
        if (!client.closed) client.sendSip(txnId, '', raw, this.networkMeta(raw, from2));
      },
      onTimeout: (res) => {
        const raw = res.toString();
        if (!client.closed) client.sendSip(txnId, '', raw, this.networkMeta(raw, dest));
      },
    });
    this.apiResponseForRequest(client, cmd.msgId, ctx.raw, txnId);
  }

  /** SipDialogController::processResponseOutsideDialog for INVITE */
  private onUacInviteResponse(rec: UacInvite, res: SipMessage, from: Endpoint, raw: string): void {
    const status = res.status ?? 0;
    if (status === 100) return; // sofia sa_pass_100 = 0: 100 Trying is not passed up
    const dlg = rec.dialog;
    dlg.sipStatus = status;
    if (status === 200 || (status > 100 && status < 200 && res.has('rseq'))) {
      dlg.remoteTag = res.toTag ?? '';
      dlg.remoteParty = res.get('to') ?? '';
      const contactHdr = res.getAll('contact', true)[0];
      if (contactHdr) dlg.remoteTarget = parseNameAddr(contactHdr).uri;
      dlg.routeSet = res.getAll('record-route', true).reverse();
      const target = parseUri(dlg.remoteTarget);
      if (!dlg.routeSet.length && target && target.host !== from.address) {
        this.log.info(`(UAC) detected downstream client; contact ip ${target.host} differs from recv address ${from.address}`);
        dlg.natRoute = from;
      }
      if (rec.canceled) {
        this.log.info('ACK/BYE race condition - received 200 OK to INVITE that was previously CANCELED');
        dlg.ackBye = true;
      }
      this.dialogs.add(dlg);
    }
    if (status >= 200) rec.final = true;
    if (status > 200) this.uacInvites.delete(rec.txnId);
    if (!rec.client.closed) rec.client.sendSip(rec.txnId, dlg.id, raw, this.networkMeta(raw, from));
  }

  /** SipDialogController::doSendCancelRequest */
  private sendCancelRequest(client: AppClient, cmd: SipCommand): void {
    const rec = this.uacInvites.get(cmd.transactionId);
    if (!rec || rec.final) {
      client.sendApiResponse(cmd.msgId, 'NOK', `unable to cancel unknown transaction id: ${cmd.transactionId}`);
      return;
    }
    rec.canceled = true;
    const inv = rec.ctx.request;
    const cancel = SipMessage.request('CANCEL', inv.uri ?? '');
    const via = inv.topVia;
    if (via) cancel.append('Via', via);
    cancel.append('Max-Forwards', '70');
    cancel.append('From', inv.get('from') ?? '');
    cancel.append('To', inv.get('to') ?? '');
    cancel.append('Call-ID', inv.callId);
    cancel.append('CSeq', `${inv.cseq.seq} CANCEL`);
    for (const r of inv.getAll('route')) cancel.append('Route', r);
    for (const h of parseAppHeaders(cmd.headers, { safe: true })) {
      if (['call-id', 'cseq', 'max-forwards', 'content-type'].includes(h.lname)) continue;
      cancel.append(h.name, h.value);
    }
    // responses to the CANCEL are not passed up to the app; over UDP the CANCEL waits for a
    // provisional response to the INVITE (sofia sa_cancel_2543 = 0)
    rec.ctx.whenProvisional(() => {
      if (!rec.final) this.layer.createClient(cancel, rec.ctx.dest, {});
    });
    this.apiResponseForRequest(client, cmd.msgId, cancel.toString(), uuid());
  }

  private async resolve(host: string, port: number): Promise<Endpoint> {
    const h = host.replace(/^\[|\]$/g, '');
    if (isIp(h)) return { address: h, port };
    const r = await dns.lookup(h, { family: 4 });
    return { address: r.address, port };
  }

  /**
   * ClientController::leave: the connection's routes are gone and the dialogs it owned lose their
   * owner (weak pointers in m_mapDialogs): SIP-level state stays, but in-dialog requests for them
   * are answered 481 (BYE also clears the dialog), responses for its transactions are dropped.
   */
  private onClientGone(client: AppClient): void {
    for (const d of this.dialogs.ownedBy(client)) {
      this.log.info(`dialog ${d.id} lost its owner (client#${client.id} disconnected)`);
      d.client = undefined;
    }
    for (const [id, r] of this.incoming) if (r.client === client) this.incoming.delete(id);
    for (const [id, r] of this.uacInvites) if (r.client === client) this.uacInvites.delete(id);
  }
}

export async function startEmulator(opts: EmulatorOptions): Promise<EmulatorHandle> {
  const emulator = new DrachtioEmulator(opts);
  await emulator.start();
  return {
    adminPort: emulator.wire.port,
    sipPort: emulator.udp.port,
    sipAddress: emulator.udp.address,
    emulator,
    close: () => emulator.close(),
  };
}
