/**
 * The one place where drachtio-srf 5.x's shipped typings (lib/@types/index.d.ts) are completed.
 * Each addition names the source that shows it exists.
 */
import 'drachtio-srf';

// Inside this block, declarations merge into drachtio-srf's `namespace Srf` (the module uses `export =`),
// so the class instance itself cannot be augmented here: `SrfExtras` is intersected once in lib/drachtio/srf.ts.
declare module 'drachtio-srf' {
  /** lib/sip_error.js; exposed as the static getter SipError (lib/srf.js) */
  class SipError extends Error {
    constructor(status: number, reason?: string);
    status: number;
    reason: string;
    res?: SrfResponse;
  }

  interface SipMessage {
    /** parsed headers, lower-case names (lib/sip-parser/message.js) */
    headers: Record<string, string>;
    getHeaderName(name: string): string | undefined;
    /** drachtio-server's ids for this message (lib/drachtio-agent.js) */
    stackTxnId?: string;
    stackDialogId?: string;
  }

  interface SrfRequest {
    /** set by createUAS when the caller CANCELs (lib/srf.js) */
    canceled?: boolean;
    /** remove listeners — SrfRequest is an EventEmitter (lib/request.js) */
    listeners(event: string): Array<(...args: unknown[]) => void>;
    removeListener(event: string, listener: (...args: unknown[]) => void): this;
    on(event: 'cancel', callback: (req: SrfRequest) => void): void;
    on(event: 'update', callback: (req: SrfRequest, res: SrfResponse) => void): void;
    cancel(opts?: { headers?: Record<string, string> }, callback?: (err: unknown, req: SrfRequest) => void): void;
    server?: { address: string; hostport: string };
    /** `address:port` the request arrived on (lib/drachtio-agent.js) */
    receivedOn?: string;
    /** lib/request.js emits the response and, for INVITE, an ack function */
    on(event: 'response', callback: (res: SrfResponse, ack: (opts?: { body?: string }) => void) => void): void;
  }

  interface SrfResponse {
    /** lib/response.js: send(status, [reason], [opts], [callback], [fnPrack]) */
    send(
      status: number,
      reason: string,
      opts: { headers?: Record<string, string>; body?: string },
      callback: ((err: unknown, msg: SipMessage) => void) | null,
    ): void;
    send(status: number, opts: { headers?: Record<string, string>; body?: string }, callback: (err: unknown, msg: SipMessage) => void): void;
    send(status: number, reason: string, opts?: { headers?: Record<string, string>; body?: string }): void;
  }

  interface Dialog {
    /** drachtio dialog id, `Call-ID;from-tag=…` form (lib/dialog.js `get id`) */
    readonly id: string;
    readonly connected: boolean;
    /** lib/dialog.js: returns a Promise when no callback is given */
    destroy(opts?: { headers?: Record<string, string> }): Promise<SrfRequest>;
    request(opts: { method: SipMethod; headers?: Record<string, string>; body?: string; noAck?: boolean }): Promise<SrfResponse>;
    /** lib/dialog.js: opts.headers go on the re-INVITE (Contact added when missing) */
    modify(sdp: string, opts: { headers?: Record<string, string> }): Promise<string>;
    modify(opts: { noAck: true; headers?: Record<string, string> }): Promise<{ sdp: string; ack: (sdp: string) => void }>;
    on(event: 'ack', callback: (msg: SrfRequest) => void): this;
    on(event: 'info' | 'notify' | 'message' | 'options' | 'refer' | 'update' | 'modify', callback: (req: SrfRequest, res: SrfResponse) => void): this;
    once(event: 'ack', callback: (msg: SrfRequest) => void): this;
    once(event: 'info' | 'notify' | 'message' | 'options' | 'refer' | 'update' | 'modify', callback: (req: SrfRequest, res: SrfResponse) => void): this;
    sip: { callId: string; localTag: string; remoteTag: string };
    res?: SrfResponse;
  }

  interface ConnectOptions extends SrfConfig {
    tags?: string[];
    reconnect?: { retryMaxDelay?: number; maxAttempts?: number };
  }

  interface B2BUAProgressCallbacks {
    cbRequest?: (err: unknown, req: SrfRequest) => void;
    cbProvisional?: (res: SrfResponse) => void;
    cbFinalizedUac?: (uac: Dialog) => void;
  }

  interface SrfExtras {
    /** lib/srf.js returns whatever the agent returns, not a Promise: results arrive as events */
    connect(config: ConnectOptions): unknown;
    listen(opts: ConnectOptions): unknown;
    createB2BUA(
      req: SrfRequest,
      res: SrfResponse,
      uri: string,
      opts: CreateB2BUAOptions,
      progress: B2BUAProgressCallbacks,
    ): Promise<{ uas: Dialog; uac: Dialog }>;
    /** lib/drachtio-agent.js emits (err, hostport, serverVersion, localHostports) */
    on(event: 'connect', listener: (err: Error | null, hostport: string, serverVersion?: string, localHostports?: string) => void): this;
    on(event: 'reconnecting', listener: (info: { delay: number; attempt: number }) => void): this;
    on(event: 'close', listener: () => void): this;
    on(event: 'listening', listener: () => void): this;
    removeAllListeners(event?: string): this;
    /** lib/proto.js `app.endSession`: closes the outbound-mode connection a request came on; a no-op for inbound connections */
    endSession(msg: SrfRequest | SrfResponse): void;
    /** lib/srf.js middleware for one method (lib/proto.js `app.use`) */
    use(method: string, callback: (req: SrfRequest, res: SrfResponse, next: (err?: unknown) => void) => void): void;
    /** lib/srf.js middleware with error handler arity */
    use(callback: (err: unknown, req: SrfRequest, res: SrfResponse, next: (err?: unknown) => void) => void): void;
    locals: Record<string, unknown>;
    /** per-method handlers, generated for each SIP method in lib/srf.js */
    options(handler: (req: SrfRequest, res: SrfResponse) => void): void;
    info(handler: (req: SrfRequest, res: SrfResponse) => void): void;
    /** lib/srf.js `request`: a request outside a dialog, or inside one by drachtio dialog id */
    request(
      uri: string,
      opts: { method: SipMethod; stackDialogId?: string; headers?: Record<string, string>; body?: string },
      callback: (err: (Error & { code?: string }) | null, req: SrfRequest) => void,
    ): void;
    request(
      opts: { method: SipMethod; stackDialogId: string; headers?: Record<string, string>; body?: string },
      callback: (err: (Error & { code?: string }) | null, req: SrfRequest) => void,
    ): void;
    /** lib/srf.js: cbRequest is called (err, req) */
    createUAC(uri: string, opts: CreateUACOptions, progress: B2BUAProgressCallbacks): Promise<Dialog>;
  }
}
