import SrfBase from 'drachtio-srf';

/** drachtio-srf's Srf with the gaps of its shipped typings filled (types/drachtio-srf.d.ts). */
export type Srf = SrfBase & SrfBase.SrfExtras;
export type SrfRequest = SrfBase.SrfRequest;
export type SrfResponse = SrfBase.SrfResponse;
export type Dialog = SrfBase.Dialog;
export type SipMethod = SrfBase.SipMethod;

/** drachtio-srf's SipError (a static getter on Srf, lib/srf.js). */
export const SipError: typeof SrfBase.SipError = (SrfBase as unknown as { SipError: typeof SrfBase.SipError }).SipError;

export function createSrf(): Srf {
  return new SrfBase() as Srf;
}
