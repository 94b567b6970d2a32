/** Helpers for the emulator's own tests: a raw UDP SIP peer, a raw admin-protocol client, sipp runner. */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { FrameDecoder, encodeFrame } from './framing';
import { SipMessage } from './sip-message';

const HOST = '127.0.0.1';

interface Waiter<T> {
  pred: (m: T) => boolean;
  resolve: (m: T) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Queue of received items with "wait for the next one matching" semantics. */
class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  readonly all: T[] = [];

  push(m: T): void {
    this.all.push(m);
    const i = this.waiters.findIndex((w) => w.pred(m));
    if (i !== -1) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w.timer);
      w.resolve(m);
      return;
    }
    this.items.push(m);
  }

  next(pred: (m: T) => boolean = () => true, timeoutMs = 5000, what = 'message'): Promise<T> {
    const i = this.items.findIndex(pred);
    if (i !== -1) return Promise.resolve(this.items.splice(i, 1)[0]);
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T> = {
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error(`timeout waiting for ${what}`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** drop everything received so far */
  drain(): void {
    this.items.length = 0;
  }

  /** items received but not consumed */
  pending(): T[] {
    return [...this.items];
  }

  close(): void {
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.length = 0;
  }
}

export interface Received {
  msg: SipMessage;
  raw: string;
  from: { address: string; port: number };
}

/** A bare UDP SIP endpoint driven by the test. */
export class UdpPeer {
  private readonly sock = dgram.createSocket('udp4');
  readonly inbox = new Inbox<Received>();
  port = 0;

  async start(): Promise<this> {
    this.sock.on('message', (b, r) => {
      const raw = b.toString('utf8');
      this.inbox.push({ msg: SipMessage.parse(raw), raw, from: { address: r.address, port: r.port } });
    });
    await new Promise<void>((resolve) => this.sock.bind(0, HOST, () => resolve()));
    this.port = this.sock.address().port;
    return this;
  }

  send(raw: string, port: number, host = HOST): void {
    this.sock.send(Buffer.from(raw, 'utf8'), port, host);
  }

  next(pred: (r: Received) => boolean = () => true, timeoutMs = 5000, what = 'SIP message'): Promise<Received> {
    return this.inbox.next(pred, timeoutMs, what);
  }

  nextResponse(status: number, timeoutMs = 5000, method?: string): Promise<Received> {
    return this.next((r) => r.msg.status === status && (!method || r.msg.cseq.method === method), timeoutMs, `${status} response`);
  }

  drain(): void {
    this.inbox.drain();
  }

  nextRequest(method: string, timeoutMs = 5000): Promise<Received> {
    return this.next((r) => r.msg.method === method, timeoutMs, `${method} request`);
  }

  async close(): Promise<void> {
    this.inbox.close();
    await new Promise<void>((resolve) => this.sock.close(() => resolve()));
  }
}

export function rnd(): string {
  return randomBytes(6).toString('hex');
}

/** Build a request as a UAC peer at 127.0.0.1:<port> would send it. */
export function makeRequest(
  method: string,
  opts: {
    port: number;
    target: number;
    callId?: string;
    fromTag?: string;
    toTag?: string;
    cseq?: number;
    branch?: string;
    body?: string;
    extra?: string[];
    ruri?: string;
  },
): { raw: string; callId: string; fromTag: string; branch: string } {
  const callId = opts.callId ?? `${rnd()}@${HOST}`;
  const fromTag = opts.fromTag ?? rnd();
  const branch = opts.branch ?? `z9hG4bK${rnd()}`;
  const body = opts.body ?? '';
  const lines = [
    `${method} ${opts.ruri ?? `sip:service@${HOST}:${opts.target}`} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${opts.port};branch=${branch}`,
    'Max-Forwards: 70',
    `From: <sip:tester@${HOST}:${opts.port}>;tag=${fromTag}`,
    `To: <sip:service@${HOST}:${opts.target}>${opts.toTag ? ';tag=' + opts.toTag : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    `Contact: <sip:tester@${HOST}:${opts.port}>`,
    ...(opts.extra ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return { raw: lines.join('\r\n') + '\r\n\r\n' + body, callId, fromTag, branch };
}

/** Build a response to a received request (as a UAS peer). */
export function makeResponse(req: SipMessage, status: number, reason: string, opts: { toTag?: string; contactPort?: number; body?: string } = {}): string {
  const to = req.get('to') ?? '';
  const body = opts.body ?? '';
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...req.getAll('via').map((v) => `Via: ${v}`),
    `From: ${req.get('from')}`,
    `To: ${opts.toTag && !/;tag=/.test(to) ? `${to};tag=${opts.toTag}` : to}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.get('cseq')}`,
    ...(opts.contactPort ? [`Contact: <sip:peer@${HOST}:${opts.contactPort}>`] : []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

export const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\n';

/** A raw admin-protocol client (what drachtio-srf does, by hand). */
export class RawApp {
  private readonly sock: net.Socket;
  private readonly decoder = new FrameDecoder();
  readonly inbox = new Inbox<string>();
  closed = false;

  /** connects to the admin port, or wraps a connection the server opened to us (outbound mode) */
  constructor(portOrSocket: number | net.Socket) {
    this.sock = typeof portOrSocket === 'number' ? net.connect({ host: HOST, port: portOrSocket }) : portOrSocket;
    this.sock.on('data', (b) => {
      for (const m of this.decoder.push(b)) this.inbox.push(m);
    });
    this.sock.on('close', () => {
      this.closed = true;
    });
    this.sock.on('error', () => undefined);
  }

  ready(): Promise<void> {
    if (!this.sock.connecting && !this.sock.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.sock.once('connect', () => resolve()));
  }

  /** write raw bytes (to exercise framing) */
  write(b: Buffer | string): void {
    this.sock.write(b);
  }

  /** send `<msgId>|<payload>` framed, returns msgId */
  send(payload: string, msgId = rnd()): string {
    this.sock.write(encodeFrame(`${msgId}|${payload}`));
    return msgId;
  }

  /** wait for `<uuid>|response|<msgId>|...` and return the tokens after the msgId (plus raw) */
  async response(msgId: string, timeoutMs = 5000): Promise<{ tokens: string[]; raw: string; sip: string }> {
    const raw = await this.inbox.next((m) => m.split('\r\n')[0].split('|')[2] === msgId && m.split('|')[1] === 'response', timeoutMs, `response to ${msgId}`);
    const pos = raw.indexOf('\r\n');
    const leader = pos === -1 ? raw : raw.slice(0, pos);
    return { tokens: leader.split('|').slice(3), raw, sip: pos === -1 ? '' : raw.slice(pos + 2) };
  }

  /** wait for an incoming `sip` message; returns tokens of the leader and the SIP text */
  async sip(pred: (tokens: string[], sip: SipMessage) => boolean = () => true, timeoutMs = 5000): Promise<{ tokens: string[]; sip: SipMessage; raw: string }> {
    const split = (m: string) => {
      const pos = m.indexOf('\r\n');
      return { tokens: m.slice(0, pos).split('|'), text: m.slice(pos + 2) };
    };
    const raw = await this.inbox.next(
      (m) => {
        const { tokens, text } = split(m);
        return tokens[1] === 'sip' && pred(tokens, SipMessage.parse(text));
      },
      timeoutMs,
      'sip message to app',
    );
    const { tokens, text } = split(raw);
    return { tokens, sip: SipMessage.parse(text), raw };
  }

  /** whether a message satisfying pred was received at any time (no waiting) */
  hasReceived(pred: (m: string) => boolean): boolean {
    return this.inbox.all.some(pred);
  }

  close(): void {
    this.inbox.close();
    this.sock.destroy();
  }
}

export async function authenticate(app: RawApp, secret: string): Promise<string[]> {
  await app.ready();
  const id = app.send(`authenticate|${secret}|`);
  return (await app.response(id)).tokens;
}

export interface SippResult {
  code: number | null;
  stderr: string;
  stdout: string;
}

const sippChildren = new Set<ChildProcess>();
export function killAllSipp(): void {
  for (const c of sippChildren) c.kill('SIGKILL');
  sippChildren.clear();
}

/** Run sipp in the foreground (as a child process) and resolve with its exit code. */
export function runSipp(args: string[], timeoutMs = 30_000): Promise<SippResult> {
  return new Promise((resolve) => {
    const child = spawn('sipp', [...args, '-nostdin', '-m', '1', '-timeout', `${Math.ceil(timeoutMs / 1000)}s`, '-timeout_error'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    sippChildren.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      sippChildren.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface SippScreenRow {
  label: string;
  direction: 'send' | 'recv';
  messages: number;
  retrans: number;
}

/** Parse the message rows of sipp's scenario screen (-trace_screen -screen_file FILE). */
export function parseSippScreen(text: string): SippScreenRow[] {
  const start = text.indexOf('Scenario Screen');
  const end = text.indexOf('Statistics Screen', start);
  const section = text.slice(start, end === -1 ? undefined : end);
  const rows: SippScreenRow[] = [];
  for (const line of section.split('\n')) {
    // client scenarios print "LABEL <----- n n", server scenarios print "-----> LABEL n n" (arrow = towards sipp on the right)
    const c = /^\s*(\S+)\s+(<-+|-+>)\s+(\d+)\s+(\d+)/.exec(line);
    if (c) rows.push({ label: c[1], direction: c[2].startsWith('<') ? 'recv' : 'send', messages: Number(c[3]), retrans: Number(c[4]) });
    const s = /^\s*(<-+|-+>)\s+(\S+)\s+(\d+)\s+(\d+)/.exec(line);
    if (s) rows.push({ label: s[2], direction: s[1].endsWith('>') ? 'recv' : 'send', messages: Number(s[3]), retrans: Number(s[4]) });
  }
  return rows;
}
