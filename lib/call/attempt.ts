import type { Logger } from '../logger';
import type { Dialog, Srf, SrfRequest, SrfResponse } from '../drachtio/srf';
import { SipError } from '../drachtio/srf';
import type { AttemptOutcome } from './failover';
import { gateResponse } from './gated-response';

export interface AttemptResult {
  outcome: AttemptOutcome;
  dialogs?: { uas: Dialog; uac: Dialog };
  /** the target's final response, when it sent one (for Retry-After and header copying) */
  response?: SrfResponse;
}

export interface AttemptOptions {
  uri: string;
  headers: Record<string, string>;
  responseHeaders: (res: SrfResponse) => Record<string, string>;
  provisionalTimeoutMs: number;
  /** false once the caller has cancelled: an answer must then be refused */
  isWanted: () => boolean;
  /** relays a provisional response (18x) to the caller */
  onProvisional: (res: SrfResponse) => void;
  log: Logger;
}

/** How a rejected createB2BUA/createUAC promise ended, seen from the hunt. */
export function outcomeOfError(err: unknown, wanted: boolean): AttemptOutcome {
  if (err instanceof SipError) {
    if (err.status === 487 && !wanted) return { kind: 'canceled' };
    return { kind: 'rejected', status: err.status, reason: err.reason };
  }
  return wanted ? { kind: 'send-error', message: err instanceof Error ? err.message : String(err) } : { kind: 'canceled' };
}

/**
 * drachtio-srf's createB2BUA and Simring leave listeners on the caller's request; returns a function
 * that removes those added since this call, so a later CANCEL does not reach a finished attempt.
 */
export function listenersAddedFrom(req: SrfRequest, events: readonly ('cancel' | 'update')[]): () => void {
  const before = new Map(events.map((e) => [e, new Set(req.listeners(e))]));
  return () => {
    for (const [event, had] of before) for (const l of req.listeners(event)) if (!had.has(l)) req.removeListener(event, l);
  };
}

/**
 * One serial-hunt attempt: createB2BUA towards one target with passFailure off.
 * Resolves (never rejects) with how it ended. On provisional timeout the INVITE is cancelled and the
 * attempt resolves at once; the abandoned transaction finishes in the background and, should the
 * target still answer, the gated response refuses it so srf ACKs and BYEs that late leg.
 */
export class Attempt {
  private settled = false;
  private abandoned = false;
  private uacReq?: SrfRequest;
  private timer?: NodeJS.Timeout;
  private gotProvisional = false;

  constructor(private readonly srf: Srf, private readonly req: SrfRequest, private readonly res: SrfResponse, private readonly opts: AttemptOptions) {}

  /**
   * Abandons the attempt. On a caller's CANCEL, drachtio-srf's createB2BUA already forwards the CANCEL
   * to the target (or cbRequest does, if the INVITE was not sent yet), so only a local abort (timeout, shutdown) sends one here.
   */
  cancel(reason: 'caller' | 'local'): void {
    this.abandoned = true;
    if (reason === 'local') this.uacReq?.cancel();
  }

  run(): Promise<AttemptResult> {
    const { req, opts } = this;
    const dropAttemptListeners = listenersAddedFrom(req, ['cancel', 'update']);
    return new Promise<AttemptResult>((resolve) => {
      const finish = (result: AttemptResult): void => {
        if (this.settled) return;
        this.settled = true;
        this.clearTimer();
        if (!result.dialogs) dropAttemptListeners();
        resolve(result);
      };

      this.timer = setTimeout(() => {
        if (this.gotProvisional || this.settled) return;
        opts.log.info({ code: 'B2B_ERR_ATTEMPT_TIMEOUT', uri: opts.uri, timeoutMs: opts.provisionalTimeoutMs }, 'no provisional response in time; cancelling attempt');
        this.abandoned = true;
        this.uacReq?.cancel();
        finish({ outcome: { kind: 'timeout' } });
      }, opts.provisionalTimeoutMs);

      const gated = gateResponse(this.res, () => !this.abandoned && opts.isWanted());
      this.srf
        .createB2BUA(
          req,
          gated,
          opts.uri,
          {
            headers: opts.headers,
            responseHeaders: (uacRes) => opts.responseHeaders(uacRes as unknown as SrfResponse),
            passFailure: false,
            passProvisionalResponses: false,
          },
          {
            cbRequest: (err: unknown, reqSent: SrfRequest) => {
              if (err) return;
              this.uacReq = reqSent;
              if (this.abandoned || !opts.isWanted()) reqSent.cancel();
            },
            cbProvisional: (prov: SrfResponse) => {
              if (prov.status <= 100) return;
              this.gotProvisional = true;
              this.clearTimer();
              if (!this.abandoned && opts.isWanted()) opts.onProvisional(prov);
            },
          },
        )
        .then((dialogs) => {
          finish({ outcome: { kind: 'answered' }, dialogs });
        })
        .catch((err: unknown) => {
          if (this.settled) {
            opts.log.debug({ err }, 'abandoned attempt ended');
            return;
          }
          finish({ outcome: outcomeOfError(err, opts.isWanted()), response: err instanceof SipError ? err.res : undefined });
        });
    });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
