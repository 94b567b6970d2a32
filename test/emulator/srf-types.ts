/**
 * Narrow, test-only view of the drachtio-srf API (its bundled typings are incomplete).
 * We load the real, unmodified drachtio-srf with require().
 */
import type { EventEmitter } from 'node:events';

export interface SrfMsg {
  method?: string;
  status?: number;
  body: string;
  uri: string;
  source: string;
  source_address: string;
  source_port: number;
  protocol: string;
  stackTime: string;
  stackTxnId: string;
  stackDialogId?: string;
  receivedOn?: string;
  server?: { address: string; hostport: string };
  get(name: string): string;
  has(name: string): boolean;
}

export interface SrfReq extends SrfMsg, EventEmitter {
  method: string;
  cancel(cb?: (err: Error | null) => void): void;
}

export interface SrfRes extends EventEmitter {
  send(status: number, opts?: { headers?: Record<string, string>; body?: string }, cb?: (err: Error | null, msg: SrfMsg) => void): void;
  send(status: number, reason: string, opts?: { headers?: Record<string, string>; body?: string }, cb?: (err: Error | null, msg: SrfMsg) => void): void;
}

export interface SrfDialog extends EventEmitter {
  id: string;
  destroy(opts?: object): Promise<void>;
  request(opts: { method: string; headers?: Record<string, string>; body?: string }): Promise<SrfMsg>;
}

export interface SrfLike extends EventEmitter {
  locals: Record<string, unknown>;
  connect(opts: { host: string; port: number; secret: string }): void;
  disconnect(): void;
  invite(fn: (req: SrfReq, res: SrfRes) => void): void;
  options(fn: (req: SrfReq, res: SrfRes) => void): void;
  info(fn: (req: SrfReq, res: SrfRes) => void): void;
  createUAS(req: SrfReq, res: SrfRes, opts: { localSdp: string; headers?: Record<string, string> }): Promise<SrfDialog>;
  createUAC(uri: string, opts: { localSdp?: string; headers?: Record<string, string> }, cbs?: { cbRequest?: (err: Error | null, req: SrfReq) => void }): Promise<SrfDialog>;
  request(
    uri: string,
    opts: { method: string; headers?: Record<string, string>; body?: string },
    cb: (err: (Error & { code?: string }) | null, req: SrfReq) => void,
  ): void;
  request(opts: { method: string; stackDialogId: string; headers?: Record<string, string> }, cb: (err: (Error & { code?: string }) | null, req: SrfReq) => void): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const Srf = require('drachtio-srf') as new () => SrfLike;

export function connectSrf(port: number, secret: string): Promise<{ srf: SrfLike; hostport: string }> {
  const srf = new Srf();
  return new Promise((resolve, reject) => {
    srf.on('connect', (err: Error | null, hostport: string) => (err ? reject(err) : resolve({ srf, hostport })));
    srf.on('error', () => undefined);
    srf.connect({ host: '127.0.0.1', port, secret });
  });
}
