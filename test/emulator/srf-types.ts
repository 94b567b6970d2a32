/**
 * The drachtio-srf types the emulator tests use: the product's own typed view
 * (lib/drachtio/srf.ts over types/drachtio-srf.d.ts), so there is one augmentation of srf's typings.
 */
import { createSrf, type Dialog, type Srf, type SrfRequest, type SrfResponse } from '../../lib/drachtio/srf';
import type SrfBase from 'drachtio-srf';

export type SrfLike = Srf;
export type SrfReq = SrfRequest;
export type SrfRes = SrfResponse;
export type SrfDialog = Dialog;
/** a request or a response as srf hands it over (`status` on responses only) */
export type SrfMsg = SrfBase.SipMessage & { status?: number };

export function connectSrf(port: number, secret: string): Promise<{ srf: SrfLike; hostport: string }> {
  const srf = createSrf();
  return new Promise((resolve, reject) => {
    srf.on('connect', (err: Error | null, hostport: string) => (err ? reject(err) : resolve({ srf, hostport })));
    srf.on('error', () => undefined);
    // not a Promise, whatever drachtio-srf's typings say: the outcome is the 'connect' event above
    void srf.connect({ host: '127.0.0.1', port, secret });
  });
}
