/**
 * Handling of the header block an application sends with a request/response, after
 * drachtio-server src/drachtio.cpp makeTags() / makeSafeTags() / replaceHostInUri().
 */
import { displayHeaderName, normalizeHeaderName, replaceHostInNameAddr } from './sip-message';

export interface AppHeader {
  /** header name as it will be printed */
  name: string;
  /** normalized lower-case name */
  lname: string;
  value: string;
}

/** m_setImmutableHdrs: the app may never set these */
const IMMUTABLE = new Set(['via', 'route', 'rseq', 'record-route', 'content-length']);

/** headers sofia knows (printed with their canonical name); anything else is a custom header */
const KNOWN = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'alert-info',
  'allow',
  'allow-events',
  'authentication-info',
  'authorization',
  'call-id',
  'call-info',
  'contact',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-type',
  'cseq',
  'date',
  'error-info',
  'event',
  'expires',
  'from',
  'in-reply-to',
  'max-forwards',
  'min-expires',
  'min-se',
  'mime-version',
  'organization',
  'p-asserted-identity',
  'p-preferred-identity',
  'priority',
  'privacy',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-require',
  'rack',
  'reason',
  'refer-to',
  'referred-by',
  'replaces',
  'reply-to',
  'request-disposition',
  'require',
  'retry-after',
  'security-client',
  'security-server',
  'security-verify',
  'server',
  'session-expires',
  'subject',
  'subscription-state',
  'supported',
  'timestamp',
  'to',
  'unsupported',
  'user-agent',
  'warning',
  'www-authenticate',
]);

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** capitalizeAfterDash (drachtio.cpp): "x-foo-bar" -> "X-Foo-Bar", other letters untouched */
export function capitalizeAfterDash(name: string): string {
  let out = '';
  let up = true;
  for (const ch of name) {
    out += up ? ch.toUpperCase() : ch;
    up = ch === '-';
  }
  return out;
}

export interface ParseOptions {
  /** replace "@localhost" in From/To/Contact/P-Asserted-Identity with this host:port (makeTags) */
  localhost?: { host: string; port: number };
  /** makeSafeTags: From/To/Contact/P-Asserted-Identity may not be modified (used for CANCEL) */
  safe?: boolean;
}

/** Parse the app's header block (splitLines + makeTags). Invalid lines are dropped. */
export function parseAppHeaders(block: string, opts: ParseOptions = {}): AppHeader[] {
  const out: AppHeader[] = [];
  for (const line of block.split(/[\r\n]+/)) {
    if (!line.trim()) continue;
    const idx = line.indexOf(':');
    if (idx === -1) continue;
    const rawName = line.slice(0, idx).trim();
    if (!TOKEN.test(rawName)) continue;
    let value = line.slice(idx + 1).trim();
    const lname = normalizeHeaderName(rawName);
    if (IMMUTABLE.has(lname)) continue;
    const addressHdr = ['from', 'contact', 'to', 'p-asserted-identity'].includes(lname);
    if (opts.safe && addressHdr) continue;
    if (KNOWN.has(lname)) {
      if (opts.localhost && addressHdr && value.includes('@localhost')) {
        value = replaceHostInNameAddr(value, opts.localhost.host, opts.localhost.port) ?? value;
      }
      out.push({ name: displayHeaderName(lname), lname, value });
    } else {
      out.push({ name: capitalizeAfterDash(rawName), lname, value });
    }
  }
  return out;
}

export function findHeader(hdrs: AppHeader[], lname: string): AppHeader | undefined {
  return hdrs.find((h) => h.lname === lname);
}
