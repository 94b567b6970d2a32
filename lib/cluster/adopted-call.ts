import type { SipMethod, Srf, SrfResponse } from '../drachtio/srf';
import type { Logger } from '../logger';
import type { CallRecord } from '../store/call-store';

/** How a probe of one leg came out. */
export type LegState = 'up' | 'gone';

/** Who ended an adopted call: one side hung up (its leg is gone), an operator, or the adopter's shutdown. */
export type ReleaseReason = 'caller' | 'target' | 'both' | 'operator' | 'shutdown' | 'unwatchable';

/**
 * Sends an in-dialog request on a dialog drachtio-server holds, whichever app created it, and resolves
 * with the final status; `ENODIALOG` when drachtio-server no longer has the dialog. The `response`
 * listener is attached in the callback form, before anything can arrive (with the promise form a fast
 * response is lost).
 */
export function requestOnDialog(srf: Srf, dialogId: string, method: 'OPTIONS' | 'BYE'): Promise<number | 'ENODIALOG'> {
  return new Promise((resolve, reject) => {
    // drachtio-srf needs a Request-URI argument; drachtio-server replaces `sip:placeholder` with the dialog's remote target
    srf.request('sip:placeholder', { method, stackDialogId: dialogId }, (err, req) => {
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

/**
 * The method of a local probe: no SIP method, so drachtio-server refuses it, but only after looking the
 * dialog up (SipDialogController::doSendRequestInsideDialog: `unable to find dialog for dialog id provided`
 * first, `invalid or missing method supplied on start line` after). Nothing goes on the wire.
 */
export const LOCAL_PROBE_METHOD = 'DIALOG-PROBE';

/**
 * Whether drachtio-server still holds a dialog, asked without sending anything to the peer: a dialog
 * whose peer sent BYE (answered 481 by drachtio-server once its owner is gone) is cleared there.
 */
export function dialogExists(srf: Srf, dialogId: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    srf.request('sip:placeholder', { method: LOCAL_PROBE_METHOD as SipMethod, stackDialogId: dialogId }, (err) => {
      if (err?.code === 'ENODIALOG') resolve(false);
      else if (err && /invalid or missing method/.test(err.message)) resolve(true);
      else if (err) reject(err);
      else reject(new Error('drachtio-server sent a local probe request; expected it to be refused'));
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
 * `intervalMs` it asks drachtio-server whether each leg's dialog still exists (a local probe, nothing on
 * the wire: a peer's BYE to a dead owner is answered 481 and clears the dialog), and every
 * `optionsIntervalMs` each peer also gets an in-dialog OPTIONS (a 481 or no answer, 408, means that peer
 * is gone). As soon as one leg is gone the other gets a BYE and `onReleased` removes the record.
 */
export class AdoptedCall {
  private timer?: NodeJS.Timeout;
  private released = false;
  /** stop() was called: a probe in flight then neither acts on its result nor schedules another */
  private stopped = false;
  private probing = false;
  private lastOptions = Date.now();
  /** whether this round also sends an in-dialog OPTIONS to each peer */
  private optionsDue = false;
  /** a leg could not be probed in the last round: warned once per streak, and told when probing works again */
  private unprobed = false;

  constructor(
    readonly record: CallRecord,
    private readonly srf: Srf,
    private readonly intervalMs: number,
    /** how often each peer also gets an in-dialog OPTIONS (finds a peer gone without BYE); 0 = never */
    private readonly optionsIntervalMs: number,
    private readonly log: Logger,
    private readonly onReleased: (call: AdoptedCall, by: ReleaseReason) => void,
  ) {}

  get key(): string {
    return this.record.key;
  }

  start(): void {
    this.log.info({ key: this.key, target: this.record.target }, 'watching an adopted call until a party hangs up');
    void this.probe();
  }

  /** Stops watching (the instance shuts down cleanly): the call stays recorded for a survivor to adopt. */
  stop(): void {
    this.stopped = true;
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
    if (!this.released && !this.stopped) this.timer = setTimeout(() => void this.probe(), this.intervalMs);
  }

  private async probe(): Promise<void> {
    if (this.released || this.probing || this.stopped) return;
    this.probing = true;
    this.optionsDue = this.optionsIntervalMs > 0 && Date.now() - this.lastOptions >= this.optionsIntervalMs;
    if (this.optionsDue) this.lastOptions = Date.now();
    try {
      const [a, b] = await Promise.all([this.state(this.record.aDialogId), this.state(this.record.bDialogId)]);
      this.noteProbed(a !== 'unknown' && b !== 'unknown');
      // stopped meanwhile: the survivor that adopts the call next sees the same hangup
      if (this.released || this.stopped) return;
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
      if (!(await dialogExists(this.srf, dialogId))) return 'gone';
      if (!this.optionsDue) return 'up';
      return legStateOf(await requestOnDialog(this.srf, dialogId, 'OPTIONS'));
    } catch (err) {
      // drachtio unreachable or refused the request: try again next interval
      if (!this.unprobed)
        this.log.warn(
          { err, code: 'B2B_WARN_ADOPTED_UNPROBED', dialogId, retryMs: this.intervalMs },
          'could not probe a leg of an adopted call; a hangup on it goes unnoticed until a probe works',
        );
      else this.log.debug({ err, dialogId }, 'could not probe a leg of an adopted call');
      return 'unknown';
    }
  }

  /** Ends a streak of failed probes: one line when probing works again (the warning was once per streak). */
  private noteProbed(bothLegs: boolean): void {
    if (!bothLegs) {
      this.unprobed = true;
      return;
    }
    if (this.unprobed) this.log.info('probing an adopted call works again');
    this.unprobed = false;
  }

  private async bye(dialogId: string): Promise<void> {
    try {
      await requestOnDialog(this.srf, dialogId, 'BYE');
    } catch (err) {
      this.log.debug({ err }, 'BYE on an adopted call leg failed');
    }
  }
}
