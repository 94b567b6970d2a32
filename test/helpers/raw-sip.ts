/**
 * A bare UDP SIP caller for inputs sipp cannot make: compact and odd-case headers, INVITEs without
 * SDP, odd Request-URIs, garbage. Parses just enough of the responses to assert on them.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

export interface SipResponse {
  status: number;
  reason: string;
  headers: Record<string, string[]>;
  body: string;
  raw: string;
}

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type' };

export function parseResponse(raw: string): SipResponse | null {
  const m = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)\r\n/.exec(raw);
  if (!m) return null;
  const [head, body = ''] = raw.split('\r\n\r\n', 2);
  const headers: Record<string, string[]> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i < 1) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const key = COMPACT[name] ?? name;
    (headers[key] ??= []).push(line.slice(i + 1).trim());
  }
  return { status: Number(m[1]), reason: m[2], headers, body, raw };
}

export const SDP = ['v=0', 'o=raw 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join(
  '\r\n',
);

export class RawSipClient {
  private readonly sock = dgram.createSocket('udp4');
  private readonly received: string[] = [];
  private readonly sentText: string[] = [];
  private waiters: Array<() => void> = [];
  port = 0;

  constructor(
    private readonly target: { host: string; port: number },
    /** the loopback address to send from (any of 127.0.0.0/8 on Linux), e.g. to be another source */
    private readonly address = '127.0.0.1',
  ) {
    this.sock.on('message', (msg) => {
      this.received.push(msg.toString('utf8'));
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  async open(): Promise<this> {
    await new Promise<void>((resolve) => this.sock.bind(0, this.address, resolve));
    this.port = this.sock.address().port;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }

  /** Everything this client sent, in order (e.g. to retransmit a request). */
  sent(): string[] {
    return this.sentText;
  }

  send(text: string): void {
    this.sentText.push(text);
    this.sock.send(Buffer.from(text, 'utf8'), this.target.port, this.target.host);
  }

  /** Waits for a response matching pred among all received so far (consumes nothing). */
  async waitFor(pred: (r: SipResponse) => boolean, timeoutMs = 8000): Promise<SipResponse> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      for (const raw of this.received) {
        const r = parseResponse(raw);
        if (r && pred(r)) return r;
      }
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no matching SIP response in ${timeoutMs} ms; got:\n${this.received.map((r) => r.split('\r\n')[0]).join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Requests received (e.g. a BYE from the dispatcher), as raw text, in arrival order. */
  requests(): string[] {
    return this.received.filter((raw) => !raw.startsWith('SIP/2.0 '));
  }

  /** This client's address as `127.0.0.1:<port>`, for Via and Contact. */
  local(): string {
    return `${this.address}:${this.port}`;
  }

  /** Sends an INVITE (with the usual headers, plus `extra`) and resolves with its final response. */
  async invite(ids: Ids, ruri: string, opts: { body?: string; extra?: string[] } = {}): Promise<SipResponse> {
    const body = opts.body ?? '';
    const headers = [
      `Via: SIP/2.0/UDP ${this.local()};branch=${ids.branch}`,
      `From: ${fromOf(this, ids)}`,
      `To: <${ruri}>`,
      `Call-ID: ${ids.callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:caller@${this.local()}>`,
      // a test's own Max-Forwards in `extra` replaces this one (two would be a 400)
      ...(opts.extra?.some((h) => /^max-forwards\s*:/i.test(h)) ? [] : ['Max-Forwards: 70']),
      ...(body ? ['Content-Type: application/sdp'] : []),
      ...(opts.extra ?? []),
    ];
    this.send(request(`INVITE ${ruri} SIP/2.0`, headers, body));
    return this.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && r.status >= 200 && /INVITE/.test(r.headers.cseq?.[0] ?? ''));
  }

  /** ACKs a non-2xx final response to invite(): same branch, the response's To (with its tag). */
  ackFailure(ids: Ids, ruri: string, res: SipResponse): void {
    this.send(
      request(`ACK ${ruri} SIP/2.0`, [
        `Via: SIP/2.0/UDP ${this.local()};branch=${ids.branch}`,
        `From: ${fromOf(this, ids)}`,
        `To: ${res.headers.to[0]}`,
        `Call-ID: ${ids.callId}`,
        'CSeq: 1 ACK',
        'Max-Forwards: 70',
      ]),
    );
  }

  responses(): SipResponse[] {
    return this.received.map(parseResponse).filter((r): r is SipResponse => r !== null);
  }
}

export interface Ids {
  callId: string;
  tag: string;
  branch: string;
}

/** The From header of invite() for these ids. */
export function fromOf(client: RawSipClient, ids: Ids): string {
  return `<sip:caller@${client.local()}>;tag=${ids.tag}`;
}

export function newIds(): Ids {
  const r = () => randomBytes(6).toString('hex');
  return { callId: `${r()}@raw.test`, tag: r(), branch: `z9hG4bK${r()}` };
}

/** Builds a request; `headers` lines are used as given, so a test controls case and compact forms. */
export function request(startLine: string, headers: string[], body = ''): string {
  return `${startLine}\r\n${headers.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
