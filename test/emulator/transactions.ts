/**
 * RFC 3261 transaction layer (UDP only), i.e. what sofia-sip's nta does inside drachtio-server:
 *  - server transactions absorb request retransmissions by re-sending the last response,
 *    non-2xx INVITE finals are retransmitted (timer G) until ACK / timer H;
 *  - client transactions retransmit requests (timers A / E), time out with a locally generated
 *    408 (timers B / F; drachtio sets NTATAG_PASS_408 so it reaches the app), ACK non-2xx final
 *    responses to INVITE themselves, and absorb response retransmissions.
 * 2xx-to-INVITE retransmission and its ACK are handled at the dialog level (emulator.ts), as
 * drachtio-server does (SipDialogController::retransmitFinalResponse and TimerDHandler).
 */
import { SipMessage, parseVia, stringifyVia } from './sip-message';
import type { Endpoint } from './udp-transport';
import type { Logger, SipTimerConfig, Timers } from './util';

export type SendFn = (raw: string, to: Endpoint) => void;

interface LayerCtx {
  send: SendFn;
  timers: Timers;
  cfg: SipTimerConfig;
  log: Logger;
  /** our own sent-by host/port (to fill Via received/rport correctly) */
}

function transactionKey(msg: SipMessage, methodOverride?: string): string {
  const method = methodOverride ?? (msg.isRequest ? (msg.method ?? '') : msg.cseq.method);
  const branch = msg.branch;
  if (branch && branch.startsWith('z9hG4bK')) return `${branch}|${method}`;
  // RFC 2543 fallback
  return `${msg.callId}|${msg.cseq.seq}|${msg.fromTag ?? ''}|${method}`;
}

export type ServerState = 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export class ServerTransaction {
  state: ServerState = 'proceeding';
  lastResponse?: { raw: string; status: number };
  /** drachtio transaction id assigned when the request was handed to an app */
  txnId?: string;
  /** local (To) tag used in our responses */
  localTag?: string;
  private timerG?: NodeJS.Timeout;
  private timerH?: NodeJS.Timeout;
  private timerJ?: NodeJS.Timeout;
  private gInterval: number;
  onTerminated?: () => void;

  constructor(
    private readonly layer: TransactionLayer,
    readonly key: string,
    readonly request: SipMessage,
    readonly source: Endpoint,
  ) {
    this.gInterval = layer.ctx.cfg.t1;
  }

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  get finalSent(): boolean {
    return this.state !== 'proceeding';
  }

  /** Send a response built by the caller; manages RFC 3261 server-transaction timers. */
  respond(res: SipMessage): string {
    const raw = res.toString();
    const status = res.status ?? 0;
    const { ctx } = this.layer;
    if (this.state !== 'proceeding') return raw; // a final response was already sent
    ctx.send(raw, this.source);
    this.lastResponse = { raw, status };
    if (status < 200) return raw;
    if (this.isInvite) {
      if (status < 300) {
        // 2xx: retransmission until ACK is done by the dialog layer; keep matching retransmitted INVITEs
        this.state = 'accepted';
        this.timerH = ctx.timers.after(64 * ctx.cfg.t1, () => this.terminate());
      } else {
        this.state = 'completed';
        const g = () => {
          if (this.state !== 'completed' || !this.lastResponse) return;
          ctx.send(this.lastResponse.raw, this.source);
          this.gInterval = Math.min(this.gInterval * 2, ctx.cfg.t2);
          this.timerG = ctx.timers.after(this.gInterval, g);
        };
        this.timerG = ctx.timers.after(this.gInterval, g);
        this.timerH = ctx.timers.after(64 * ctx.cfg.t1, () => {
          ctx.log.info(`timer H fired for ${this.key}: no ACK for ${status} response`);
          this.terminate();
        });
      }
    } else {
      this.state = 'completed';
      this.timerJ = ctx.timers.after(64 * ctx.cfg.t1, () => this.terminate());
    }
    return raw;
  }

  /** A retransmission of the request arrived: re-send the most recent response (if any). */
  retransmission(): void {
    if (this.lastResponse && this.state !== 'terminated' && this.state !== 'confirmed') {
      this.layer.ctx.send(this.lastResponse.raw, this.source);
    }
  }

  /** ACK for a non-2xx final response (same branch). */
  ack(): void {
    if (this.state !== 'completed') return;
    const { ctx } = this.layer;
    this.state = 'confirmed';
    ctx.timers.cancel(this.timerG);
    ctx.timers.cancel(this.timerH);
    // timer I
    ctx.timers.after(ctx.cfg.t4, () => this.terminate());
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    const { ctx } = this.layer;
    this.state = 'terminated';
    ctx.timers.cancel(this.timerG);
    ctx.timers.cancel(this.timerH);
    ctx.timers.cancel(this.timerJ);
    this.layer.removeServer(this);
    this.onTerminated?.();
  }
}

export interface ClientHandlers {
  /** a response to deliver (not called for absorbed retransmissions) */
  onResponse?: (res: SipMessage, from: Endpoint, raw: string) => void;
  /** a retransmitted 2xx to INVITE arrived (dialog layer re-sends the ACK) */
  on2xxRetransmission?: (res: SipMessage) => void;
  /** transaction timed out; `res` is the locally generated 408 */
  onTimeout?: (res: SipMessage) => void;
}

export type ClientState = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

export class ClientTransaction {
  state: ClientState = 'calling';
  readonly raw: string;
  private timerRetrans?: NodeJS.Timeout;
  private timerTimeout?: NodeJS.Timeout;
  private interval: number;
  private ackRaw?: string;
  private onProvisional: Array<() => void> = [];
  gotProvisional = false;
  finalStatus = 0;

  constructor(
    private readonly layer: TransactionLayer,
    readonly key: string,
    readonly request: SipMessage,
    readonly dest: Endpoint,
    readonly handlers: ClientHandlers,
  ) {
    this.raw = request.toString();
    this.interval = layer.ctx.cfg.t1;
  }

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  start(): void {
    const { ctx } = this.layer;
    ctx.send(this.raw, this.dest);
    const retrans = () => {
      if (this.state !== 'calling' && !(this.state === 'proceeding' && !this.isInvite)) return;
      ctx.send(this.raw, this.dest);
      // timer A doubles without cap; timer E is capped at T2 (and is T2 once proceeding)
      this.interval = this.isInvite ? this.interval * 2 : Math.min(this.interval * 2, ctx.cfg.t2);
      if (!this.isInvite && this.state === 'proceeding') this.interval = ctx.cfg.t2;
      this.timerRetrans = ctx.timers.after(this.interval, retrans);
    };
    this.timerRetrans = ctx.timers.after(this.interval, retrans);
    // timer B (INVITE, only while no provisional has arrived) / timer F (non-INVITE)
    this.timerTimeout = ctx.timers.after(64 * ctx.cfg.t1, () => {
      if (this.isInvite ? this.state !== 'calling' : this.state !== 'calling' && this.state !== 'proceeding') return;
      this.timeout();
    });
  }

  private timeout(): void {
    this.layer.ctx.log.info(`client transaction ${this.key} timed out`);
    const res = this.make408();
    this.terminate();
    this.handlers.onTimeout?.(res);
  }

  private make408(): SipMessage {
    const res = SipMessage.response(408, 'Request Timeout');
    for (const v of this.request.getAll('via')) res.append('Via', v);
    for (const h of ['From', 'To', 'Call-ID', 'CSeq']) {
      const v = this.request.get(h);
      if (v !== undefined) res.append(h, v);
    }
    return res;
  }

  receive(res: SipMessage, from: Endpoint, raw: string): void {
    const { ctx } = this.layer;
    const status = res.status ?? 0;
    if (this.state === 'terminated') return;
    if (status < 200) {
      if (this.state === 'calling' || this.state === 'proceeding') {
        this.state = 'proceeding';
        this.gotProvisional = true;
        for (const fn of this.onProvisional.splice(0)) fn();
        if (this.isInvite) {
          ctx.timers.cancel(this.timerRetrans);
          // sofia timer C (sa_timer_c, 185 s): a proceeding INVITE without final response times out (408)
          ctx.timers.cancel(this.timerTimeout);
          this.timerTimeout = ctx.timers.after(370 * ctx.cfg.t1, () => {
            if (this.state === 'proceeding') this.timeout();
          });
        }
        this.handlers.onResponse?.(res, from, raw);
      }
      return;
    }
    if (this.isInvite && status < 300) {
      if (this.state === 'accepted') {
        this.handlers.on2xxRetransmission?.(res);
        return;
      }
      this.state = 'accepted';
      this.finalStatus = status;
      ctx.timers.cancel(this.timerRetrans);
      ctx.timers.cancel(this.timerTimeout);
      // keep matching 2xx retransmissions for a while (drachtio TimerDHandler TIMER_D_MSECS 30s)
      this.timerTimeout = ctx.timers.after(Math.min(30000, 60 * ctx.cfg.t1), () => this.terminate());
      this.handlers.onResponse?.(res, from, raw);
      return;
    }
    if (this.state === 'completed' || this.state === 'accepted') {
      // retransmitted final: re-ACK (INVITE) or absorb
      if (this.isInvite && this.ackRaw) ctx.send(this.ackRaw, this.dest);
      return;
    }
    this.state = 'completed';
    this.finalStatus = status;
    ctx.timers.cancel(this.timerRetrans);
    ctx.timers.cancel(this.timerTimeout);
    if (this.isInvite) {
      this.ackRaw = this.buildNon2xxAck(res).toString();
      ctx.send(this.ackRaw, this.dest);
      // timer D (>= 32s for UDP)
      this.timerTimeout = ctx.timers.after(64 * ctx.cfg.t1, () => this.terminate());
    } else {
      // timer K
      this.timerTimeout = ctx.timers.after(ctx.cfg.t4, () => this.terminate());
    }
    this.handlers.onResponse?.(res, from, raw);
  }

  /**
   * Run `fn` once a provisional response has been received (immediately if one already was);
   * dropped if the transaction completes first. sofia (sa_cancel_2543 = 0) delays a CANCEL of
   * an INVITE sent over UDP this way (RFC 3261 9.1).
   */
  whenProvisional(fn: () => void): void {
    if (this.gotProvisional) fn();
    else if (this.state === 'calling') this.onProvisional.push(fn);
  }

  /** RFC 3261 17.1.1.3: ACK for a non-2xx final response, built from the original INVITE. */
  private buildNon2xxAck(res: SipMessage): SipMessage {
    const ack = SipMessage.request('ACK', this.request.uri ?? '');
    const topVia = this.request.topVia;
    if (topVia) ack.append('Via', topVia);
    ack.append('Max-Forwards', '70');
    for (const h of ['From']) {
      const v = this.request.get(h);
      if (v !== undefined) ack.append(h, v);
    }
    ack.append('To', res.get('to') ?? this.request.get('to') ?? '');
    ack.append('Call-ID', this.request.callId);
    ack.append('CSeq', `${this.request.cseq.seq} ACK`);
    for (const r of this.request.getAll('route')) ack.append('Route', r);
    return ack;
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    const { ctx } = this.layer;
    this.state = 'terminated';
    ctx.timers.cancel(this.timerRetrans);
    ctx.timers.cancel(this.timerTimeout);
    this.layer.removeClient(this);
  }
}

export class TransactionLayer {
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly clients = new Map<string, ClientTransaction>();

  constructor(readonly ctx: LayerCtx) {}

  /**
   * INVITE server transaction an ACK for a non-2xx final belongs to when the ACK's branch does
   * not match (RFC 2543 style peers): same Call-ID, CSeq number and From tag, in state completed.
   */
  findInviteForAck(ack: SipMessage): ServerTransaction | undefined {
    for (const stx of this.servers.values()) {
      const r = stx.request;
      if (stx.isInvite && stx.state === 'completed' && r.callId === ack.callId && r.cseq.seq === ack.cseq.seq && r.fromTag === ack.fromTag) {
        return stx;
      }
    }
    return undefined;
  }

  /** Server transaction matching a request (ACK and CANCEL map to the INVITE's when asked). */
  findServer(req: SipMessage, method?: string): ServerTransaction | undefined {
    return this.servers.get(transactionKey(req, method ?? (req.method === 'ACK' ? 'INVITE' : req.method)));
  }

  createServer(req: SipMessage, source: Endpoint): ServerTransaction {
    const key = transactionKey(req);
    const stx = new ServerTransaction(this, key, req, source);
    this.servers.set(key, stx);
    return stx;
  }

  removeServer(stx: ServerTransaction): void {
    if (this.servers.get(stx.key) === stx) this.servers.delete(stx.key);
  }

  createClient(req: SipMessage, dest: Endpoint, handlers: ClientHandlers): ClientTransaction {
    const key = transactionKey(req);
    const ctx = new ClientTransaction(this, key, req, dest, handlers);
    this.clients.set(key, ctx);
    ctx.start();
    return ctx;
  }

  removeClient(ctx: ClientTransaction): void {
    if (this.clients.get(ctx.key) === ctx) this.clients.delete(ctx.key);
  }

  /** Route a response to its client transaction; returns false when none matches. */
  handleResponse(res: SipMessage, from: Endpoint, raw: string): boolean {
    const ctx = this.clients.get(transactionKey(res));
    if (!ctx) return false;
    ctx.receive(res, from, raw);
    return true;
  }

  clear(): void {
    for (const s of [...this.servers.values()]) s.terminate();
    for (const c of [...this.clients.values()]) c.terminate();
  }
}

/**
 * Fill `received`/`rport` on the top Via of an incoming request, as sofia does with
 * NTATAG_SERVER_RPORT(2) (drachtio-server src/controller.cpp nta_agent_create).
 */
export function stampTopVia(req: SipMessage, source: Endpoint): void {
  const vias = req.getAll('via', true);
  if (!vias.length) return;
  const v = parseVia(vias[0]);
  if (v.host !== source.address) v.params.set('received', source.address);
  v.params.set('rport', String(source.port));
  vias[0] = stringifyVia(v);
  req.remove('via');
  // re-insert Vias at the top to keep header order stable
  req.headers = [...vias.map((value) => ({ name: 'Via', value })), ...req.headers];
}
