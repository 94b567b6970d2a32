/**
 * The operator CLI's exit codes (README "Operator CLI"): 0–3 are the command's own answer, the rest
 * follow sysexits.h so scripts can tell "the call is not there" from "Redis is not there".
 */
export const EXIT = {
  OK: 0,
  /** hangup: no live call by that Call-ID or call key */
  NOT_FOUND: 1,
  /** hangup: the call was still recorded when --wait ran out */
  TIMEOUT: 2,
  /** reload: an instance refused the new config (it keeps the running one) */
  REFUSED: 3,
  /** EX_USAGE: unknown command or option, bad option value, ambiguous Call-ID */
  USAGE: 64,
  /** EX_UNAVAILABLE: Redis unreachable, refused AUTH/TLS, or lost mid-command */
  UNAVAILABLE: 69,
  /** EX_SOFTWARE: an unexpected fault in the CLI itself */
  SOFTWARE: 70,
  /** EX_CONFIG: the config file cannot be read or is invalid */
  CONFIG: 78,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI reports with one message on stderr and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}
