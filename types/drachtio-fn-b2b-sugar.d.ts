/** drachtio-fn-b2b-sugar 0.2.x ships no typings; this covers what lib/call/parallel-attempt.ts uses (app.js, lib/call-manager.js). */
declare module 'drachtio-fn-b2b-sugar' {
  import type Srf from 'drachtio-srf';
  interface SimringLogger {
    debug: (...args: unknown[]) => void;
    info: (...args: unknown[]) => void;
    error: (...args: unknown[]) => void;
  }
  interface SimringNotifiers {
    cbRequest?: (err: unknown, req: Srf.SrfRequest) => void;
    cbProvisional?: (res: Srf.SrfResponse) => void;
  }
  interface SimringOptions {
    headers?: Record<string, string>;
    localSdpB?: string;
    /** seconds after which a leg still ringing is cancelled (default 20) */
    timeout?: number;
  }
  export class Simring {
    constructor(req: Srf.SrfRequest, res: Srf.SrfResponse, uriList: string[], opts?: SimringOptions, notifiers?: SimringNotifiers);
    set logger(logger: SimringLogger);
    start(): Promise<{ uas: Srf.Dialog; uac: Srf.Dialog }>;
  }
}
