/**
 * The one rule for what counts as a secret when a value is shown to an operator (config error
 * messages, log lines). Pure: no I/O.
 *
 * A field is secret when its name, case-insensitively,
 *   - contains `secret`, `password`, `passwd`, `passphrase`, `token` or `credential`, or
 *   - ends in `key` (`key`, `apiKey`, `privateKey`).
 * So `keyPrefix`, `caFile` and `username` are not secrets; `redisPassword` and `authToken` are.
 * A URL with credentials keeps its user name and loses its password (`redis://app:***@host`);
 * query parameters with secret names lose their values (`?password=***`).
 */
const SECRET_WORDS = 'secret|passw(?:or)?d|passphrase|token|credential';
export const SECRET_KEY = new RegExp(`${SECRET_WORDS}|key$`, 'i');

/**
 * The rule for log lines (lib/log-redaction.ts): the same words, without the `key` ending, because the
 * `key` fields a log line carries are identifiers logged on purpose (call keys, Redis keys), not secrets.
 */
export const SECRET_WORD = new RegExp(SECRET_WORDS, 'i');

/** What a secret is replaced with. */
export const MASK = '***';

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** `scheme://` followed by anything up to whitespace: one URL inside free text. */
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/\S*/gi;
/** `?name=value` / `&name=value` pairs of a query string. */
const QUERY_PAIR = /([?&;])([^=&;#\s]*)=([^&;#\s]*)/g;

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function maskOneUrl(url: string): string {
  const start = url.indexOf('://') + 3;
  let out = url;
  const firstAt = url.indexOf('@', start);
  if (firstAt !== -1) {
    // The user info runs to the last '@' before the path, query or fragment that follows the
    // first '@'. A password with an unencoded '@' or '/' is still masked whole: when in doubt,
    // more is masked, never less.
    const rest = url.slice(firstAt).search(/[/?#]/);
    const authorityEnd = rest === -1 ? url.length : firstAt + rest;
    const at = url.lastIndexOf('@', authorityEnd);
    const userinfo = url.slice(start, at);
    const colon = userinfo.indexOf(':');
    if (colon !== -1) out = `${url.slice(0, start)}${userinfo.slice(0, colon)}:${MASK}${url.slice(at)}`;
  }
  return out.replace(QUERY_PAIR, (pair, sep: string, name: string) => (isSecretKey(decoded(name)) ? `${sep}${name}=${MASK}` : pair));
}

/** `text` with the password of every URL in it masked (user names and hosts are kept). */
export function maskUrlCredentials(text: string): string {
  return text.replace(URL_IN_TEXT, maskOneUrl);
}

/**
 * A copy of `value` safe to show: fields with a secret name (at any depth) replaced by MASK,
 * whatever their value, and every string passed through maskUrlCredentials.
 * `alsoMask`: further field names to mask at the top level (e.g. the unknown fields of a typo).
 */
export function maskSecrets(value: unknown, alsoMask: readonly string[] = []): unknown {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, extra: readonly string[]): unknown => {
    if (typeof v === 'string') return maskUrlCredentials(v);
    if (typeof v !== 'object' || v === null) return v;
    if (seen.has(v)) return '[circular]';
    seen.add(v); // on the current path only: a YAML alias used twice is not a cycle
    let out: unknown;
    if (Array.isArray(v)) out = v.map((item) => walk(item, []));
    else {
      const copy: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) copy[k] = isSecretKey(k) || extra.includes(k) ? MASK : walk(item, []);
      out = copy;
    }
    seen.delete(v);
    return out;
  };
  return walk(value, alsoMask);
}
