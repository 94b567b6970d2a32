import type { Logger } from '../logger';
import { SipError, type Dialog, type Srf, type SrfRequest, type SrfResponse } from '../drachtio/srf';
import { isRequestFault } from '../sip/send-errors';
import type { AttemptOutcome } from './failover';

/** What a target's 200 OK gives us before the caller is answered (lib/call/bridge.ts turns it into a call). */
export type Answer =
  /** the caller sent an offer: the target's leg is up and ACKed */
  | { kind: 'dialog'; uac: Dialog; res: SrfResponse }
  /** offer-less INVITE: the target's offer; its ACK waits for the caller's answer (`ack`), or `destroy` ACKs and BYEs it */
  | { kind: 'offer'; sdp: string; res: SrfResponse; ack(sdp: string): Promise<Dialog>; destroy(): Promise<void> };

export interface RingOptions {
  uris: readonly string[];
  /** headers of the INVITE sent to every target */
  headers: Record<string, string>;
  /** the caller's offer; undefined for an offer-less INVITE (then `uris` has one entry) */
  offer?: string;
  provisionalTimeoutMs: number;
  /** a target still ringing this long after its INVITE was sent is cancelled; 0 = no limit */
  ringTimeoutMs: number;
  /**
   * the caller's request: in outbound mode the INVITEs to targets must go out over the connection
   * drachtio-server opened for this call (createB2BUA passes `_socket` the same way), else they would
   * use another call's connection and die with it
   */
  callerReq: SrfRequest;
  /** a provisional response (18x) from a target still wanted, for relay to the caller */
  onProvisional(res: SrfResponse): void;
  /** any provisional response (100 Trying included) from a target still wanted: the call is being worked on */
  onHeard?(): void;
  log: Logger;
  /** added to this group's log lines (e.g. `{ target }`); its child logger is made only when a line is written */
  logBindings?: Record<string, unknown>;
}

export interface RingResult {
  /** one outcome per uri, in order: per-target counters come from here */
  perTarget: AttemptOutcome[];
  /** the final response of each target that rejected, by index (for Retry-After and header copying) */
  responses: (SrfResponse | undefined)[];
  answered?: { index: number; answer: Answer };
}

interface Leg {
  readonly index: number;
  readonly uri: string;
  sent?: SrfRequest;
  outcome?: AttemptOutcome;
  response?: SrfResponse;
  gotProvisional: boolean;
  timers: NodeJS.Timeout[];
}

type UacResult = Dialog | { sdp: string; res: SrfResponse; ack(sdp: string): Promise<Dialog>; destroy(): Promise<void> };

/**
 * Rings one target (the serial hunt) or several at once (the parallel strategy) with drachtio-srf's
 * createUAC, and resolves (never rejects) as soon as one answers or every one has ended.
 *
 * Each target's outcome is fixed once, at the moment it is known: its own final response, its
 * provisional or ring timer, or our cancel. After that nothing changes it; in particular an answer
 * that arrives after its attempt was given up (a 200 crossing our CANCEL, a target answering just as
 * its timer fired, a second leg answering after the first) is ACKed and BYEd here, never orphaned.
 * Timers are cleared by any response that makes them moot: an 18x ends the provisional timer, any
 * final response ends both.
 */
export class RingGroup {
  private readonly legs: Leg[];
  private winner?: { index: number; answer: Answer };
  private resolve?: (r: RingResult) => void;
  private settled = false;
  private childLog?: Logger;

  constructor(
    private readonly srf: Srf,
    private readonly opts: RingOptions,
  ) {
    this.legs = opts.uris.map((uri, index) => ({ index, uri, gotProvisional: false, timers: [] }));
  }

  private get log(): Logger {
    this.childLog ??= this.opts.logBindings ? this.opts.log.child(this.opts.logBindings) : this.opts.log;
    return this.childLog;
  }

  run(): Promise<RingResult> {
    const done = new Promise<RingResult>((resolve) => {
      this.resolve = resolve;
    });
    for (const leg of this.legs) this.start(leg);
    return done;
  }

  /** Stops every target still ringing (caller's CANCEL, shutdown); each counts as `canceled`. */
  cancel(headers?: Record<string, string>): void {
    for (const leg of this.legs) this.giveUp(leg, { kind: 'canceled' }, headers);
    this.settleIfDone();
  }

  private start(leg: Leg): void {
    const { opts } = this;
    leg.timers.push(
      setTimeout(() => {
        if (leg.gotProvisional || leg.outcome) return;
        this.log.info(
          { code: 'B2B_ERR_ATTEMPT_TIMEOUT', uri: leg.uri, timeoutMs: opts.provisionalTimeoutMs },
          'no provisional response in time; cancelling attempt',
        );
        this.giveUp(leg, { kind: 'timeout' });
        this.settleIfDone();
      }, opts.provisionalTimeoutMs),
    );
    if (opts.ringTimeoutMs > 0) {
      leg.timers.push(
        setTimeout(() => {
          if (leg.outcome) return;
          this.log.info({ code: 'B2B_ERR_RING_TIMEOUT', uri: leg.uri, timeoutMs: opts.ringTimeoutMs }, 'no answer in time; cancelling attempt');
          this.giveUp(leg, { kind: 'no-answer' });
          this.settleIfDone();
        }, opts.ringTimeoutMs),
      );
    }
    const uacOpts = {
      headers: { ...opts.headers },
      localSdp: opts.offer,
      noAck: opts.offer === undefined,
      _socket: (opts.callerReq as unknown as { socket?: unknown }).socket,
    };
    (
      this.srf.createUAC(leg.uri, uacOpts, {
        cbRequest: (err: unknown, sent: SrfRequest) => {
          if (err || !sent) return;
          leg.sent = sent;
          // given up before the INVITE left: cancel it now
          if (leg.outcome) sent.cancel();
        },
        cbProvisional: (prov: SrfResponse) => {
          if (!leg.outcome && !this.winner) opts.onHeard?.();
          if (prov.status <= 100) return;
          leg.gotProvisional = true;
          if (!leg.outcome && !this.winner) opts.onProvisional(prov);
        },
      }) as unknown as Promise<UacResult>
    )
      .then((result) => this.onAnswer(leg, result))
      .catch((err: unknown) => this.onFailure(leg, err));
  }

  private onAnswer(leg: Leg, result: UacResult): void {
    this.clearTimers(leg);
    const answer: Answer = 'sdp' in result && 'ack' in result ? { kind: 'offer', ...result } : { kind: 'dialog', uac: result, res: result.res as SrfResponse };
    if (leg.outcome || this.winner) {
      // given up (timer, CANCEL) or beaten by another leg: ACK and BYE this late answer
      this.log.info({ uri: leg.uri, outcome: leg.outcome?.kind ?? 'another target answered first' }, 'late answer from an abandoned attempt; ending that leg');
      void release(answer, this.log);
      leg.outcome ??= { kind: 'canceled' };
      this.settleIfDone();
      return;
    }
    leg.outcome = { kind: 'answered' };
    this.winner = { index: leg.index, answer };
    for (const other of this.legs) if (other !== leg) this.giveUp(other, { kind: 'canceled' });
    this.settleIfDone();
  }

  private onFailure(leg: Leg, err: unknown): void {
    this.clearTimers(leg);
    if (leg.outcome) {
      this.log.debug({ err, uri: leg.uri }, 'abandoned attempt ended');
      return;
    }
    if (err instanceof SipError) {
      leg.outcome = { kind: 'rejected', status: err.status, reason: err.reason };
      leg.response = err.res;
    } else {
      const message = err instanceof Error ? err.message : String(err);
      leg.outcome = { kind: 'send-error', message, requestFault: isRequestFault(err) };
    }
    this.settleIfDone();
  }

  /** Fixes a leg's outcome if it has none yet and cancels its INVITE (or cbRequest will, once sent). */
  private giveUp(leg: Leg, outcome: AttemptOutcome, headers?: Record<string, string>): void {
    if (leg.outcome) return;
    leg.outcome = outcome;
    this.clearTimers(leg);
    leg.sent?.cancel(headers ? { headers } : undefined);
  }

  private clearTimers(leg: Leg): void {
    for (const t of leg.timers) clearTimeout(t);
    leg.timers = [];
  }

  private settleIfDone(): void {
    if (this.settled || !this.legs.every((l) => l.outcome)) return;
    this.settled = true;
    this.resolve?.({
      perTarget: this.legs.map((l) => l.outcome as AttemptOutcome),
      responses: this.legs.map((l) => l.response),
      ...(this.winner ? { answered: this.winner } : {}),
    });
  }
}

/** Ends an answered target leg nobody will use: BYE for a dialog, ACK then BYE for an offer-less answer. */
export async function release(answer: Answer, log: Logger): Promise<void> {
  try {
    if (answer.kind === 'dialog') await answer.uac.destroy();
    else await answer.destroy();
  } catch (err) {
    log.debug({ err }, 'BYE to an abandoned leg failed');
  }
}
