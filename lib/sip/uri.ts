/**
 * Request-URI helpers. Pure: strings in, strings out.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A Request-URI split by the grammar of RFC 3261 §25.1 (SIP-URI, SIPS-URI) or RFC 3966 (tel).
 * Parts are kept as written (still %-escaped), except `scheme` and `host`, which are compared
 * case-insensitively and so are lower-cased.
 */
export interface RequestUri {
  scheme: 'sip' | 'sips' | 'tel';
  /**
   * The user part with its parameters, as written: `+4940123;npdi;rn=+4940999`. For tel: the whole
   * telephone-subscriber (RFC 3261 §19.1.6 maps it to the user part of a SIP URI). '' when none.
   */
  user: string;
  /** the user up to its first `;`: `+4940123` */
  userBase: string;
  /** the user's parameters after `userBase`, as written, without their `;`: `['npdi', 'rn=+4940999']` */
  userParams: string[];
  password?: string;
  /** lower-cased, IPv6 without brackets; '' for tel: */
  host: string;
  port?: number;
  /** uri-parameters as written, without their `;`: `['transport=tcp', 'lr']` */
  params: string[];
  /** the `?` headers part as written, '' when none (not allowed in a Request-URI, RFC 3261 §19.1.1) */
  headers: string;
}

// RFC 3261 §25.1 character classes (as regex character-class bodies)
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
const ESCAPED = '%[0-9A-Fa-f]{2}';
const USER_RE = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|${ESCAPED})+$`);
const PASSWORD_RE = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESCAPED})*$`);
const PARAM_RE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/:&+$]|${ESCAPED})+(?:=(?:[${UNRESERVED}\\[\\]/:&+$]|${ESCAPED})+)?$`);
const HEADER_RE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESCAPED})+=(?:[${UNRESERVED}\\[\\]/?:+$]|${ESCAPED})*$`);
// hostname = *( domainlabel "." ) toplabel [ "." ]; a toplabel starts with a letter, which tells it from an IPv4 address
const HOSTNAME_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
// RFC 3966: global-number-digits ("+" and at least one digit) or local-number-digits (at least one hex digit, * or #)
const TEL_GLOBAL_RE = /^\+[0-9\-.()]*[0-9][0-9\-.()]*$/;
const TEL_LOCAL_RE = /^[0-9A-Fa-f*#\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*$/;

function splitUser(user: string): Pick<RequestUri, 'user' | 'userBase' | 'userParams'> {
  const [userBase = '', ...userParams] = user.split(';');
  return { user, userBase, userParams };
}

/** `host [":" port]` → lower-cased host (IPv6 unbracketed) and port; undefined when not by the grammar. */
function parseHostport(hostport: string): { host: string; port?: number } | undefined {
  let host: string;
  let rest: string;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end === -1) return undefined;
    host = hostport.slice(1, end);
    // RFC 5118 §4.3: `[2001:db8::10:5070]` is one address (its last group 5070) and no port
    if (host.includes('%') || !isIPv6(host)) return undefined;
    rest = hostport.slice(end + 1);
  } else {
    const colon = hostport.indexOf(':');
    host = colon === -1 ? hostport : hostport.slice(0, colon);
    rest = colon === -1 ? '' : hostport.slice(colon);
    // RFC 5118 §4.2: an IPv6 address without brackets is not a host
    if (!isIPv4(host) && !HOSTNAME_RE.test(host)) return undefined;
  }
  if (rest === '') return { host: host.toLowerCase() };
  if (!/^:[0-9]+$/.test(rest)) return undefined;
  return { host: host.toLowerCase(), port: Number(rest.slice(1)) };
}

function parseSip(scheme: 'sip' | 'sips', rest: string): RequestUri | undefined {
  // '@' appears unescaped nowhere but after the userinfo, so it splits it off even when the user
  // holds ';' or '?' (user-unreserved) as in `sip:+4940123;npdi;rn=+4940999@ingate.com`; a second
  // '@' is left in the host, parameters or headers, whose grammar refuses it
  const at = rest.indexOf('@');
  let user = '';
  let password: string | undefined;
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    user = colon === -1 ? userinfo : userinfo.slice(0, colon);
    if (colon !== -1) password = userinfo.slice(colon + 1);
    if (!USER_RE.test(user) || (password !== undefined && !PASSWORD_RE.test(password))) return undefined;
    rest = rest.slice(at + 1);
  }
  const q = rest.indexOf('?');
  const headers = q === -1 ? '' : rest.slice(q + 1);
  if (q !== -1 && !headers.split('&').every((h) => HEADER_RE.test(h))) return undefined;
  const [hostport = '', ...params] = (q === -1 ? rest : rest.slice(0, q)).split(';');
  if (!params.every((p) => PARAM_RE.test(p))) return undefined;
  const hp = parseHostport(hostport);
  if (!hp) return undefined;
  const parsed: RequestUri = { scheme, ...splitUser(user), host: hp.host, params, headers };
  if (password !== undefined) parsed.password = password;
  if (hp.port !== undefined) parsed.port = hp.port;
  return parsed;
}

function parseTel(subscriber: string): RequestUri | undefined {
  const parts = splitUser(subscriber);
  const digits = parts.userBase;
  if (!TEL_GLOBAL_RE.test(digits) && !TEL_LOCAL_RE.test(digits)) return undefined;
  if (!parts.userParams.every((p) => PARAM_RE.test(p))) return undefined;
  return { scheme: 'tel', ...parts, host: '', params: [], headers: '' };
}

/**
 * Parses a Request-URI (sip:, sips:, tel:; the scheme in any case) by the grammar; undefined when it
 * is none of these or breaks the grammar. A Request-URI has no angle brackets and no whitespace
 * (RFC 4475 §3.1.2.11 and §3.1.2.10), so `<sip:…>` is refused.
 */
export function parseRequestUri(uri: string): RequestUri | undefined {
  const colon = uri.indexOf(':');
  if (colon === -1) return undefined;
  const scheme = uri.slice(0, colon).toLowerCase();
  const rest = uri.slice(colon + 1);
  if (scheme === 'sip' || scheme === 'sips') return parseSip(scheme, rest);
  if (scheme === 'tel') return parseTel(rest);
  return undefined;
}

/**
 * The host of a Request-URI, lower-cased, IPv6 without brackets, a fully qualified name's trailing
 * dot dropped; '' for tel:, for an unknown scheme and for a URI that breaks the grammar.
 */
export function requestDomain(uri: string): string {
  const host = parseRequestUri(uri)?.host ?? '';
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/** The user part of a Request-URI with its parameters (`+4940123;npdi;rn=+4940999`), as written; '' when none. */
export function requestUser(uri: string): string {
  return parseRequestUri(uri)?.user ?? '';
}

/**
 * What to do with user parameters (`;npdi`, `;rn=`, `;phone-context=`, `;isub=`) in the forwarded Request-URI:
 * `forward` them, `strip` them (forward the user up to its first `;`), or `reject` the call.
 */
export const USER_PARAMETERS_POLICIES = ['forward', 'strip', 'reject'] as const;
export type UserParametersPolicy = (typeof USER_PARAMETERS_POLICIES)[number];

/**
 * The answer to a caller under policy `reject`: 403, because the request is well-formed and
 * understood but refused by configuration, and retrying elsewhere will not help (RFC 3261 §21.4.4).
 * Not 484 (the address is not incomplete: it carries more than the dispatcher forwards; a gateway
 * may answer 484 by collecting more digits), not 416 (the scheme is supported).
 */
export const USER_PARAMETERS_REJECTED = { status: 403, reason: 'User Parameters Not Accepted' } as const;

export type ForwardedUser =
  /** `stripped`: the parameters removed under policy `strip` (empty when nothing was removed) */
  { user: string; stripped: string[] } | { reject: { status: number; reason: string } };

/**
 * The user part to forward to a target under a user-parameters policy, from `requestUser()`.
 * A user without parameters is forwarded as it is under every policy.
 */
export function forwardedUser(user: string, policy: UserParametersPolicy): ForwardedUser {
  const semi = user.indexOf(';');
  if (semi === -1 || policy === 'forward') return { user, stripped: [] };
  if (policy === 'strip') return { user: user.slice(0, semi), stripped: user.slice(semi + 1).split(';') };
  return { reject: { ...USER_PARAMETERS_REJECTED } };
}

export interface UriTarget {
  host: string;
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * The user part as drachtio-server accepts it in a Request-URI. drachtio-server (v0.9.10,
 * src/drachtio.cpp normalizeSipUri) re-parses the Request-URI as a header value without angle
 * brackets, where `;`, `?` and `,` end the URI (sofia-sip sip_basic.c sip_name_addr_d), and refuses it
 * with `invalid request-uri: …`. Escaped, they pass, and sofia's URL canonicalisation (url.c url_d,
 * SIP_USER_UNRESERVED) unescapes them again, so the target receives the user as the caller wrote it.
 */
function drachtioUser(user: string): string {
  return user.replace(/[;?,]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The Request-URI of the INVITE sent to a target, keeping the caller's user part, in the form
 * drachtio-server accepts: `;`, `?` and `,` in the user are %-escaped here and sent unescaped by
 * drachtio-server, e.g. `sip:+4940123%3Bnpdi@10.0.0.1:5060` goes out as `sip:+4940123;npdi@10.0.0.1:5060`.
 */
export function targetUri(target: UriTarget, user: string): string {
  const scheme = target.transport === 'tls' ? 'sips' : 'sip';
  const userPart = user ? `${drachtioUser(user)}@` : '';
  const transport = target.transport === 'udp' ? '' : `;transport=${target.transport === 'tls' ? 'tls' : 'tcp'}`;
  return `${scheme}:${userPart}${formatHost(target.host)}:${target.port}${transport}`;
}

/**
 * The longest Request-URI drachtio-server (v0.9.10) sends in an INVITE: it keeps only the first 512
 * characters of the request line `INVITE <uri> SIP/2.0` an application sends (START_LEN,
 * src/sip-dialog-controller.hpp:45) and refuses a cut one with `invalid request-uri: INVITE …`
 * (src/sip-dialog-controller.cpp:503-510). 512 - 'INVITE '.length - ' SIP/2.0'.length.
 */
export const DRACHTIO_MAX_INVITE_URI_LENGTH = 497;

/** The answer to a caller whose Request-URI, forwarded to a target, would be longer than drachtio-server sends. */
export const REQUEST_URI_TOO_LONG = { status: 414, reason: 'Request-URI Too Long' } as const;

/** Whether drachtio-server would refuse to send an INVITE to `uri` (from targetUri()) for its length. */
export function inviteUriTooLong(uri: string): boolean {
  return uri.length > DRACHTIO_MAX_INVITE_URI_LENGTH;
}

/** Stable id of a target, used in Redis keys and logs: `udp:10.0.0.1:5060`. */
export function targetId(target: UriTarget): string {
  return `${target.transport}:${formatHost(target.host)}:${target.port}`;
}
