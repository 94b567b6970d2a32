import { randomBytes, randomUUID } from 'node:crypto';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

/** Logger writing to stderr (never stdout). */
export function makeLogger(level: LogLevel | 'silent'): Logger {
  const max = level === 'silent' ? -1 : LEVELS[level];
  const out = (lvl: LogLevel) => (msg: string) => {
    if (LEVELS[lvl] <= max) process.stderr.write(`${new Date().toISOString()} [emulator] ${lvl}: ${msg}\n`);
  };
  return { error: out('error'), warn: out('warn'), info: out('info'), debug: out('debug') };
}

export function uuid(): string {
  return randomUUID();
}

export function randomToken(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}

/** `HH:MM:SS.uuuuuu` (UTC), as SipMsgData_t formats su_now() in drachtio-server src/drachtio.cpp. */
export function stackTime(now = Date.now()): string {
  const d = new Date(now);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const micros = (now % 1000) * 1000 + Math.floor(Math.random() * 1000);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(micros, 6)}`;
}

/** Registry of timers so close() can cancel all of them. */
export class Timers {
  private readonly set = new Set<NodeJS.Timeout>();

  after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.set.delete(t);
      fn();
    }, ms);
    this.set.add(t);
    return t;
  }

  cancel(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.set.delete(t);
  }

  clearAll(): void {
    for (const t of this.set) clearTimeout(t);
    this.set.clear();
  }
}

/** RFC 3261 timer values; T1 is configurable so tests can run timeouts quickly. */
export interface SipTimerConfig {
  t1: number;
  t2: number;
  t4: number;
}

export function makeTimerConfig(t1 = 500): SipTimerConfig {
  return { t1, t2: Math.max(t1, 4000 * (t1 / 500)), t4: 5000 * (t1 / 500) };
}
