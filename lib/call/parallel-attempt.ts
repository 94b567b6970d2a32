import { Simring } from 'drachtio-fn-b2b-sugar';
import type { Logger } from '../logger';
import type { SrfRequest, SrfResponse } from '../drachtio/srf';
import { listenersAddedFrom, outcomeOfError, type AttemptResult } from './attempt';
import type { AttemptOutcome } from './failover';
import { gateResponse } from './gated-response';

export interface ParallelOptions {
  uris: string[];
  headers: Record<string, string>;
  provisionalTimeoutMs: number;
  isWanted: () => boolean;
  onProvisional: (res: SrfResponse) => void;
  /** how long a ringing leg may ring before simring cancels it, in seconds */
  ringTimeoutSeconds: number;
  log: Logger;
}

export interface ParallelResult {
  /** the group's result; `answeredIndex` tells which target answered */
  result: AttemptResult;
  answeredIndex?: number;
  /** one outcome per uri, in order, for per-target counters */
  perTarget: AttemptOutcome[];
}

/** Which of the rung URIs the answering leg's INVITE went to (exact match first, then host:port). */
export function answeredIndexOf(uris: readonly string[], sentUri: string): number {
  const exact = uris.indexOf(sentUri);
  if (exact !== -1) return exact;
  const hostPort = (u: string): string => u.replace(/^sips?:([^@]*@)?/, '').replace(/[;?].*$/, '');
  const byHost = uris.findIndex((u) => hostPort(u) === hostPort(sentUri));
  return byHost === -1 ? 0 : byHost;
}

/**
 * Rings several targets at once with drachtio-fn-b2b-sugar's Simring; the first to answer is bridged
 * to the caller and the others are cancelled. Resolves (never rejects).
 */
export class ParallelAttempt {
  private abandoned = false;
  private readonly sent: SrfRequest[] = [];
  private gotProvisional = false;

  constructor(private readonly req: SrfRequest, private readonly res: SrfResponse, private readonly opts: ParallelOptions) {}

  /** Abandons the group; on a caller's CANCEL, Simring's own 'cancel' listener cancels the legs. */
  cancel(reason: 'caller' | 'local'): void {
    this.abandoned = true;
    if (reason === 'local') for (const r of this.sent) r.cancel();
  }

  run(): Promise<ParallelResult> {
    const { opts } = this;
    const dropSimringListeners = listenersAddedFrom(this.req, ['cancel']);
    return new Promise<ParallelResult>((resolve) => {
      let settled = false;
      const finish = (r: ParallelResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        dropSimringListeners();
        resolve(r);
      };
      const timer = setTimeout(() => {
        if (this.gotProvisional) return;
        opts.log.info({ code: 'B2B_ERR_ATTEMPT_TIMEOUT', uris: opts.uris, timeoutMs: opts.provisionalTimeoutMs }, 'no provisional response from any target in time; cancelling');
        this.cancel('local');
        finish({ result: { outcome: { kind: 'timeout' } }, perTarget: opts.uris.map(() => ({ kind: 'timeout' })) });
      }, opts.provisionalTimeoutMs);

      const gated = gateResponse(this.res, () => !this.abandoned && opts.isWanted());
      const simring = new Simring(this.req, gated, opts.uris, { headers: opts.headers, localSdpB: this.req.body, timeout: opts.ringTimeoutSeconds }, {
        cbRequest: (err: unknown, reqSent: SrfRequest) => {
          if (err || !reqSent) return;
          this.sent.push(reqSent);
          if (this.abandoned || !opts.isWanted()) reqSent.cancel();
        },
        cbProvisional: (prov: SrfResponse) => {
          if (prov.status <= 100) return;
          this.gotProvisional = true;
          clearTimeout(timer);
          if (!this.abandoned && opts.isWanted()) opts.onProvisional(prov);
        },
      });
      simring.logger = opts.log;
      simring
        .start()
        .then(({ uas, uac }) => {
          const index = answeredIndexOf(opts.uris, uac.req.uri);
          // the other legs were cancelled by Simring when this one answered
          const perTarget: AttemptOutcome[] = opts.uris.map((_, i) => (i === index ? { kind: 'answered' } : { kind: 'canceled' }));
          finish({ result: { outcome: { kind: 'answered' }, dialogs: { uas, uac } }, answeredIndex: index, perTarget });
        })
        .catch((errs: unknown) => {
          const list = Array.isArray(errs) ? errs : [errs];
          const wanted = opts.isWanted();
          const perTarget = opts.uris.map((_, i) => outcomeOfError(list[i], wanted));
          // the group's outcome: a non-failover status wins (e.g. 486), else the first failure
          const rejected = perTarget.filter((o): o is Extract<AttemptOutcome, { kind: 'rejected' }> => o.kind === 'rejected');
          const group: AttemptOutcome = !wanted ? { kind: 'canceled' } : rejected.sort((a, b) => a.status - b.status)[0] ?? perTarget[0] ?? { kind: 'send-error', message: 'no target' };
          finish({ result: { outcome: group }, perTarget });
        });
    });
  }
}
