/**
 * What drachtio-server does to the start line and Request-URI of a request an application sends
 * outside a dialog, before it goes on the wire (SipDialogController::doSendRequestOutsideDialog):
 *
 * - the start line is cut to START_LEN (512) bytes (src/sip-dialog-controller.hpp:45, SipMessageData
 *   ctor `memcpy(m_szStartLine, .., std::min(START_LEN, ..))`), and so is the route url;
 * - it must parse as a request line (sofia-sip `sip_request_make`: sip_basic.c sip_request_d =
 *   msg_firstline_d + sip_method_d + url_d + sip_version_d), with a known method and a URL of a known
 *   type, else `invalid request-uri: <start line>` (src/sip-dialog-controller.cpp:503-510);
 * - the Request-URI token must pass `normalizeSipUri(uri, 0)` (src/drachtio.cpp:369-415), which reads
 *   it as a header value without angle brackets (sip_name_addr_d, where `,`, `;` and `?` end the URL)
 *   and refuses a user part cut off by that; else `invalid request-uri: <uri>` (sip-dialog-controller.cpp:585-587);
 * - what goes on the wire is sofia's canonical form (url.c url_d → url_canonize: an escaped character
 *   that may appear unescaped in that URL part is unescaped, other escapes get upper-case hex), in the
 *   Request-URI (nta_outgoing_tcreate with URL_STRING_MAKE(normalized uri)) and in the To header
 *   (nta_leg_tcreate SIPTAG_TO_STR: sip_addr_d, encoded by sip_addr_e with brackets).
 *
 * The functions below follow those sofia-sip functions (deps/sofia-sip/libsofia-sip-ua/url/url.c,
 * sip/sip_basic.c, sip/sip_parser.c, msg/msg_parser_util.c, bnf/bnf.c) closely enough for SIP and tel
 * URLs and name-addr values; pure string functions.
 */

/** src/sip-dialog-controller.hpp:45 */
export const START_LEN = 512;

/** The first START_LEN bytes of `s` (drachtio copies the start line and the route url into char[START_LEN+1]). */
export function cutToStartLen(s: string): string {
  const b = Buffer.from(s, 'utf8');
  return b.length <= START_LEN ? s : b.subarray(0, START_LEN).toString('utf8');
}

// ------------------------------------------------------------------ bnf.c character classes

const WS = 1;
const CRLF = 2;
const ALPHA = 4;
const SAFE = 8;
const MARK = 16;
const SEP = 32;
const TOKEN0 = 64 | SAFE;
const PARAM0 = 128;
const TOKEN = TOKEN0 | ALPHA;
const UNRESERVED = ALPHA | MARK;
const PARAM = TOKEN | PARAM0;
const digit = MARK | TOKEN0 | SAFE;
const msep = MARK | SEP;
const psep = PARAM0 | SEP;
const mtok = MARK | TOKEN0;
const smtok = MARK | TOKEN0 | SAFE;
const [ws, crlf, alpha, sep, tok, safe] = [WS, CRLF, ALPHA, SEP, TOKEN0, SAFE];

/** bnf.c _bnf_table, characters 0..127 (128..255 are 0) */
// prettier-ignore
const BNF_TABLE = [
  0, 0, 0, 0, 0, 0, 0, 0,
  0, ws, crlf, 0, 0, crlf, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0,
  ws, mtok, sep, 0, safe, mtok, 0, mtok, /*  !"#$%&' */
  msep, msep, mtok, tok, sep, smtok, smtok, psep, /* ()*+,-./ */
  digit, digit, digit, digit, digit, digit, digit, digit, /* 01234567 */
  digit, digit, psep, sep, sep, sep, sep, sep, /* 89:;<=>? */
  sep, alpha, alpha, alpha, alpha, alpha, alpha, alpha, /* @ABCDEFG */
  alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha, /* HIJKLMNO */
  alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha, /* PQRSTUVW */
  alpha, alpha, alpha, psep, sep, psep, 0, smtok, /* XYZ[\]^_ */
  tok, alpha, alpha, alpha, alpha, alpha, alpha, alpha, /* `abcdefg */
  alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha, /* hijklmno */
  alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha, /* pqrstuvw */
  alpha, alpha, alpha, sep, 0, sep, mtok, 0, /* xyz{|}~  */
];

function cls(c: string | undefined): number {
  if (c === undefined || c === '') return 0;
  const code = c.charCodeAt(0);
  return code < 128 ? BNF_TABLE[code] : 0;
}
const isToken = (c: string | undefined) => (cls(c) & TOKEN) !== 0;
const isParam = (c: string | undefined) => (cls(c) & PARAM) !== 0;
const isUnreserved = (c: string | undefined) => (cls(c) & UNRESERVED) !== 0;
const isLws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isWs = (c: string | undefined) => c === ' ' || c === '\t';

function span(s: string, from: number, pred: (c: string) => boolean): number {
  let i = from;
  while (i < s.length && pred(s[i])) i++;
  return i - from;
}
/** strcspn(s + from, chars) */
function cspan(s: string, from: number, chars: string): number {
  let i = from;
  while (i < s.length && !chars.includes(s[i])) i++;
  return i - from;
}
function skipLws(s: string, i: number): number {
  while (i < s.length && isLws(s[i])) i++;
  return i;
}
/** bnf.h span_quoted: length of a double-quoted string at s[i] (with its quotes), 0 when none/unterminated */
function spanQuoted(s: string, i: number): number {
  if (s[i] !== '"') return 0;
  let j = i + 1;
  for (;;) {
    j += cspan(s, j, '\\"');
    if (j >= s.length) return 0;
    if (s[j++] === '"') return j - i;
    if (j++ >= s.length) return 0;
  }
}

// ------------------------------------------------------------------ url.c canonization

/** url.c RESERVED_MASK and URIC_MASK (bit 63-c of m32 for c 32..63, 95-c of m64, 127-c of m96) */
const RESERVED_MASK: Mask = [0xbe19003f, 0x8000001e, 0x8000001d];
const URIC_MASK: Mask = [0xb400000a, 0x0000001e, 0x8000001d];
type Mask = [number, number, number];

function isExcluded(u: number, [m32, m64, m96]: Mask): boolean {
  if (u <= 32 || u >= 127) return true;
  if (u < 64) return (m32 & (1 << (63 - u))) !== 0;
  if (u < 96) return (m64 & (1 << (95 - u))) !== 0;
  return (m96 & (1 << (127 - u))) !== 0;
}

/** url.c MASKS_WITH_ALLOWED: RESERVED_MASK with the `allowed` characters cleared */
function maskAllowing(allowed: string): Mask {
  const m: Mask = [...RESERVED_MASK];
  for (const ch of allowed) {
    const a = ch.charCodeAt(0);
    if (a >= 32 && a < 64) m[0] &= ~(1 << (63 - a));
    else if (a >= 64 && a < 96) m[1] &= ~(1 << (95 - a));
    else if (a >= 96 && a < 128) m[2] &= ~(1 << (127 - a));
  }
  return m;
}

/** url.c SYN33(c) */
function syn33(chars: string): number {
  let v = 0;
  for (const ch of chars) v |= 1 << (ch.charCodeAt(0) - 33);
  return v;
}
/** url.c IS_SYN33 (a shift count outside 0..31 wraps, as C's does on x86 and JS's always) */
const isSyn33 = (s33: number, c: number) => (s33 & (1 << (c - 33))) !== 0;

const HEX = /^[0-9A-Fa-f]$/;

/**
 * url.c url_canonize2 / url_canonize3, in place (d == s, as url_d always calls them): everything up to
 * the first '%' is copied unchecked; after it, an unescaped excluded character (not in syn33) fails
 * (not with `check` false: url_canonize3); %XX of a character the mask does not exclude is unescaped,
 * other escapes are kept with upper-case hex; a bad escape fails.
 */
function canonize(s: string, mask: Mask, s33 = 0, check = true): string | undefined {
  const first = s.indexOf('%');
  if (first === -1) return s;
  let out = s.slice(0, first);
  for (let i = first; i < s.length; i++) {
    const ch = s[i];
    if (ch !== '%') {
      const c = ch.charCodeAt(0);
      if (check && !isSyn33(s33, c) && isExcluded(c, mask)) return undefined;
      out += ch;
      continue;
    }
    const h1 = s[i + 1];
    const h2 = s[i + 2];
    if (h1 === undefined || h2 === undefined || !HEX.test(h1) || !HEX.test(h2)) return undefined;
    const c = parseInt(h1 + h2, 16);
    i += 2;
    if (!isExcluded(c, mask)) out += String.fromCharCode(c);
    else out += `%${h1.toUpperCase()}${h2.toUpperCase()}`;
  }
  return out;
}

// ------------------------------------------------------------------ url.c url_d / url_e

export type UrlType = 'any' | 'sip' | 'sips' | 'tel' | 'invalid' | 'unknown' | 'other';

/** url_t: the parts of a decoded URL (undefined = absent, as a NULL member) */
export interface SofiaUrl {
  type: UrlType;
  scheme?: string;
  root?: boolean;
  user?: string;
  password?: string;
  host?: string;
  port?: string;
  path?: string;
  params?: string;
  headers?: string;
  fragment?: string;
}

const KNOWN_SCHEMES = [
  'cid',
  'ftp',
  'file',
  'fax',
  'http',
  'https',
  'im',
  'mailto',
  'modem',
  'msrp',
  'msrps',
  'pres',
  'rtsp',
  'rtspu',
  'sip',
  'sips',
  'tel',
  'wv',
];

/** url.c url_get_type */
function urlType(scheme: string): { type: UrlType; name?: string } {
  const lower = scheme.toLowerCase();
  if (KNOWN_SCHEMES.includes(lower)) {
    return { type: lower === 'sip' || lower === 'sips' || lower === 'tel' ? lower : 'other', name: lower };
  }
  return { type: span(scheme, 0, isUnreserved) !== scheme.length ? 'invalid' : 'unknown' };
}

/** url.c url_type_is_opaque */
const OPAQUE = ['tel', 'modem', 'fax', 'cid'];

/** url.c url_d: decode and canonize a URL; undefined where url_d returns -1. */
export function urlD(input: string): SofiaUrl | undefined {
  if (input === '*') return { type: 'any', scheme: '*' };
  const url: SofiaUrl = { type: 'unknown' };
  let s = input;
  let n = cspan(s, 0, ':/?#');
  let haveAuthority = true;
  let name: string | undefined;
  if (n > 0 && s[n] === ':') {
    const scheme = canonize(s.slice(0, n), maskAllowing('+'));
    if (scheme === undefined) return undefined;
    url.scheme = scheme;
    const t = urlType(scheme);
    url.type = t.type;
    name = t.name;
    haveAuthority = !(t.type === 'invalid' || (name !== undefined && OPAQUE.includes(name)));
    s = s.slice(n + 1);
  }

  // [userEnd, hostStart): the user, [hostStart, n): the host (when there is one)
  let user: string | undefined;
  let hostStart: number | undefined = 0;
  if (url.type === 'sip' || url.type === 'sips') {
    // SIP URL may have /;? in user part but no path
    n = cspan(s, 0, '@/;?#');
    const p = cspan(s, n, '@');
    if (s[n + p] === '@') {
      n += p;
      user = s.slice(0, n);
      hostStart = n + 1;
    }
    n += cspan(s, n, '/;?#');
  } else if (haveAuthority) {
    if (name === 'wv') {
      n = cspan(s, 0, '@#?;');
      if (s[n] === '@') {
        user = s.slice(0, n);
        hostStart = n + 1;
        n += cspan(s, n, ';?#');
      }
    } else if (s[0] === '/' && s[1] !== '/') {
      url.root = true;
      hostStart = undefined;
      n = 0;
    } else {
      if (s[0] === '/' && s[1] === '/') {
        s = s.slice(2);
        url.root = true;
        n = cspan(s, 0, '/?#@[]');
      } else {
        n = cspan(s, 0, '@;/?#');
      }
      if (s[n] === '@') {
        user = s.slice(0, n);
        hostStart = n + 1;
      }
      n += cspan(s, n, ';/?#');
    }
  } else {
    hostStart = undefined;
    n = url.type !== 'invalid' ? cspan(s, 0, '/;?#') : cspan(s, 0, '#');
    user = s.slice(0, n);
  }
  let restC: string | undefined = s[n];
  let host = hostStart === undefined ? undefined : s.slice(hostStart, n);
  s = restC === undefined ? '' : s.slice(n + 1);

  if (user !== undefined) {
    url.user = user;
    if (url.type !== 'unknown') {
      const colon = user.indexOf(':');
      if (colon !== -1) {
        url.user = user.slice(0, colon);
        url.password = user.slice(colon + 1);
      }
    }
  }

  if (host !== undefined) {
    let hn: number;
    if (host[0] === '[') {
      hn = cspan(host, 0, ']');
      if (hn < host.length && (hn + 1 === host.length || host[hn + 1] === ':')) hn++;
      else hn = 0;
    } else {
      hn = cspan(host, 0, ':');
    }
    if (hn === 0 && (url.type === 'sip' || url.type === 'sips' || name === 'im' || name === 'pres')) return undefined;
    if (host[hn] === ':') {
      let port = host.slice(hn + 1);
      if (url.type === 'any' || url.type === 'sip' || url.type === 'sips' || ['http', 'https', 'ftp', 'file', 'rtsp', 'rtspu'].includes(name ?? '')) {
        const c = canonize(port, RESERVED_MASK);
        if (c === undefined) return undefined;
        port = c;
        if (!/^(?:[0-9]*|\*)$/.test(port)) return undefined;
      }
      url.port = port;
      host = host.slice(0, hn);
    }
    url.host = host;
  }

  const take = (stop: string): string => {
    const m = cspan(s, 0, stop);
    const part = s.slice(0, m);
    restC = s[m];
    s = restC === undefined ? '' : s.slice(m + 1);
    return part;
  };
  if (restC === '/') url.path = take('?#');
  if (restC === ';') url.params = take('?#');
  if (restC === '?') url.headers = take('#');
  if (restC === '#') {
    url.fragment = s;
    restC = undefined;
  }
  if (restC !== undefined) return undefined;

  // url_d: canonize
  const sip = url.type === 'sip' || url.type === 'sips';
  const parts: Array<[keyof SofiaUrl, Mask, number, boolean]> = [
    ['user', maskAllowing(sip ? '&=+$,;?/' : '&=+$,;'), 0, true],
    ['password', maskAllowing(sip ? '&=+$,' : '&=+$,;:'), 0, true],
    ['host', RESERVED_MASK, 0, true],
    ['path', maskAllowing(':&+$'), syn33('/;=@,'), true],
    ['params', maskAllowing('/:&+$'), syn33(';=@,'), true],
    ['headers', RESERVED_MASK, 0, false],
    ['fragment', URIC_MASK, 0, true],
  ];
  for (const [key, mask, s33, check] of parts) {
    const v = url[key];
    if (typeof v !== 'string') continue;
    const c = canonize(v, mask, s33, check);
    if (c === undefined) return undefined;
    (url as unknown as Record<string, string>)[key] = c;
  }
  return url;
}

/** url.c url_e / URL_PRINT_ARGS */
export function urlE(u: SofiaUrl): string {
  if (u.type === 'any') return '*';
  let s = '';
  if (u.scheme) s += `${u.scheme}:`;
  if (u.root && (u.host !== undefined || u.user !== undefined)) s += '//';
  if (u.user !== undefined) {
    s += u.user;
    if (u.password !== undefined) s += `:${u.password}`;
    if (u.host !== undefined) s += '@';
  }
  if (u.host !== undefined) {
    s += u.host;
    if (u.port !== undefined) s += `:${u.port}`;
  }
  if (u.path !== undefined) s += (u.root ? '/' : '') + u.path;
  if (u.params !== undefined) s += `;${u.params}`;
  if (u.headers !== undefined) s += `?${u.headers}`;
  if (u.fragment !== undefined) s += `#${u.fragment}`;
  return s;
}

// ------------------------------------------------------------------ request line

const SIP_METHODS = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'REGISTER', 'INFO', 'PRACK', 'UPDATE', 'MESSAGE', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'PUBLISH'];

/** sip_parser.c sip_version_d: `SIP/2.0`, or any `token / token`; the rest must be whitespace */
function versionOk(v: string): boolean {
  let i: number;
  if (v.slice(0, 7).toUpperCase() === 'SIP/2.0' && !isToken(v[7])) {
    i = 7;
  } else {
    const l1 = span(v, 0, isToken);
    let j = l1;
    while (isLws(v[j])) j++;
    let l2 = 0;
    if (v[j] === '/') {
      j++;
      while (isLws(v[j])) j++;
      l2 = span(v, j, isToken);
      j += l2;
    }
    if (l1 === 0 || l2 === 0) return false;
    i = j;
  }
  while (isWs(v[i])) i++;
  return i === v.length;
}

/**
 * Whether drachtio-server's `sip_request_make(home, startLine)` check passes (src/sip-dialog-controller.cpp:503-510):
 * three whitespace-separated parts (msg_firstline_d), a method of sofia's table (sip_method_d: exact case),
 * a URL url_d decodes of a type other than invalid/unknown, and a version (sip_version_d).
 */
export function requestLineOk(startLine: string): boolean {
  const s1 = span(startLine, 0, (c) => !isWs(c) && c !== '\r' && c !== '\n');
  if (s1 >= startLine.length) return false; // no whitespace in the first line
  const method = startLine.slice(0, s1);
  let i = s1 + 1;
  while (isWs(startLine[i])) i++;
  const n = span(startLine, i, (c) => !isWs(c) && c !== '\r' && c !== '\n');
  const uri = startLine.slice(i, i + n);
  let j = i + n;
  if (j < startLine.length) {
    j++;
    while (isWs(startLine[j])) j++;
  }
  const version = startLine.slice(j);
  if (!SIP_METHODS.includes(method)) return false;
  const url = urlD(uri);
  if (!url || url.type === 'invalid' || url.type === 'unknown') return false;
  return versionOk(version);
}

/** drachtio.cpp parseStartLine: the second of the space-separated tokens (boost char_separator(" ")) */
export function requestUriToken(startLine: string): string {
  return startLine.split(' ').filter((t) => t !== '')[1] ?? '';
}

// ------------------------------------------------------------------ name-addr

export interface NameAddrD {
  /** as written, with its quotes; undefined when none, '' for `<...>` without one */
  display?: string;
  url: SofiaUrl;
  /** header parameters after the URL, as written, without their `;` */
  params: string[];
  /** what sip_name_addr_d left unparsed */
  rest: string;
}

/** msg_parser_util.c msg_avlist_d after a ';': `token [= (token-or-param-chars | quoted)]` separated by ';' */
function paramsD(s: string, i: number): { params: string[]; next: number } | undefined {
  const params: string[] = [];
  for (;;) {
    i = skipLws(s, i);
    const p = i;
    i += span(s, i, isToken);
    if (i === p) return undefined;
    let param = s.slice(p, i);
    i = skipLws(s, i);
    if (s[i] === '=') {
      i = skipLws(s, i + 1);
      let vlen: number;
      if (s[i] === '"') {
        vlen = spanQuoted(s, i);
        if (!vlen) return undefined;
      } else {
        vlen = span(s, i, isParam);
        if (!vlen) return undefined;
      }
      param += `=${s.slice(i, i + vlen)}`;
      i += vlen;
    }
    i = skipLws(s, i);
    params.push(param);
    if (s[i] !== ';') break;
    i++;
  }
  return { params, next: i };
}

/** sip_basic.c sip_name_addr_d (with display, params and comment wanted, as for To/From and normalizeSipUri) */
export function nameAddrD(input: string): NameAddrD | undefined {
  const s = input;
  if (s === '') return undefined;
  let display: string | undefined;
  let addrSpec: string;
  let i: number;
  if (s[0] === '"') {
    const q = spanQuoted(s, 0);
    if (!q) return undefined;
    display = s.slice(0, q);
    i = skipLws(s, q);
    if (s[i] !== '<') return undefined;
    const gt = s.indexOf('>', i + 1);
    if (gt === -1) return undefined;
    addrSpec = s.slice(i + 1, gt);
    i = gt + 1;
  } else {
    const n = span(s, 0, (c) => isToken(c) || isLws(c));
    if (s[n] === '<') {
      let d = n;
      while (d > 0 && isLws(s[d - 1])) d--;
      display = s.slice(0, d);
      const gt = s.indexOf('>', n + 1);
      if (gt === -1) return undefined;
      addrSpec = s.slice(n + 1, gt);
      i = gt + 1;
    } else {
      // addr-spec only: DO NOT accept ,;? in URL
      const m = cspan(s, 0, ' \t,;?');
      addrSpec = s.slice(0, m);
      i = m;
    }
  }
  i = skipLws(s, i);
  if (addrSpec === '') return undefined;
  const url = urlD(addrSpec);
  if (!url) return undefined;
  let params: string[] = [];
  if (s[i] === ';') {
    const p = paramsD(s, i + 1);
    if (!p) return undefined;
    params = p.params;
    i = p.next;
  }
  if (s[i] === '(') {
    // msg_comment_d: a parenthesised comment (nesting allowed), then LWS
    let depth = 0;
    let j = i;
    for (; j < s.length; j++) {
      if (s[j] === '(') depth++;
      else if (s[j] === ')' && --depth === 0) break;
    }
    if (j >= s.length) return undefined;
    i = skipLws(s, j + 1);
  }
  return { display, url, params, rest: s.slice(i) };
}

/** sip_basic.c sip_name_addr_e: `[display ]<url>;params` (brackets when asked for, or needed) */
export function nameAddrE(display: string | undefined, brackets: boolean, url: SofiaUrl, params: string[]): string {
  const b = brackets || !!display || url.params !== undefined || url.headers !== undefined || (url.password ?? '').includes(',');
  let s = display ? `${display} ` : '';
  s += b ? `<${urlE(url)}>` : urlE(url);
  for (const p of params) if (p) s += `;${p}`;
  return s;
}

/** drachtio.cpp MAX_SIP_URI_LEN */
const MAX_SIP_URI_LEN = 1024;

/**
 * drachtio.cpp normalizeSipUri(uri, 0) (src/drachtio.cpp:369-415): the URI re-encoded by sofia, or
 * undefined where it returns false: sip_name_addr_d fails, or it parsed no user although the URI has
 * an '@' (`sip:+4940123;npdi@host` is read as the URL `sip:+4940123` and header parameters).
 * What follows a `?` or `,` after the URL is dropped, as sip_name_addr_d leaves it unread.
 */
export function normalizeSipUri(uri: string): string | undefined {
  const na = nameAddrD(Buffer.from(uri, 'utf8').subarray(0, MAX_SIP_URI_LEN).toString('utf8'));
  if (!na) return undefined;
  if (na.url.user === undefined && uri.includes('@')) return undefined;
  const url = { ...na.url };
  // "we allow applications to just give us a phone number sometimes"
  if (url.scheme === undefined && url.user === undefined && url.host !== undefined) {
    url.scheme = 'sip';
    url.user = url.host;
    url.host = 'localhost';
  }
  const out = nameAddrE(na.display, false, url, na.params);
  return out.length > 0 && out.length < MAX_SIP_URI_LEN ? out : undefined;
}

/**
 * A To or From value as sofia puts it on the wire: parsed by sip_addr_d (sip_name_addr_d, and nothing
 * may follow) and encoded by sip_addr_e with brackets (`"Bob" <sip:a;b@host>;tag=x`); undefined
 * where sip_addr_d fails (drachtio then answers `Error creating leg`).
 */
export function sipAddrCanonical(value: string): string | undefined {
  const na = nameAddrD(value.trim());
  if (!na || na.rest !== '') return undefined;
  return nameAddrE(na.display, true, na.url, na.params);
}
