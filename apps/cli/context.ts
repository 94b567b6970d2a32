import { CliError, EXIT } from '../../lib/cli/exit';
import { maskUrlCredentials } from '../../lib/secrets';
import type { CallStore } from '../../lib/store/call-store';
import type { ClusterStore } from '../../lib/store/cluster-store';
import type { HealthStore } from '../../lib/store/health-store';
import type { ProbeStore } from '../../lib/store/probe-store';

/** What every command gets: the stores on one Redis connection, and where to write. */
export interface CliContext {
  store: CallStore;
  cluster: ClusterStore;
  /** target states (status) */
  health: HealthStore;
  /** operator drain (drain-target, undrain-target) */
  probe: ProbeStore;
  /** one block of output for stdout (a newline is added) */
  out(text: string): void;
  /** one message for stderr (a newline is added) */
  err(text: string): void;
  /** ANSI colour in tables (stdout is a terminal and NO_COLOR is not set) */
  colour: boolean;
  now(): number;
}

/** Awaits a Redis read or write; a failure (connection lost, timeout, refused command) becomes exit 69. */
export async function io<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new CliError(`redis: ${maskUrlCredentials((err as Error).message)}`, EXIT.UNAVAILABLE, { cause: err });
  }
}
