import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths never written to a log line, whatever a caller passes in. */
export const REDACT_PATHS = ['secret', 'password', '*.secret', '*.password', 'redis.url', '*.redis.url', 'config.drachtio.servers[*].secret'];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ sync: false }),
  );
}

/** A Redis URL with any password removed, safe to log. */
export function safeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
