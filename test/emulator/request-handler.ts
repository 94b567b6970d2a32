/**
 * drachtio-server's "outbound connection" routing: HTTP request handlers consulted for new
 * incoming requests. Follows drachtio-server src/request-router.cpp (RequestRouter),
 * src/pending-request-controller.cpp (processNewRequest: query string), src/request-handler.cpp
 * (RequestHandler::startRequest / createEasyHandle: curl options) and src/controller.cpp
 * (httpCallRoutingComplete: JSON instructions). See EMULATOR.md.
 */
import http from 'node:http';
import https from 'node:https';
import { parseNameAddr, parseUri, type SipMessage } from './sip-message';

export interface RequestHandlerConfig {
  /** SIP method this handler is for, or `*` (drachtio-config.cpp: attribute sip-method, default `*`) */
  sipMethod: string;
  /** GET (default) or POST (attribute http-method) */
  httpMethod: 'GET' | 'POST';
  /** http(s) URL, or tcp://host:port to connect to an app without a query */
  url: string;
}

/** RequestRouter: sip method (upper case) -> route; exact match first, then `*`; first one added wins. */
export class RequestRouter {
  private readonly routes = new Map<string, RequestHandlerConfig>();

  constructor(handlers: RequestHandlerConfig[] = []) {
    for (const h of handlers) this.add(h);
  }

  add(h: RequestHandlerConfig): void {
    const m = h.sipMethod.toUpperCase();
    // boost::unordered_map::insert does not replace an existing key
    if (!this.routes.has(m)) this.routes.set(m, { ...h, sipMethod: m });
  }

  get(method: string): RequestHandlerConfig | undefined {
    return this.routes.get(method) ?? this.routes.get('*');
  }

  all(): RequestHandlerConfig[] {
    return [...this.routes.values()];
  }
}

/** drachtio.cpp urlencode(): keeps [0-9A-Za-z-_.~], everything else as %xx (lower-case hex, per byte) */
export function drachtioUrlencode(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[0-9A-Za-z\-_.~]/.test(c)) out += c;
    else out += '%' + b.toString(16).padStart(2, '0');
  }
  return out;
}

function userOf(nameAddrOrUri: string): string {
  return parseUri(parseNameAddr(nameAddrOrUri).uri)?.user ?? '';
}

/**
 * PendingRequestController::processNewRequest: `<url>/?method=..&domain=..&protocol=..&source_address=..
 * &fromUser=..&toUser=..&uriUser=..&contentType=..&uri=..[&<each request-uri param>=<value>]`
 */
export function buildRoutingUrl(url: string, req: SipMessage, protocol: string, sourceAddress: string): string {
  const ruri = req.uri ?? '';
  const parsed = parseUri(ruri);
  const ct = (req.get('content-type') ?? '').split(';')[0].trim();
  const v: Array<[string, string]> = [
    ['method', req.method ?? ''],
    ['domain', parsed?.host ?? ''],
    ['protocol', protocol],
    ['source_address', sourceAddress],
    ['fromUser', userOf(req.get('from') ?? '')],
    ['toUser', userOf(req.get('to') ?? '')],
    ['uriUser', parsed?.user ?? ''],
    ['contentType', ct],
    ['uri', ruri],
  ];
  // url_params: the raw `a=b;c` part of the request-uri, split on ';' then '='
  const pm = /^[^;?]*;([^?]*)/.exec(ruri);
  if (pm && pm[1]) {
    for (const p of pm[1].split(';')) {
      const kv = p.split('=');
      v.push([kv[0], kv.length === 2 ? kv[1] : '']);
    }
  }
  return `${url}/?` + v.map(([k, val]) => `${k}=${drachtioUrlencode(val)}`).join('&');
}

export interface HttpResult {
  status: number;
  body: string;
}

/**
 * RequestHandler::startRequest with createEasyHandle's options: `Accept: application/json`,
 * `User-Agent: Drachtio/<version>`, POST carries the SIP message as `text/plain; charset=UTF-8`;
 * 2 s connect / 3 s total timeout. A failed transfer completes with status 0 and what was read.
 */
export function httpQuery(
  method: 'GET' | 'POST',
  url: string,
  sipBody: string,
  version: string,
  track: (req: http.ClientRequest) => () => void,
): Promise<HttpResult> {
  return new Promise((resolve) => {
    let body = '';
    let done = false;
    let untrack = () => undefined as void;
    const finish = (status: number) => {
      if (done) return;
      done = true;
      clearTimeout(total);
      untrack();
      resolve({ status, body });
    };
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': `Drachtio/${version}` };
    if (method === 'POST') {
      headers['Content-Type'] = 'text/plain; charset=UTF-8';
      headers['Content-Length'] = String(Buffer.byteLength(sipBody));
    }
    let req: http.ClientRequest;
    try {
      req = (url.startsWith('https:') ? https : http).request(url, { method, headers, rejectUnauthorized: false });
    } catch {
      resolve({ status: 0, body: '' });
      return;
    }
    untrack = track(req);
    const total = setTimeout(() => {
      req.destroy(new Error('timeout'));
      finish(0);
    }, 3000);
    const connectTimer = setTimeout(() => {
      if (!req.socket || req.socket.connecting) {
        req.destroy(new Error('connect timeout'));
        finish(0);
      }
    }, 2000);
    req.on('socket', (s) => s.once('connect', () => clearTimeout(connectTimer)));
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => finish(res.statusCode ?? 0));
      res.on('error', () => finish(0));
    });
    req.on('error', () => {
      clearTimeout(connectTimer);
      finish(0);
    });
    req.on('close', () => clearTimeout(connectTimer));
    if (method === 'POST') req.end(sipBody);
    else req.end();
  });
}

/** One instruction from httpCallRoutingComplete (anything invalid becomes `error` => 500). */
export type RoutingInstruction =
  | { action: 'reject'; status: number; reason?: string }
  | { action: 'redirect'; contacts: string[] }
  | { action: 'proxy'; destinations: string[] }
  | { action: 'route'; uri: string }
  | { action: 'route'; tag: string }
  | { action: 'error'; message: string };

/** DrachtioController::httpCallRoutingComplete: the HTTP status is not looked at, only the body. */
export function parseRoutingInstruction(body: string): RoutingInstruction {
  let root: unknown;
  try {
    root = JSON.parse(body);
  } catch (err) {
    return { action: 'error', message: `error parsing body as JSON: ${(err as Error).message}` };
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) return { action: 'error', message: 'expected JSON object but got something else' };
  const o = root as Record<string, unknown>;
  const action = o.action;
  const data = o.data;
  if (typeof action !== 'string') return { action: 'error', message: "missing or invalid 'action' attribute" };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { action: 'error', message: "missing 'data' object" };
  const d = data as Record<string, unknown>;
  const strings = (v: unknown): string[] | undefined =>
    typeof v === 'string' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  switch (action) {
    case 'reject': {
      if (typeof d.status !== 'number') return { action: 'error', message: "'status' is missing or is not a number" };
      // json_integer_value() is 0 for a real number
      return { action: 'reject', status: Number.isInteger(d.status) ? d.status : 0, reason: typeof d.reason === 'string' ? d.reason : undefined };
    }
    case 'redirect': {
      const contacts = strings(d.contact);
      if (!contacts) return { action: 'error', message: "invalid 'contact' attribute in redirect action: must be string or array" };
      return { action: 'redirect', contacts };
    }
    case 'proxy': {
      const dest = d.destination;
      if (Array.isArray(dest) && !dest.every((x) => typeof x === 'string'))
        return { action: 'error', message: "invalid 'contact' array: must contain strings" };
      return { action: 'proxy', destinations: strings(dest) ?? [] };
    }
    case 'route':
      if (typeof d.uri === 'string') return { action: 'route', uri: d.uri };
      if (typeof d.tag === 'string') return { action: 'route', tag: d.tag };
      return { action: 'error', message: "'uri' is missing or is not a string" };
    default:
      return { action: 'error', message: `invalid 'action' attribute value '${action}': valid values are 'reject', 'proxy', 'redirect', and 'route'` };
  }
}

/**
 * DrachtioController::makeOutboundConnection: `^(.*):(\d+)(;transport=(tcp|tls))?` (regex_search);
 * no match => undefined (the server logs "invalid uri" and sends nothing).
 */
export function parseRouteUri(uri: string): { host: string; port: number; transport: 'tcp' | 'tls' } | undefined {
  const m = /^(.*):(\d+)(;transport=(tcp|tls))?/.exec(uri);
  if (!m) return undefined;
  return { host: m[1], port: parseInt(m[2], 10), transport: m[4] === 'tls' ? 'tls' : 'tcp' };
}

/** DrachtioController responseReasons (src/controller.cpp), used when a `reject` gives no reason */
export const RESPONSE_REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call is Being Forwarded',
  182: 'Queued',
  183: 'Session in Progress',
  199: 'Early Dialog Terminated',
  200: 'OK',
  202: 'Accepted',
  204: 'No Notification',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Conditional Request Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  417: 'Unknown Resource-Priority',
  420: 'Bad Extension',
  421: 'Extension Required',
  422: 'Session Interval Too Small',
  423: 'Interval Too Brief',
  424: 'Bad Location Information',
  428: 'Use Identity Header',
  429: 'Provide Referrer Identity',
  430: 'Flow Failed',
  433: 'Anonymity Disallowed',
  436: 'Bad Identity-Info',
  437: 'Unsupported Certificate',
  438: 'Invalid Identity Header',
  439: 'First Hop Lacks Outbound Support',
  470: 'Consent Needed',
  480: 'Temporarily Unavailable',
  481: 'Call Leg/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  493: 'Undecipherable',
  494: 'Security Agreement Required',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Timeout',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  580: 'Precondition Failure',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};
