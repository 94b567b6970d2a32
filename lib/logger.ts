import pino, { type Logger, type DestinationStream } from 'pino';
import { maskUrlCredentials } from './secrets';

export type { Logger };

/**
 * Paths never written to a log line as they are, whatever a caller passes in: each is replaced by
 * `[redacted]`, except a Redis URL, which is logged with its password masked (safeRedisUrl).
 * pino's wildcards match one level, hence the explicit forms for the config and its sections.
 */
export const REDACT_PATHS = [
  // an object with a secret or password, at the top level or one level down ({ server }, { redis: cfg.redis })
  'secret',
  'password',
  '*.secret',
  '*.password',
  // the config logged whole ({ config }) or by section ({ drachtio: cfg.drachtio }, { redis: cfg.redis })
  'drachtio.servers[*].secret',
  'drachtio.listen.secret',
  '*.drachtio.servers[*].secret',
  '*.drachtio.listen.secret',
  '*.redis.password',
  'redis.url',
  '*.redis.url',
  // ioredis puts the failed command on its errors: { name: 'auth', args: [user, password] }
  'err.command.args',
];

export const REDACTED = '[redacted]';

function censor(value: unknown, path: string[]): unknown {
  return path[path.length - 1] === 'url' && typeof value === 'string' ? safeRedisUrl(value) : REDACTED;
}

/** How often buffered log lines are written out when fewer than `bufferBytes` have gathered. */
export const LOG_FLUSH_MS = 100;

export interface LogOutput {
  /**
   * stdout lines are gathered up to this many bytes (or LOG_FLUSH_MS) before one write: a write per
   * line costs a system call each, about a tenth of a call's CPU at info. 0 = each line at once.
   */
  bufferBytes?: number;
}

/** Asynchronous output to `fd` (stdout by default), buffered; pino flushes it on a fatal fault and on exit. */
export function bufferedDestination(bufferBytes: number, fd: number | string = 1): DestinationStream {
  const dest = pino.destination({ dest: fd, sync: false, minLength: bufferBytes });
  if (bufferBytes > 0) {
    const timer = setInterval(() => {
      try {
        dest.flush();
      } catch {
        // destroyed (the process is ending): nothing left to write
      }
    }, LOG_FLUSH_MS);
    timer.unref();
  }
  return dest;
}

export function createLogger(level: string, destination?: DestinationStream, output: LogOutput = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? bufferedDestination(output.bufferBytes ?? 0),
  );
}

/** A Redis URL with any password (in the user info or as a `password=` parameter) masked, safe to log. */
export function safeRedisUrl(url: string): string {
  return URL.canParse(url) ? maskUrlCredentials(url) : '(unparseable url)';
}
