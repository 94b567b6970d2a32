/**
 * Whether a failed attempt moves the hunt to the next target. Pure.
 */

/** How one attempt at one target ended. */
export type AttemptOutcome =
  | { kind: 'answered' }
  | { kind: 'rejected'; status: number; reason: string }
  /** no provisional response within provisionalTimeoutMs; the attempt was cancelled */
  | { kind: 'timeout' }
  /** the request could not be sent (drachtio refused, transport error, …) */
  | { kind: 'send-error'; message: string }
  | { kind: 'canceled' };

export type Decision = 'answered' | 'failover' | 'stop';

export function decide(outcome: AttemptOutcome, failoverOn: readonly number[]): Decision {
  switch (outcome.kind) {
    case 'answered':
      return 'answered';
    case 'timeout':
    case 'send-error':
      return 'failover';
    case 'canceled':
      return 'stop';
    case 'rejected':
      if (outcome.status === 487) return 'stop';
      return failoverOn.includes(outcome.status) ? 'failover' : 'stop';
  }
}

/** Short label for logs and counters: the status, or `timeout` / `error`. */
export function outcomeLabel(outcome: AttemptOutcome): string {
  switch (outcome.kind) {
    case 'answered':
      return '200';
    case 'rejected':
      return String(outcome.status);
    case 'timeout':
      return 'timeout';
    case 'send-error':
      return 'error';
    case 'canceled':
      return 'canceled';
  }
}
