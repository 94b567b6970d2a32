/**
 * Admin (application) side of the emulator: TCP server speaking drachtio's wire protocol.
 * Follows drachtio-server src/client.cpp (BaseClient::processClientMessage, createResponseMsg,
 * sendSipMessageToClient, sendApiResponseToClient) and src/client-controller.cpp
 * (wants_requests, no_longer_wants_requests, selectClientForRequestOutsideDialog, join/leave).
 */
import net from 'node:net';
import { FrameDecoder, encodeFrame } from './framing';
import { uuid, type Logger } from './util';

/** Version reported in the authenticate response (srf only checks it is >= v0.8.2 to enable pings). */
export const EMULATED_VERSION = 'v0.9.9';

export interface SipMeta {
  source: 'network' | 'application';
  bytes: number;
  protocol: string;
  address: string;
  port: number | string;
  time: string;
}

/** SipMsgData_t::toMessageFormat: `source|bytes|protocol|address|port|time` */
export function metaToString(m: SipMeta): string {
  return `${m.source}|${m.bytes}|${m.protocol}|${m.address}|${m.port}|${m.time}`;
}

export class AppClient {
  authenticated = false;
  closed = false;
  readonly tags = new Set<string>();
  readonly remote: string;

  /**
   * @param outboundTransactionId set on a connection the server opened to an app for a request
   *   routed by a request handler (BaseClient::m_transactionId; BaseClient::isOutbound)
   */
  constructor(
    readonly id: number,
    readonly socket: net.Socket,
    private readonly log: Logger,
    readonly outboundTransactionId?: string,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
  }

  send(payload: string): void {
    if (this.closed || this.socket.destroyed) return;
    this.log.debug(`===> client#${this.id}\n${payload}`);
    this.socket.write(encodeFrame(payload));
  }

  /** BaseClient::createResponseMsg: `uuid|response|msgId|OK` or `...|NO|reason` */
  sendControlResponse(msgId: string, ok: boolean, reason?: string): void {
    this.send(`${uuid()}|response|${msgId}|${ok ? 'OK' : 'NO'}${reason !== undefined ? '|' + reason : ''}`);
  }

  /** BaseClient::sendApiResponseToClient: `uuid|response|msgId|OK|data` / `NOK|reason` */
  sendApiResponse(msgId: string, status: 'OK' | 'NOK', additional: string): void {
    let msg = `${uuid()}|response|${msgId}|${status}`;
    if (additional) msg += `|${additional}`;
    this.send(msg);
  }

  /** BaseClient::sendSipMessageToClient (4-arg form): `uuid|sip|<meta>|txnId|dialogId|\r\n<sip>` */
  sendSip(transactionId: string, dialogId: string, raw: string, meta: SipMeta): void {
    this.send(`${uuid()}|sip|${metaToString(meta)}|${transactionId}|${dialogId}|\r\n${raw}`);
  }

  /**
   * BaseClient::sendSipMessageToClient (3-arg form, new requests):
   * `uuid|sip|<meta>|txnId||[destAddress|destPort|]\r\n<sip>`
   */
  sendNewSip(transactionId: string, raw: string, meta: SipMeta, dest?: { address: string; port: number }): void {
    let msg = `${uuid()}|sip|${metaToString(meta)}|${transactionId}||`;
    if (dest) msg += `${dest.address}|${dest.port}|`;
    this.send(`${msg}\r\n${raw}`);
  }
}

export interface SipCommand {
  msgId: string;
  transactionId: string;
  dialogId: string;
  routeUrl: string;
  startLine: string;
  headers: string;
  body: string;
}

export interface WireHandlers {
  authenticated(secret: string): boolean;
  /** hostports|version|localHostports returned on successful authentication */
  authResponse(): string;
  /** returns false when the client must be disconnected (as processClientMessage does) */
  onSip(client: AppClient, cmd: SipCommand): boolean;
  onClientGone(client: AppClient): void;
  /**
   * an outbound connection processed a message containing `|authenticate|` without being
   * disconnected (BaseClient::read_handler -> ClientController::outboundReady)
   */
  outboundReady(client: AppClient, transactionId: string): void;
}

/** drachtio splitMsg(): meta line, start line, headers, body */
export function splitMsg(msg: string): { meta: string; startLine: string; headers: string; body: string } {
  const pos = msg.indexOf('\r\n');
  if (pos === -1) return { meta: msg, startLine: '', headers: '', body: '' };
  const meta = msg.slice(0, pos);
  let chunk = msg.slice(pos + 2);
  let body = '';
  const p2 = chunk.indexOf('\r\n\r\n');
  if (p2 !== -1) {
    body = chunk.slice(p2 + 4);
    chunk = chunk.slice(0, p2);
  }
  const p3 = chunk.indexOf('\r\n');
  return p3 === -1 ? { meta, startLine: chunk, headers: '', body } : { meta, startLine: chunk.slice(0, p3), headers: chunk.slice(p3 + 2), body };
}

/** Routing table of verbs -> clients with per-verb round-robin offsets (ClientController). */
export class RouteTable {
  private readonly routes = new Map<string, AppClient[]>();
  private readonly offsets = new Map<string, number>();

  add(client: AppClient, verb: string): void {
    const v = verb.toLowerCase();
    const list = this.routes.get(v) ?? [];
    list.push(client);
    this.routes.set(v, list);
    if (!this.offsets.has(v)) this.offsets.set(v, 0);
  }

  /**
   * ClientController::no_longer_wants_requests erases every route entry of the client,
   * whatever verb was named; reproduced as-is.
   */
  removeClient(client: AppClient): void {
    for (const [v, list] of this.routes) {
      this.routes.set(
        v,
        list.filter((c) => c !== client),
      );
    }
  }

  /**
   * selectClientForRequestOutsideDialog: round robin over clients routing this method; with a
   * tag (request handler `route` with `data.tag`), the first client from the offset on that has it.
   */
  select(method: string, tag?: string): AppClient | undefined {
    const v = method.toLowerCase();
    const list = (this.routes.get(v) ?? []).filter((c) => !c.closed);
    this.routes.set(v, list);
    if (!list.length) return undefined;
    const stored = this.offsets.get(v) ?? 0;
    const offset = stored < list.length ? stored : 0;
    this.offsets.set(v, offset + 1);
    for (let i = 0; i < list.length; i++) {
      const c = list[(offset + i) % list.length];
      if (tag === undefined || c.tags.has(tag)) return c;
    }
    return undefined;
  }
}

export class WireServer {
  private server?: net.Server;
  private nextId = 1;
  readonly clients = new Set<AppClient>();
  readonly routes = new RouteTable();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly requestedPort: number,
    private readonly log: Logger,
    private readonly handlers: WireHandlers,
  ) {}

  async start(): Promise<void> {
    const server = net.createServer((socket) => this.onConnection(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.requestedPort, this.host, () => {
        server.off('error', reject);
        const addr = server.address();
        this.port = typeof addr === 'object' && addr ? addr.port : this.requestedPort;
        resolve();
      });
    });
  }

  /**
   * A connection the server opened to an app (Client<socket_t>::connect_handler: join, then read;
   * the server sends nothing until the app authenticates).
   */
  adoptOutbound(socket: net.Socket, transactionId: string): AppClient {
    return this.onConnection(socket, transactionId);
  }

  private onConnection(socket: net.Socket, outboundTransactionId?: string): AppClient {
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    const client = new AppClient(this.nextId++, socket, this.log, outboundTransactionId);
    this.clients.add(client);
    this.log.info(
      `client#${client.id} ${outboundTransactionId ? 'outbound connection to' : 'connected from'} ${client.remote}, count of connected clients is now: ${this.clients.size}`,
    );
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      let msgs: string[];
      try {
        msgs = decoder.push(chunk);
      } catch (err) {
        this.log.error(`client#${client.id} sent invalid message -- message length not specified properly: ${(err as Error).message}`);
        this.leave(client);
        return;
      }
      for (const m of msgs) {
        if (client.closed) return;
        this.log.debug(`<=== client#${client.id}\n${m}`);
        let keep = true;
        try {
          keep = this.processClientMessage(client, m);
        } catch (err) {
          this.log.error(`client#${client.id} error processing message: ${(err as Error).stack}`);
          keep = false;
        }
        if (!keep) {
          this.leave(client);
          return;
        }
        // BaseClient::read_handler: any message containing "|authenticate|" on an outbound connection
        if (client.outboundTransactionId && m.includes('|authenticate|')) {
          this.handlers.outboundReady(client, client.outboundTransactionId);
        }
      }
    });
    socket.on('error', (err) => this.log.debug(`client#${client.id} socket error: ${err.message}`));
    socket.on('close', () => this.leave(client));
    return client;
  }

  private leave(client: AppClient): void {
    if (client.closed) return;
    client.closed = true;
    this.clients.delete(client);
    this.routes.removeClient(client);
    if (!client.socket.destroyed) client.socket.end();
    this.log.info(`client#${client.id} removed, count of connected clients is now: ${this.clients.size}`);
    this.handlers.onClientGone(client);
  }

  /** BaseClient::processClientMessage; returns false when the client must be disconnected. */
  private processClientMessage(client: AppClient, msg: string): boolean {
    const { meta, startLine, headers, body } = splitMsg(msg);
    const tokens = meta.split('|');
    if (tokens.length < 2) {
      client.sendControlResponse(tokens[0] ?? '', false, 'Invalid message format');
      return false;
    }
    const [msgId, type] = tokens;
    switch (type) {
      case 'ping':
        client.sendControlResponse(msgId, true, 'pong');
        return true;
      case 'route':
        this.routes.add(client, tokens[2] ?? '');
        client.sendControlResponse(msgId, true);
        return true;
      case 'remove_route':
        this.routes.removeClient(client);
        client.sendControlResponse(msgId, true);
        return true;
      case 'authenticate': {
        const secret = tokens[2] ?? '';
        if (tokens.length > 3) for (const t of tokens[3].split(',')) client.tags.add(t);
        if (!this.handlers.authenticated(secret)) {
          this.log.info(`client#${client.id} secret validation failed`);
          client.sendControlResponse(msgId, false, 'incorrect secret');
          return false;
        }
        client.authenticated = true;
        client.sendControlResponse(msgId, true, this.handlers.authResponse());
        return true;
      }
      case 'sip':
        return this.handlers.onSip(client, {
          msgId,
          transactionId: tokens[2] ?? '',
          dialogId: tokens[3] ?? '',
          routeUrl: tokens[4] ?? '',
          startLine,
          headers,
          body,
        });
      case 'proxy':
        // proxy mode is deliberately not emulated
        client.sendApiResponse(msgId, 'NOK', 'proxy is not supported by the drachtio emulator');
        return true;
      default:
        client.sendControlResponse(msgId, false, 'Unknown message type');
        return false;
    }
  }

  async close(): Promise<void> {
    for (const c of [...this.clients]) {
      c.closed = true;
      c.socket.destroy();
    }
    this.clients.clear();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
