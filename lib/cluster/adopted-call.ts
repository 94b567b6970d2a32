import type { Srf, SrfResponse } from '../drachtio/srf';
import type { Logger } from '../logger';
import type { CallRecord } from '../store/call-store';

/** How a probe of one leg came out. */
export type LegState = 'up' | 'gone';

/** Who ended an adopted call: one side hung up (its leg is gone), an operator, or the adopter's shutdown. */
export type ReleaseReason = 'caller' | 'target' | 'both' | 'operator' | 'shutdown';

/**
 * Sends an in-dialog request on a dialog drachtio-server holds, whichever app created it, and resolves
 * with the final status; `ENODIALOG` when drachtio-server no longer has the dialog. The `response`
 * listener is attached in the callback form, before anything can arrive (with the promise form a fast
 * response is lost).
 */
export function requestOnDialog(srf: Srf, dialogId: string, method: 'OPTIONS' | 'BYE'): Promise<number | 'ENODIALOG'> {
  return new Promise((resolve, reject) => {
    srf.request({ method, stackDialogId: dialogId }, (err, req) => {
      if (err) {
        if (err.code === 'ENODIALOG') resolve('ENODIALOG');
        else reject(err);
        return;
      }
      req.on('response', (res: SrfResponse) => {
        if (res.status >= 200) resolve(res.status);
      });
    });
  });
}

/** A probe's answer as a leg state: a dialog drachtio-server lost, or a peer that answers 481 (or not at all: 408), is gone. */
export function legStateOf(result: number | 'ENODIALOG'): LegState {
  return result === 'ENODIALOG' || result === 481 || result === 408 ? 'gone' : 'up';
}

/**
 * An answered call this instance adopted from a dead one. Media never passed through the dispatcher,
 * so the call is still up for both parties and must not be cut; this only watches it. Every
 * `intervalMs` each leg gets an in-dialog OPTIONS through drachtio-server; as soon as one leg is gone
 * (its peer's BYE was answered 481 by drachtio-server, which cleared the dialog: ENODIALOG; or the
 * peer answers 481/408), the other leg gets a BYE and `onReleased` removes the record.
 */
export class AdoptedCall {
  private timer?: NodeJS.Timeout;
  private released = false;
  private probing = false;

  constructor(
    readonly record: CallRecord,
    private readonly srf: Srf,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly onReleased: (call: AdoptedCall, by: ReleaseReason) => void,
  ) {}

  get key(): string {
    return this.record.key;
  }

  start(): void {
    void this.probe();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Ends the call now: BYE on each leg that is still up (operator hangup, or shutdown). */
  async end(by: 'operator' | 'shutdown'): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stop();
    await Promise.all([this.bye(this.record.aDialogId), this.bye(this.record.bDialogId)]);
    this.onReleased(this, by);
  }

  private schedule(): void {
    if (!this.released) this.timer = setTimeout(() => void this.probe(), this.intervalMs);
  }

  private async probe(): Promise<void> {
    if (this.released || this.probing) return;
    this.probing = true;
    try {
      const [a, b] = await Promise.all([this.state(this.record.aDialogId), this.state(this.record.bDialogId)]);
      if (this.released) return;
      if (a !== 'gone' && b !== 'gone') return;
      this.released = true;
      const by: ReleaseReason = a === 'gone' && b === 'gone' ? 'both' : a === 'gone' ? 'caller' : 'target';
      if (a !== 'gone') await this.bye(this.record.aDialogId);
      if (b !== 'gone') await this.bye(this.record.bDialogId);
      this.log.info({ by }, 'adopted call ended: a leg hung up, the other was sent BYE');
      this.onReleased(this, by);
    } finally {
      this.probing = false;
      this.schedule();
    }
  }

  private async state(dialogId: string): Promise<LegState | 'unknown'> {
    try {
      return legStateOf(await requestOnDialog(this.srf, dialogId, 'OPTIONS'));
    } catch (err) {
      // drachtio unreachable or refused the request: try again next interval
      this.log.debug({ err }, 'could not probe a leg of an adopted call');
      return 'unknown';
    }
  }

  private async bye(dialogId: string): Promise<void> {
    try {
      await requestOnDialog(this.srf, dialogId, 'BYE');
    } catch (err) {
      this.log.debug({ err }, 'BYE on an adopted call leg failed');
    }
  }
}
