/**
 * Minimal SIP message model for the drachtio-server emulator: parse / serialize
 * requests and responses, plus helpers for name-addr, URI and Via values.
 *
 * Header values are kept verbatim (in order) so a message we forward to the app
 * is what we received; only messages we build ourselves are re-serialized.
 */

export interface SipHeader {
  name: string;
  value: string;
}

const COMPACT: Record<string, string> = {
  i: 'call-id',
  f: 'from',
  t: 'to',
  v: 'via',
  m: 'contact',
  l: 'content-length',
  c: 'content-type',
  e: 'content-encoding',
  k: 'supported',
  s: 'subject',
  o: 'event',
  r: 'refer-to',
  b: 'referred-by',
  x: 'session-expires',
  u: 'allow-events',
};

/** Canonical lower-case header name (compact forms expanded). */
export function normalizeHeaderName(name: string): string {
  const n = name.trim().toLowerCase();
  return COMPACT[n] ?? n;
}

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  rseq: 'RSeq',
  rack: 'RAck',
};

/** Display form of a header name, e.g. "content-type" -> "Content-Type" (as sofia prints it). */
export function displayHeaderName(name: string): string {
  const n = normalizeHeaderName(name);
  if (CANONICAL[n]) return CANONICAL[n];
  return n
    .split('-')
    .map((p) => (p.length ? p[0].toUpperCase() + p.slice(1) : p))
    .join('-');
}

/** Split a header value on commas that are not inside quotes or angle brackets. */
export function splitCommaList(value: string): string[] {
  const out: string[] = [];
  let depthAngle = 0;
  let inQuote = false;
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (inQuote) {
      cur += ch;
      if (ch === '\\' && i + 1 < value.length) {
        cur += value[++i];
      } else if (ch === '"') {
        inQuote = false;
      }
      continue;
    }
    if (ch === '"') inQuote = true;
    else if (ch === '<') depthAngle++;
    else if (ch === '>') depthAngle = Math.max(0, depthAngle - 1);
    if (ch === ',' && depthAngle === 0) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export class SipMessage {
  method?: string;
  uri?: string;
  status?: number;
  reason?: string;
  headers: SipHeader[] = [];
  body = '';
  /** a header line that is not `token [LWS] ":"` (sofia-sip msg_parser.c puts it in the error list) */
  malformedHeaderLine = false;

  get isRequest(): boolean {
    return this.method !== undefined;
  }

  static request(method: string, uri: string): SipMessage {
    const m = new SipMessage();
    m.method = method;
    m.uri = uri;
    return m;
  }

  static response(status: number, reason: string): SipMessage {
    const m = new SipMessage();
    m.status = status;
    m.reason = reason;
    return m;
  }

  /** Parse a complete SIP message. Throws on a malformed start line. */
  static parse(raw: string): SipMessage {
    const m = new SipMessage();
    let text = raw;
    // tolerate leading CRLF keep-alives
    while (text.startsWith('\r\n')) text = text.slice(2);
    const sep = text.indexOf('\r\n\r\n');
    const head = sep === -1 ? text : text.slice(0, sep);
    let body = sep === -1 ? '' : text.slice(sep + 4);
    const lines = head.split(/\r\n/);
    const start = lines.shift() ?? '';
    const resp = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/.exec(start);
    if (resp) {
      m.status = parseInt(resp[1], 10);
      m.reason = resp[2];
    } else {
      const req = /^([A-Za-z]+)\s+(\S+)\s+SIP\/2\.0$/.exec(start.trim());
      if (!req) throw new Error(`invalid SIP start line: '${start}'`);
      m.method = req[1].toUpperCase();
      m.uri = req[2];
    }
    for (const line of lines) {
      if (/^[ \t]/.test(line) && m.headers.length) {
        // header folding
        m.headers[m.headers.length - 1].value += ' ' + line.trim();
        continue;
      }
      const idx = line.indexOf(':');
      // sofia-sip reads a header name as a token (span_token) followed by optional LWS and ':'; any
      // other line becomes an error header, and drachtio-server answers the request 400
      if (idx <= 0 || !/^[A-Za-z0-9!%*_+`'~.-]+[ \t]*$/.test(line.slice(0, idx))) {
        if (line !== '') m.malformedHeaderLine = true;
        continue;
      }
      m.headers.push({ name: line.slice(0, idx).trim(), value: line.slice(idx + 1).trim() });
    }
    const cl = m.get('content-length');
    if (cl !== undefined) {
      const n = parseInt(cl, 10);
      if (!Number.isNaN(n)) {
        body = Buffer.from(body, 'utf8').subarray(0, n).toString('utf8');
      }
    }
    m.body = body;
    return m;
  }

  get(name: string): string | undefined {
    const n = normalizeHeaderName(name);
    const h = this.headers.find((x) => normalizeHeaderName(x.name) === n);
    return h?.value;
  }

  /** All values for a header, with comma-joined lists split (for list-valued headers). */
  getAll(name: string, splitList = false): string[] {
    const n = normalizeHeaderName(name);
    const vals = this.headers.filter((x) => normalizeHeaderName(x.name) === n).map((x) => x.value);
    return splitList ? vals.flatMap((v) => splitCommaList(v)) : vals;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  remove(name: string): this {
    const n = normalizeHeaderName(name);
    this.headers = this.headers.filter((x) => normalizeHeaderName(x.name) !== n);
    return this;
  }

  /** Replace (or add) a single-valued header, keeping its position if present. */
  set(name: string, value: string): this {
    const n = normalizeHeaderName(name);
    const idx = this.headers.findIndex((x) => normalizeHeaderName(x.name) === n);
    if (idx === -1) {
      this.headers.push({ name: displayHeaderName(name), value });
    } else {
      this.headers[idx] = { name: this.headers[idx].name, value };
      this.headers = this.headers.filter((x, i) => i === idx || normalizeHeaderName(x.name) !== n);
    }
    return this;
  }

  append(name: string, value: string): this {
    this.headers.push({ name: displayHeaderName(name), value });
    return this;
  }

  get callId(): string {
    return this.get('call-id') ?? '';
  }

  get cseq(): { seq: number; method: string } {
    const v = this.get('cseq') ?? '';
    const m = /^(\d+)\s+(\S+)/.exec(v.trim());
    return m ? { seq: parseInt(m[1], 10), method: m[2].toUpperCase() } : { seq: 0, method: '' };
  }

  get fromTag(): string | undefined {
    const f = this.get('from');
    return f ? getTag(f) : undefined;
  }

  get toTag(): string | undefined {
    const t = this.get('to');
    return t ? getTag(t) : undefined;
  }

  /** Top-most Via value. */
  get topVia(): string | undefined {
    return this.getAll('via', true)[0];
  }

  get branch(): string | undefined {
    const v = this.topVia;
    return v ? parseVia(v).params.get('branch') : undefined;
  }

  startLine(): string {
    return this.isRequest ? `${this.method} ${this.uri} SIP/2.0` : `SIP/2.0 ${this.status} ${this.reason ?? ''}`;
  }

  /** Serialize; Content-Length is (re)computed as the byte length of the body. */
  toString(): string {
    const lines = [this.startLine()];
    for (const h of this.headers) {
      if (normalizeHeaderName(h.name) === 'content-length') continue;
      lines.push(`${h.name}: ${h.value}`);
    }
    lines.push(`Content-Length: ${Buffer.byteLength(this.body, 'utf8')}`);
    return lines.join('\r\n') + '\r\n\r\n' + this.body;
  }

  clone(): SipMessage {
    const m = new SipMessage();
    m.method = this.method;
    m.uri = this.uri;
    m.status = this.status;
    m.reason = this.reason;
    m.headers = this.headers.map((h) => ({ ...h }));
    m.body = this.body;
    return m;
  }
}

/** Extract the `tag` parameter of a From/To value (header params only, not URI params). */
export function getTag(value: string): string | undefined {
  return parseNameAddr(value).params.get('tag');
}

export interface NameAddr {
  display: string;
  uri: string;
  /** header parameters (after the URI / closing '>'), lower-cased names */
  params: Map<string, string>;
  /** true when the URI was enclosed in <> */
  bracketed: boolean;
}

function parseParamString(s: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of s.split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq === -1) params.set(p.toLowerCase(), '');
    else params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  return params;
}

export function parseNameAddr(value: string): NameAddr {
  const v = value.trim();
  const lt = v.indexOf('<');
  if (lt !== -1) {
    const gt = v.indexOf('>', lt);
    const display = v.slice(0, lt).trim();
    const uri = v.slice(lt + 1, gt === -1 ? undefined : gt).trim();
    const rest = gt === -1 ? '' : v.slice(gt + 1);
    return { display, uri, params: parseParamString(rest), bracketed: true };
  }
  // addr-spec without brackets: everything after the first ';' is header params
  const semi = v.indexOf(';');
  const uri = semi === -1 ? v : v.slice(0, semi);
  const rest = semi === -1 ? '' : v.slice(semi + 1);
  return { display: '', uri: uri.trim(), params: parseParamString(rest), bracketed: false };
}

export function stringifyNameAddr(na: NameAddr): string {
  let s = na.display ? `${na.display} <${na.uri}>` : `<${na.uri}>`;
  for (const [k, val] of na.params) s += val === '' ? `;${k}` : `;${k}=${val}`;
  return s;
}

/** Add (or keep) a tag on a From/To value. */
export function withTag(value: string, tag: string): string {
  const na = parseNameAddr(value);
  if (na.params.has('tag')) return value;
  return `${value};tag=${tag}`;
}

export interface SipUri {
  scheme: string;
  user?: string;
  host: string;
  port?: number;
  params: Map<string, string>;
}

export function parseUri(uri: string): SipUri | undefined {
  const m = /^(sips?):(?:([^@]*)@)?(\[[^\]]+\]|[^:;?>]+)(?::(\d+))?((?:;[^?]*)?)(?:\?.*)?$/i.exec(uri.trim());
  if (!m) return undefined;
  return {
    scheme: m[1].toLowerCase(),
    user: m[2],
    host: m[3],
    port: m[4] ? parseInt(m[4], 10) : undefined,
    params: parseParamString(m[5] ?? ''),
  };
}

/** Replace host:port of the URI inside a name-addr / addr-spec, returning a bracketed name-addr. */
export function replaceHostInNameAddr(value: string, host: string, port: number): string | undefined {
  const na = parseNameAddr(value);
  const m = /^(sips?:)(?:([^@]*)@)?(\[[^\]]+\]|[^:;?>]+)(?::\d+)?(.*)$/i.exec(na.uri);
  if (!m) return undefined;
  na.uri = `${m[1]}${m[2] !== undefined ? m[2] + '@' : ''}${host}:${port}${m[4]}`;
  return stringifyNameAddr(na);
}

export interface Via {
  transport: string;
  host: string;
  port?: number;
  params: Map<string, string>;
}

export function parseVia(value: string): Via {
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*(\S+)\s+([^;:\s]+|\[[^\]]+\])(?::(\d+))?\s*(.*)$/i.exec(value.trim());
  if (!m) return { transport: 'UDP', host: '', params: new Map() };
  return {
    transport: m[1].toUpperCase(),
    host: m[2],
    port: m[3] ? parseInt(m[3], 10) : undefined,
    params: parseParamString(m[4] ?? ''),
  };
}

export function stringifyVia(v: Via): string {
  let s = `SIP/2.0/${v.transport} ${v.host}${v.port ? ':' + v.port : ''}`;
  for (const [k, val] of v.params) s += val === '' ? `;${k}` : `;${k}=${val}`;
  return s;
}

/**
 * Headers sofia-sip parses as single-instance (`msg_kind_single` in libsofia-sip-ua/sip/sip_basic.c,
 * sip_extra.c and friends): a second one goes to the message's error list, like a value it cannot
 * parse. (Extension headers such as X-* may repeat.)
 */
const SINGLE_INSTANCE = new Set([
  'from',
  'to',
  'call-id',
  'cseq',
  'max-forwards',
  'content-length',
  'content-type',
  'content-disposition',
  'mime-version',
  'expires',
  'min-expires',
  'date',
  'timestamp',
  'retry-after',
  'subject',
  'priority',
  'organization',
  'server',
  'user-agent',
  'event',
  'subscription-state',
  'refer-to',
  'referred-by',
  'replaces',
  'session-expires',
  'min-se',
  'rseq',
  'rack',
]);

/**
 * Headers nta itself rejects (they are in its default bad-request mask, nta.c `sa_bad_req_mask`), with
 * the phrase `Bad <name> Header`; the others in the error list reach drachtio-server, which answers
 * a plain `400 Bad Request`. Checked against drachtio-server v0.9.10.
 */
const NTA_CHECKED = new Set(['from', 'to', 'call-id', 'cseq', 'content-type', 'content-length', 'expires']);

/**
 * The reason phrase of the 400 drachtio-server gives a request whose headers sofia-sip put in its
 * error list (sip->sip_error): a second single-instance header, or a Max-Forwards, CSeq or
 * Content-Length it cannot parse; undefined when there is none. nta.c agent_recv_request answers
 * `Bad <name> Header` for headers in its bad-request mask, controller.cpp processMessageStatelessly
 * (`if (sip->sip_error)`) `Bad Request` for the rest.
 */
export function headerErrorPhrase(msg: SipMessage): string | undefined {
  const phrase = (n: string): string => (NTA_CHECKED.has(n) ? `Bad ${displayHeaderName(n)} Header` : 'Bad Request');
  if (msg.malformedHeaderLine) return 'Bad Request';
  const seen = new Set<string>();
  for (const h of msg.headers) {
    const n = normalizeHeaderName(h.name);
    if (SINGLE_INSTANCE.has(n) && seen.has(n)) return phrase(n);
    seen.add(n);
  }
  const invalid: Array<[string, RegExp]> = [
    ['max-forwards', /^\d+$/],
    ['content-length', /^\d+$/],
    ['cseq', /^\d+\s+[A-Za-z!%*_+`'~.-]+$/],
  ];
  for (const [n, ok] of invalid) {
    const v = msg.get(n);
    if (v !== undefined && !ok.test(v.trim())) return phrase(n);
  }
  return undefined;
}

/** Standard reason phrases (subset used by the emulator). */
export const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  408: 'Request Timeout',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  487: 'Request Terminated',
  491: 'Request Pending',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
