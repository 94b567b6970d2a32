import { maskUrlCredentials, SECRET_WORD } from './secrets';

/**
 * What a log line must never show, applied to every object logged and every child logger's bindings
 * (lib/logger.ts). Pure: no I/O.
 *
 * Walking plain objects and arrays up to MAX_DEPTH levels down (an array is a level):
 * - a field whose name says it holds a secret (SECRET_FIELD: `secret`, `password`, `passphrase`, `token`,
 *   `credential`, in any case, anywhere in the name) is replaced by REDACTED;
 * - a `url` field holding an address (`scheme://…`) keeps its user name but loses its password
 *   (safeRedisUrl: `redis://app:***@host`).
 * Errors, buffers and class instances are not walked: an error goes through the `err` serializer, which
 * drops the arguments ioredis puts on it (`err.command.args` holds AUTH's password).
 *
 * Copy on write: an object with nothing to hide is returned as it is, so a line without secrets (the call
 * path's) costs one look at each of its fields. pino's own `redact` option did this per path, but its
 * wildcards sent every field of every line through a clone and JSON.stringify (0.04 ms per call in a
 * CPU profile at 400 calls/s).
 */
/** lib/secrets.ts's rule for secret field names, less its `key` ending (see SECRET_WORD there). */
export const SECRET_FIELD = SECRET_WORD;

export const REDACTED = '[redacted]';

/** Deepest object walked into: `config.drachtio.servers[0].secret` is a field of the object 4 down. */
export const MAX_DEPTH = 6;

/** A Redis URL with any password (in the user info or as a `password=` parameter) masked, safe to log. */
export function safeRedisUrl(url: string): string {
  return URL.canParse(url) ? maskUrlCredentials(url) : '(unparseable url)';
}

function isWalkable(v: unknown): v is Record<string, unknown> | unknown[] {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return true;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function redactField(name: string, value: unknown, depth: number): unknown {
  if (SECRET_FIELD.test(name)) return value === undefined ? value : REDACTED;
  // only an address with a scheme can carry credentials: a request path (`/metrics`) is left as it is
  if (name === 'url' && typeof value === 'string' && value.includes('://')) return safeRedisUrl(value);
  return depth < MAX_DEPTH && isWalkable(value) ? walk(value, depth + 1) : value;
}

function walk<T extends Record<string, unknown> | unknown[]>(obj: T, depth: number): T {
  if (Array.isArray(obj)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < obj.length; i++) {
      const v: unknown = obj[i];
      const r = depth < MAX_DEPTH && isWalkable(v) ? walk(v, depth + 1) : v;
      if (r !== v) (out ??= obj.slice())[i] = r;
    }
    return (out ?? obj) as T;
  }
  const rec: Record<string, unknown> = obj;
  let out: Record<string, unknown> | undefined;
  for (const k in rec) {
    if (!Object.prototype.hasOwnProperty.call(rec, k)) continue;
    const v = rec[k];
    const r = redactField(k, v, depth);
    if (r !== v) (out ??= { ...rec })[k] = r;
  }
  return (out ?? obj) as T;
}

/** `obj` with its secrets replaced, or `obj` itself when it has none. */
export function redactSecrets<T extends Record<string, unknown>>(obj: T): T {
  return walk(obj, 0);
}

/** An error serialized for a log line: the arguments of the Redis command it carries are not shown. */
export function withoutCommandArgs(serialized: unknown): unknown {
  if (serialized === null || typeof serialized !== 'object') return serialized;
  const command: unknown = (serialized as { command?: unknown }).command;
  if (command === null || typeof command !== 'object' || !('args' in command)) return serialized;
  return Object.assign(Object.create(Object.getPrototypeOf(serialized) as object) as object, serialized, { command: { ...command, args: REDACTED } });
}
