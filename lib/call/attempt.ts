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
    const cancelBefore = new Set(req.listeners('cancel'));
    const updateBefore = new Set(req.listeners('update'));
    return new Promise<AttemptResult>((resolve) => {
      const finish = (result: AttemptResult): void => {
        if (this.settled) return;
        this.settled = true;
        this.clearTimer();
        // createB2BUA leaves 'cancel'/'update' listeners on the caller's request; drop those of this
        // attempt so a later CANCEL does not reach a finished attempt.
        if (!result.dialogs) {
          for (const l of req.listeners('cancel')) if (!cancelBefore.has(l)) req.removeListener('cancel', l);
          for (const l of req.listeners('update')) if (!updateBefore.has(l)) req.removeListener('update', l);
        }
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
          if (err instanceof SipError) {
            const canceled = err.status === 487 && !opts.isWanted();
            finish({ outcome: canceled ? { kind: 'canceled' } : { kind: 'rejected', status: err.status, reason: err.reason }, response: err.res });
          } else {
            if (this.settled) {
              opts.log.debug({ err }, 'abandoned attempt ended');
              return;
            }
            finish({ outcome: opts.isWanted() ? { kind: 'send-error', message: err instanceof Error ? err.message : String(err) } : { kind: 'canceled' } });
          }
        });
    });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
