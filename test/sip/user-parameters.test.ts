/**
 * User parameters in the dialled number (`sip:+4940123;npdi;rn=+4940999@forward.test`), end to end:
 * raw caller -> drachtio (emulator, or the real binary with DRACHTIO_BIN) -> dispatcher -> raw UDP
 * targets that record the exact INVITE they receive. One route per policy (`forward` by default,
 * `strip`, `reject`) and one for a Request-URI too long for drachtio-server, each with its own target.
 * See README "User parameters".
 */
import dgram from 'node:dgram';
import type Redis from 'ioredis';
import { parseJsonLine, type AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { newIds, RawSipClient, request, SDP, type SipResponse } from '../helpers/raw-sip';

const PREFIX = 'uparams:';
const HOST = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A UDP target that answers every INVITE 180 + 200 (SDP), and BYE 200; records what it receives. */
class RawTarget {
  private readonly sock = dgram.createSocket('udp4');
  /** every request received, raw, in arrival order */
  readonly requests: string[] = [];
  private readonly tags = new Map<string, string>();
  port = 0;

  async start(): Promise<this> {
    this.sock.on('message', (b, rinfo) => this.onMessage(b.toString('utf8'), rinfo));
    await new Promise<void>((resolve) => this.sock.bind(0, HOST, resolve));
    this.port = this.sock.address().port;
    return this;
  }

  invites(): string[] {
    return this.requests.filter((r) => r.startsWith('INVITE '));
  }

  /** the first INVITE of a dialled user (matched on the X-Test-Id header the caller sets), waited for */
  async inviteFor(testId: string, timeoutMs = 5000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.invites().find((r) => header(r, 'x-test-id') === testId);
      if (found) return found;
      if (Date.now() > until)
        throw new Error(
          `no INVITE for ${testId} at target ${this.port}; got:\n${this.invites()
            .map((r) => r.split('\r\n')[0])
            .join('\n')}`,
        );
      await sleep(50);
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }

  private onMessage(raw: string, rinfo: dgram.RemoteInfo): void {
    if (raw.startsWith('SIP/2.0')) return;
    this.requests.push(raw);
    const method = raw.slice(0, raw.indexOf(' '));
    if (method === 'ACK') return;
    const callId = header(raw, 'call-id') ?? '';
    let tag = this.tags.get(callId);
    if (!tag) {
      tag = `t${this.tags.size + 1}x${this.port}`;
      this.tags.set(callId, tag);
    }
    const hdrs = (lines: string[]) => [
      ...allHeaders(raw, 'via').map((v) => `Via: ${v}`),
      `From: ${header(raw, 'from')}`,
      `To: ${/;tag=/.test(header(raw, 'to') ?? '') ? header(raw, 'to') : `${header(raw, 'to')};tag=${tag}`}`,
      `Call-ID: ${callId}`,
      `CSeq: ${header(raw, 'cseq')}`,
      ...lines,
    ];
    const reply = (status: string, lines: string[] = [], body = '') =>
      this.sock.send(
        Buffer.from(`SIP/2.0 ${status}\r\n${hdrs(lines).join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
        rinfo.port,
        rinfo.address,
      );
    if (method === 'INVITE') {
      const contact = `Contact: <sip:target@${HOST}:${this.port}>`;
      reply('180 Ringing', [contact]);
      reply('200 OK', [contact, 'Content-Type: application/sdp'], SDP);
    } else {
      reply('200 OK');
    }
  }
}

function allHeaders(raw: string, name: string): string[] {
  const head = raw.split('\r\n\r\n', 1)[0];
  return head
    .split('\r\n')
    .slice(1)
    .filter((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase() === name)
    .map((l) => l.slice(l.indexOf(':') + 1).trim());
}
function header(raw: string, name: string): string | undefined {
  return allHeaders(raw, name)[0];
}
/** the Request-URI of a request */
const requestUri = (raw: string) => raw.split('\r\n')[0].split(' ')[1];

describe('user parameters in the dialled number, end to end', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let app: AppProcess;
  let client: RawSipClient;
  const targets: Record<'forward' | 'strip' | 'reject' | 'long', RawTarget> = {} as never;
  const local = () => `${HOST}:${client.port}`;
  const at = (t: RawTarget) => `${HOST}:${t.port}`;

  beforeAll(async () => {
    [redisServer, drachtio] = await Promise.all([startRedis(), startDrachtio()]);
    redis = redisServer.client();
    for (const name of ['forward', 'strip', 'reject', 'long'] as const) targets[name] = await new RawTarget().start();
    const route = (name: keyof typeof targets, extra: Record<string, unknown> = {}) => ({
      name,
      match: { domains: [`${name}.test`] },
      ...extra,
      targets: [{ host: HOST, port: targets[name].port }],
    });
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      // `forward` is the default: the forward route does not name a policy
      routes: [route('forward'), route('strip', { userParameters: 'strip' }), route('reject', { userParameters: 'reject' }), route('long')],
    });
    client = await new RawSipClient({ host: drachtio.sipAddress, port: drachtio.sipPort }).open();
  }, 60000);

  afterAll(async () => {
    await client?.close();
    await app?.stop('SIGTERM');
    await Promise.all(Object.values(targets).map((t) => t.close()));
    await drachtio?.stop();
    await redisServer?.stop();
  });

  /** Calls `ruri`; resolves with the final response, after ACK and BYE when it was a 200. */
  async function call(ruri: string, testId: string): Promise<{ final: SipResponse; ids: ReturnType<typeof newIds> }> {
    const ids = newIds();
    const common = [`From: <sip:caller@${local()}>;tag=${ids.tag}`, `Call-ID: ${ids.callId}`, 'Max-Forwards: 70'];
    client.send(
      request(
        `INVITE ${ruri} SIP/2.0`,
        [
          `Via: SIP/2.0/UDP ${local()};branch=${ids.branch}`,
          ...common,
          `To: <${ruri}>`,
          'CSeq: 1 INVITE',
          `Contact: <sip:caller@${local()}>`,
          `X-Test-Id: ${testId}`,
          'Content-Type: application/sdp',
        ],
        SDP,
      ),
    );
    const final = await client.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && r.status >= 200 && /INVITE/.test(r.headers.cseq?.[0] ?? ''));
    if (final.status === 200) {
      const contact = /<([^>]+)>/.exec(final.headers.contact?.[0] ?? '')?.[1] ?? ruri;
      const dialog = [...common, `To: ${final.headers.to[0]}`];
      client.send(request(`ACK ${contact} SIP/2.0`, [`Via: SIP/2.0/UDP ${local()};branch=${ids.branch}ack`, ...dialog, 'CSeq: 1 ACK']));
      await sleep(100);
      client.send(request(`BYE ${contact} SIP/2.0`, [`Via: SIP/2.0/UDP ${local()};branch=${ids.branch}bye`, ...dialog, 'CSeq: 2 BYE']));
      const bye = await client.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && /BYE/.test(r.headers.cseq?.[0] ?? ''));
      expect(bye.status).toBe(200);
    }
    return { final, ids };
  }
  /** the first log line of the call satisfying pred, waited for (a line may come just after the response) */
  const logLine = async (callId: string, pred: (l: Record<string, unknown>) => boolean) =>
    parseJsonLine(
      await app.waitFor((line) => {
        const l = parseJsonLine(line);
        return l !== null && l.callId === callId && pred(l);
      }, 5000),
    );

  it('forward (the default): the target gets the user with its parameters exactly as dialled; the route is matched by the domain', async () => {
    const t = targets.forward;
    const { final, ids } = await call('sip:+4940123;npdi;rn=+4940999@forward.test', 'fwd-npdi');
    expect(final.status).toBe(200);
    const inv = await t.inviteFor('fwd-npdi');
    expect(inv.split('\r\n')[0]).toMatch(/^INVITE sip:\+4940123;npdi;rn=\+4940999@/);
    expect(requestUri(inv)).toBe(`sip:+4940123;npdi;rn=+4940999@${at(t)}`);
    expect(header(inv, 'to')).toBe(`<sip:+4940123;npdi;rn=+4940999@${at(t)}>`);
    expect(await logLine(ids.callId, (l) => l.msg === 'call answered')).toMatchObject({ route: 'forward', target: `udp:${at(t)}` });
  });

  it('forward: a phone-context number is forwarded intact', async () => {
    const t = targets.forward;
    const { final } = await call('sip:1234;phone-context=+4940@forward.test', 'fwd-pc');
    expect(final.status).toBe(200);
    expect(requestUri(await t.inviteFor('fwd-pc'))).toBe(`sip:1234;phone-context=+4940@${at(t)}`);
  });

  it('strip: the target gets the number without its parameters; counted per call in Redis, warned once per route', async () => {
    const t = targets.strip;
    for (const id of ['strip-1', 'strip-2']) {
      const { final } = await call('sip:+4940123;npdi;rn=+4940999@strip.test', id);
      expect(final.status).toBe(200);
      expect(requestUri(await t.inviteFor(id))).toBe(`sip:+4940123@${at(t)}`);
    }
    expect(await redis.hget(`${PREFIX}route:strip`, 'stripped-user-parameters')).toBe('2');
    const warnings = app.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('stripping user parameters'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn', route: 'strip', stripped: ['npdi', 'rn=+4940999'] });
    // a number without parameters is not counted
    expect((await call('sip:+4940555@strip.test', 'strip-plain')).final.status).toBe(200);
    expect(requestUri(await t.inviteFor('strip-plain'))).toBe(`sip:+4940555@${at(t)}`);
    expect(await redis.hget(`${PREFIX}route:strip`, 'stripped-user-parameters')).toBe('2');
  });

  it('reject: 403 to the caller, no INVITE to any target', async () => {
    const { final, ids } = await call('sip:+4940123;npdi;rn=+4940999@reject.test', 'reject-1');
    expect(final.status).toBe(403);
    expect(final.reason).toBe('User Parameters Not Accepted');
    expect(await logLine(ids.callId, (l) => l.code === 'B2B_ERR_USER_PARAMETERS')).toMatchObject({ route: 'reject', status: 403 });
    await sleep(500);
    expect(targets.reject.invites()).toEqual([]);
    // a number without parameters still goes through on that route
    expect((await call('sip:+4940555@reject.test', 'reject-plain')).final.status).toBe(200);
    expect(requestUri(await targets.reject.inviteFor('reject-plain'))).toBe(`sip:+4940555@${at(targets.reject)}`);
  });

  it('a forwarded Request-URI drachtio-server would not send (longer than 497 characters) gets 414 and no INVITE; 497 is sent', async () => {
    const t = targets.long;
    const digits = (len: number) => `+49${'1'.repeat(len - 3)}`;
    const { final, ids } = await call(`sip:${digits(600)};npdi@long.test`, 'long-600');
    expect(final.status).toBe(414);
    expect(await logLine(ids.callId, (l) => l.code === 'B2B_ERR_URI_TOO_LONG')).toMatchObject({ route: 'long', status: 414 });
    await sleep(500);
    expect(t.invites()).toEqual([]);

    // the Request-URI to the target is `sip:<user>@127.0.0.1:<port>`: this user makes it 497 characters long
    const fits = digits(497 - `sip:@${at(t)}`.length);
    const ok = await call(`sip:${fits}@long.test`, 'long-fits');
    expect(ok.final.status).toBe(200);
    const uri = requestUri(await t.inviteFor('long-fits'));
    expect(uri).toBe(`sip:${fits}@${at(t)}`);
    expect(uri).toHaveLength(497);
  });

  it('leaves no call up', async () => {
    for (let i = 0; i < 30 && (await redis.keys(`${PREFIX}call:*`)).length > 0; i += 1) await sleep(100);
    expect(await redis.keys(`${PREFIX}call:*`)).toEqual([]);
  });
});
