import type { Logger } from '../logger';

/** Exit status after an unexpected fault: EX_SOFTWARE of sysexits.h (a bad config exits 78, EX_CONFIG). */
export const EXIT_SOFTWARE = 70;
/** How long the fatal line may take to reach stdout before the process exits anyway. */
export const FLUSH_TIMEOUT_MS = 1000;

/** What installFatalHandlers listens to: `process`, or an EventEmitter standing in for it in tests. */
export interface FaultSource {
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (reason: unknown) => void): unknown;
}

/**
 * After an uncaught exception or an unhandled rejection the process is in an unknown state (a call
 * half set up, a timer never cleared, a listener gone), so it does not go on: the fault is logged at
 * `fatal` with `{ err }`, the log is flushed, and `exit(EXIT_SOFTWARE)` is called once. The
 * supervisor (Docker restart policy, systemd `Restart=`) starts a fresh process.
 */
export function installFatalHandlers(proc: FaultSource, logger: Logger, exit: (code: number) => void, flushTimeoutMs = FLUSH_TIMEOUT_MS): void {
  let exiting = false;
  const onFault =
    (what: string) =>
    (reason: unknown): void => {
      try {
        logger.fatal({ err: reason }, exiting ? `${what} while exiting` : `${what}; exiting`);
      } catch {
        // the logger itself is broken: exit all the same
      }
      if (exiting) return;
      exiting = true;
      let exited = false;
      const finish = (): void => {
        if (exited) return;
        exited = true;
        clearTimeout(timer);
        exit(EXIT_SOFTWARE);
      };
      // not unref()ed: with a fault handler installed, an emptied event loop would end the process with status 0
      const timer = setTimeout(finish, flushTimeoutMs);
      try {
        logger.flush(() => finish());
      } catch {
        finish();
      }
    };
  proc.on('uncaughtException', onFault('uncaught exception'));
  proc.on('unhandledRejection', onFault('unhandled rejection'));
}
