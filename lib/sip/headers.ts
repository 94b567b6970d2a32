/**
 * Header copy policy: which headers of one leg are copied to the other. Pure.
 * Patterns are header names, case-insensitive; a trailing `*` matches a prefix (`X-*`).
 */

/** Headers a B2BUA must never copy: each leg has its own. */
const NEVER_COPY = new Set([
  'via',
  'v',
  'from',
  'f',
  'to',
  't',
  'call-id',
  'i',
  'cseq',
  'contact',
  'm',
  'max-forwards',
  'content-length',
  'l',
  'route',
  'record-route',
  'authorization',
  'proxy-authorization',
  'www-authenticate',
  'proxy-authenticate',
  'rseq',
  'rack',
  'require',
  'proxy-require',
]);

/** Compact forms (RFC 3261 section 7.3.3 and extensions) mapped to their long names. */
const COMPACT: Record<string, string> = {
  c: 'content-type',
  e: 'content-encoding',
  k: 'supported',
  s: 'subject',
  o: 'event',
  r: 'refer-to',
  b: 'referred-by',
  u: 'allow-events',
  x: 'session-expires',
  y: 'identity',
  a: 'accept-contact',
};

export type HeaderMatcher = (name: string) => boolean;

/** Compiles header patterns once; the returned matcher is used per message. */
export function compileHeaderPatterns(patterns: readonly string[]): HeaderMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    const lower = p.toLowerCase();
    if (lower.endsWith('*')) prefixes.push(lower.slice(0, -1));
    else exact.add(lower);
  }
  return (name: string) => {
    const lower = name.toLowerCase();
    const long = COMPACT[lower] ?? lower;
    if (NEVER_COPY.has(lower) || NEVER_COPY.has(long)) return false;
    return exact.has(long) || prefixes.some((prefix) => long.startsWith(prefix));
  };
}

/** Picks the headers to copy from a parsed header map (as drachtio-srf gives `msg.headers`). */
export function copyHeaders(headers: Readonly<Record<string, string | undefined>>, matcher: HeaderMatcher): Record<string, string> {
  const out: Record<string, string> = {};
  // for…in, not Object.entries: no [name, value] array per header of every message relayed
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && Object.prototype.hasOwnProperty.call(headers, name) && matcher(name)) out[COMPACT[name.toLowerCase()] ?? name] = value;
  }
  return out;
}
