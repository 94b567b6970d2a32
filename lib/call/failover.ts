/**
 * How an attempt at a target ended, and whether the hunt moves on. Pure.
 */

/** How one attempt at one target ended. */
export type AttemptOutcome =
  | { kind: 'answered' }
  | { kind: 'rejected'; status: number; reason: string }
  /** no provisional response (18x) within provisionalTimeoutMs; the attempt was cancelled */
  | { kind: 'timeout' }
  /** rang for ringTimeoutS without a final answer; the attempt was cancelled */
  | { kind: 'no-answer' }
  /**
   * the request could not be sent. `requestFault`: drachtio refused the request itself (e.g. a
   * Request-URI it cannot parse), so any other target would refuse it too and it is not the target's fault
   */
  | { kind: 'send-error'; message: string; requestFault: boolean }
  /** the attempt stopped being wanted before it ended: the caller's CANCEL, another leg answered, shutdown */
  | { kind: 'canceled' };

export type Decision = 'answered' | 'failover' | 'stop';

export function decide(outcome: AttemptOutcome, failoverOn: readonly number[]): Decision {
  switch (outcome.kind) {
    case 'answered':
      return 'answered';
    case 'timeout':
      return 'failover';
    case 'send-error':
      return outcome.requestFault ? 'stop' : 'failover';
    case 'no-answer':
    case 'canceled':
      return 'stop';
    case 'rejected':
      if (outcome.status === 487) return 'stop';
      return failoverOn.includes(outcome.status) ? 'failover' : 'stop';
  }
}

/**
 * The outcome of a group of attempts rung at once, none answered: a caller-visible rejection that
 * stops the hunt (e.g. 486) wins, then the lowest failover status, then the first other outcome.
 */
export function groupOutcome(perTarget: readonly AttemptOutcome[], failoverOn: readonly number[]): AttemptOutcome {
  const answered = perTarget.find((o) => o.kind === 'answered');
  if (answered) return answered;
  const rejected = perTarget.filter((o): o is Extract<AttemptOutcome, { kind: 'rejected' }> => o.kind === 'rejected');
  const stopping = rejected.filter((o) => decide(o, failoverOn) === 'stop').sort((a, b) => a.status - b.status)[0];
  if (stopping) return stopping;
  const other = perTarget.find((o) => o.kind !== 'rejected' && decide(o, failoverOn) === 'stop');
  if (other) return other;
  return rejected.sort((a, b) => a.status - b.status)[0] ?? perTarget[0] ?? { kind: 'canceled' };
}

/** Short label for logs and counters: the status, or `timeout` / `no-answer` / `error` / `canceled`. */
export function outcomeLabel(outcome: AttemptOutcome): string {
  switch (outcome.kind) {
    case 'answered':
      return '200';
    case 'rejected':
      return String(outcome.status);
    case 'timeout':
      return 'timeout';
    case 'no-answer':
      return 'no-answer';
    case 'send-error':
      return outcome.requestFault ? 'request-error' : 'error';
    case 'canceled':
      return 'canceled';
  }
}
