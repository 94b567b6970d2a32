/**
 * The call set-up's timers and limits, end to end: an answer racing the provisional timer, a ring
 * timeout, Timer B, a retransmitted INVITE, a merged INVITE, the maximum call duration, and the parallel
 * strategy's per-target outcomes and response header policy. Each scenario has its own route
 * (Request-URI domain `<name>.test`) and back-ends, so counters never mix.
 */
import { expectNothingCounted } from '../helpers/counted';
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas, type UasBehaviour } from '../harness/sipp';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { newIds, RawSipClient, request, SDP, type SipResponse } from '../helpers/raw-sip';

const PREFIX = 'timing:';
/** drachtio's T1 in this file: Timer B (64 × T1) fires after 3.2 s instead of 32 s */
const T1_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Spec {
  behaviour: UasBehaviour;
  priority: number;
  delayMs?: number;
}
const ROUTES: Record<string, { targets: Spec[]; extra?: Record<string, unknown> }> = {
  race: {
    extra: { provisionalTimeoutMs: 500 },
    targets: [
      { behaviour: 'answer', priority: 10 },
      { behaviour: 'answer', priority: 20 },
    ],
  },
  ring: {
    extra: { ringTimeoutS: 1 },
    targets: [
      { behaviour: 'no-answer', priority: 10 },
      { behaviour: 'answer', priority: 20 },
    ],
  },
  timerb: {
    extra: { provisionalTimeoutMs: 60000 },
    targets: [
      { behaviour: 'silent', priority: 10 },
      { behaviour: 'answer', priority: 20 },
    ],
  },
  retrans: { targets: [{ behaviour: 'ringing-then-answer', priority: 10, delayMs: 600 }] },
  // no 18x before the answer: the caller's early dialog does not exist yet when the merged INVITE comes
  merge: { targets: [{ behaviour: 'delayed-answer', priority: 10, delayMs: 1000 }] },
  mergeearly: { targets: [{ behaviour: 'ringing-then-answer', priority: 10, delayMs: 1000 }] },
  maxdur: { extra: { maxDurationS: 1 }, targets: [{ behaviour: 'answer', priority: 10 }] },
  par: {
    extra: { strategy: 'parallel', parallelCount: 2 },
    targets: [
      { behaviour: 'unavailable-503', priority: 10 },
      { behaviour: 'ringing-then-answer-x-header', priority: 10, delayMs: 500 },
    ],
  },
};

describe('call set-up timers and limits, end to end', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let app: AppProcess;
  let client: RawSipClient;
  const uas = new Map<string, SippUas[]>();

  const counters = async (u: SippUas) => redis.hgetall(`${PREFIX}target:udp:${u.host}:${u.port}`);
  const local = () => `127.0.0.1:${client.port}`;
  const sip = () => ({ host: drachtio.sipAddress, port: drachtio.sipPort });

  beforeAll(async () => {
    [redisServer, drachtio] = await Promise.all([startRedis(), startDrachtio({ t1: T1_MS })]);
    redis = redisServer.client();
    const routes = [];
    for (const [name, spec] of Object.entries(ROUTES)) {
      const started = await Promise.all(spec.targets.map((t) => startUas(t.behaviour, { delayMs: t.delayMs })));
      uas.set(name, started);
      routes.push({
        name,
        match: { domains: [`${name}.test`] },
        ...spec.extra,
        // a silent target (a dead box) would be probed down: these tests need it tried, so it is not probed
        targets: spec.targets.map((t, i) => ({
          host: started[i].host,
          port: started[i].port,
          priority: t.priority,
          weight: 1,
          ...(t.behaviour === 'silent' ? { probe: false } : {}),
        })),
      });
    }
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      health: { passiveFailures: 0 },
      routes,
    });
    client = await new RawSipClient(sip()).open();
  }, 60000);

  afterAll(async () => {
    await client?.close();
    await app?.stop('SIGTERM');
    await Promise.all([...uas.values()].flat().map((u) => u.stop()));
    await drachtio?.stop();
    await redisServer?.stop();
  });

  /** After every scenario: no call record left, every `active` back to zero. */
  afterEach(async () => {
    await expectNothingCounted(redis, PREFIX);
  });

  function inviteText(ids: ReturnType<typeof newIds>, ruri: string, opts: { body?: string; branch?: string; headers?: string[] } = {}): string {
    const body = opts.body ?? '';
    return request(
      `INVITE ${ruri} SIP/2.0`,
      [
        `Via: SIP/2.0/UDP ${local()};branch=${opts.branch ?? ids.branch}`,
        `From: <sip:caller@${local()}>;tag=${ids.tag}`,
        `To: <${ruri}>`,
        `Call-ID: ${ids.callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:caller@${local()}>`,
        'Max-Forwards: 70',
        ...(opts.headers ?? []),
        ...(body ? ['Content-Type: application/sdp'] : []),
      ],
      body,
    );
  }

  const finalFor = (ids: ReturnType<typeof newIds>, branch = ids.branch) =>
    client.waitFor(
      (r) =>
        r.headers['call-id']?.[0] === ids.callId && r.status >= 200 && (r.headers.via?.[0] ?? '').includes(branch) && /INVITE/.test(r.headers.cseq?.[0] ?? ''),
    );

  /** ACK (with `ackBody`, for an offer-less INVITE) and, unless `bye` is false, BYE; resolves with the BYE's response. */
  async function ackAndBye(
    ids: ReturnType<typeof newIds>,
    ok: SipResponse,
    ruri: string,
    opts: { ackBody?: string; bye?: boolean } = {},
  ): Promise<SipResponse | undefined> {
    const contact = /<([^>]+)>/.exec(ok.headers.contact?.[0] ?? '')?.[1] ?? ruri;
    const common = [`From: <sip:caller@${local()}>;tag=${ids.tag}`, `To: ${ok.headers.to[0]}`, `Call-ID: ${ids.callId}`, 'Max-Forwards: 70'];
    const ackBody = opts.ackBody ?? '';
    client.send(
      request(
        `ACK ${contact} SIP/2.0`,
        [`Via: SIP/2.0/UDP ${local()};branch=${ids.branch}ack`, ...common, 'CSeq: 1 ACK', ...(ackBody ? ['Content-Type: application/sdp'] : [])],
        ackBody,
      ),
    );
    if (opts.bye === false) return undefined;
    await sleep(200);
    client.send(request(`BYE ${contact} SIP/2.0`, [`Via: SIP/2.0/UDP ${local()};branch=${ids.branch}bye`, ...common, 'CSeq: 2 BYE']));
    return client.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && /BYE/.test(r.headers.cseq?.[0] ?? ''));
  }

  const logsFor = (callId: string) => app.logs().filter((l) => l.callId === callId);

  it('bridges a target that answers without an 18x while the caller takes longer than provisionalTimeoutMs to ACK', async () => {
    // offer-less INVITE: the target's 200 comes at once (no 18x); the caller ACKs 900 ms later, past the 500 ms provisional timer
    const [first, second] = uas.get('race')!;
    const ids = newIds();
    const ruri = 'sip:100@race.test';
    client.send(inviteText(ids, ruri));
    const ok = await finalFor(ids);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('m=audio'); // the target's offer
    await sleep(900);
    expect((await ackAndBye(ids, ok, ruri, { ackBody: SDP }))?.status).toBe(200);
    expect((await first.waitForStats((s) => s.successfulCalls >= 1)).incomingCalls).toBe(1);
    expect((await second.stats()).incomingCalls).toBe(0);
    expect(await counters(first)).toMatchObject({ attempts: '1', answered: '1' });
    expect(logsFor(ids.callId).some((l) => l.code === 'B2B_ERR_ATTEMPT_TIMEOUT')).toBe(false);
    expect(logsFor(ids.callId).filter((l) => l.msg === 'call answered')).toHaveLength(1);
  });

  it('cancels a target that rings past ringTimeoutS and answers the caller 480, without trying the next target', async () => {
    const [ringing, other] = uas.get('ring')!;
    const t0 = Date.now();
    const r = await runUac('expect-status', { target: sip(), domain: 'ring.test', expectStatus: 480 });
    expect(r.exitCode).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await ringing.waitForStats((s) => (s.messages.CANCEL_Recv ?? 0) >= 1)).messages.CANCEL_Recv).toBe(1);
    expect(await counters(ringing)).toMatchObject({ attempts: '1', 'failed:no-answer': '1' });
    await sleep(1200); // sipp's statistics are a second old
    expect((await other.stats()).incomingCalls).toBe(0);
    expect(app.logs().some((l) => l.msg === 'call failed: no answer' && l.code === 'B2B_ERR_RING_TIMEOUT' && l.status === 480)).toBe(true);
  });

  it('fails over when an INVITE times out at Timer B (no response at all), counting it as 408', async () => {
    const [silent, good] = uas.get('timerb')!;
    const t0 = Date.now();
    const r = await runUac('call', { target: sip(), domain: 'timerb.test', calls: 1, rate: 1, timeoutMs: 20000 });
    expect(r.exitCode).toBe(0);
    // 64 × T1 = 3.2 s of silence before the failover, well short of the 60 s provisional timer
    expect(Date.now() - t0).toBeGreaterThan(64 * T1_MS);
    expect(Date.now() - t0).toBeLessThan(15000);
    expect((await silent.waitForStats((s) => s.incomingCalls >= 1)).incomingCalls).toBe(1);
    expect((await good.waitForStats((s) => s.successfulCalls >= 1)).incomingCalls).toBe(1);
    expect(await counters(silent)).toMatchObject({ attempts: '1', 'failed:408': '1' });
  }, 60000);

  it('treats a retransmitted INVITE as the same call: one INVITE to the target, one answer', async () => {
    const [target] = uas.get('retrans')!;
    const ids = newIds();
    const ruri = 'sip:101@retrans.test';
    const text = inviteText(ids, ruri, { body: SDP });
    client.send(text);
    await sleep(250);
    client.send(text); // the same bytes: a retransmission
    const ok = await finalFor(ids);
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, ruri))?.status).toBe(200);
    const s = await target.waitForStats((x) => x.successfulCalls >= 1);
    expect(s.incomingCalls).toBe(1);
    expect(logsFor(ids.callId).filter((l) => l.msg === 'call answered')).toHaveLength(1);
    expect(client.responses().some((r) => r.headers['call-id']?.[0] === ids.callId && r.status === 482)).toBe(false);
  });

  it('answers 482 to a merged INVITE (same Call-ID, From tag and CSeq, another branch) and carries on with the first', async () => {
    const [target] = uas.get('merge')!;
    const ids = newIds();
    const ruri = 'sip:102@merge.test';
    client.send(inviteText(ids, ruri, { body: SDP }));
    await sleep(300);
    const otherBranch = newIds().branch;
    client.send(inviteText(ids, ruri, { body: SDP, branch: otherBranch }));
    const merged = await finalFor(ids, otherBranch);
    expect(merged.status).toBe(482);
    const ok = await finalFor(ids);
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, ruri))?.status).toBe(200);
    const s = await target.waitForStats((x) => x.successfulCalls >= 1);
    expect(s.incomingCalls).toBe(1);
    expect(logsFor(ids.callId).some((l) => l.code === 'B2B_ERR_MERGED_REQUEST' && l.status === 482)).toBe(true);
  });

  it("never sees a merged INVITE that comes after the first one's 18x: drachtio-server gives it to the early dialog, answers 100, and 500 when that dialog ends", async () => {
    // drachtio-server v0.9.10 behaviour, reproduced by the emulator: sofia matches the tag-less INVITE to
    // the early dialog, and drachtio-server routes no INVITE of a dialog still in progress
    const [target] = uas.get('mergeearly')!;
    const ids = newIds();
    const ruri = 'sip:105@mergeearly.test';
    client.send(inviteText(ids, ruri, { body: SDP }));
    await client.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && r.status === 180);
    const otherBranch = newIds().branch;
    client.send(inviteText(ids, ruri, { body: SDP, branch: otherBranch }));
    const ok = await finalFor(ids);
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, ruri))?.status).toBe(200);
    const s = await target.waitForStats((x) => x.successfulCalls >= 1);
    expect(s.incomingCalls).toBe(1);
    // its only final response is drachtio-server's 500 once the first call's dialog is gone (after the BYE)
    const final = await finalFor(ids, otherBranch);
    expect(final.status).toBe(500);
    const statuses = client
      .responses()
      .filter((r) => r.headers['call-id']?.[0] === ids.callId && (r.headers.via?.[0] ?? '').includes(otherBranch))
      .map((r) => r.status);
    expect(statuses[0]).toBe(100);
    expect(new Set(statuses.slice(1))).toEqual(new Set([500]));
    expect(app.logs().filter((l) => l.callId === ids.callId && l.msg === 'call answered')).toHaveLength(1);
  });

  it('ends an answered call with BYE on both legs when it reaches maxDurationS', async () => {
    const [target] = uas.get('maxdur')!;
    const ids = newIds();
    const ruri = 'sip:103@maxdur.test';
    client.send(inviteText(ids, ruri, { body: SDP }));
    const ok = await finalFor(ids);
    expect(ok.status).toBe(200);
    const answeredAt = Date.now();
    await ackAndBye(ids, ok, ruri, { bye: false });
    // the dispatcher's BYE to the caller (this client), about 1 s after the answer
    let bye: string | undefined;
    for (let i = 0; i < 50 && !bye; i += 1) {
      bye = client.requests().find((raw) => raw.startsWith('BYE ') && raw.includes(ids.callId));
      if (!bye) await sleep(100);
    }
    expect(bye).toBeDefined();
    expect(Date.now() - answeredAt).toBeGreaterThanOrEqual(900);
    // answer it: 200 with the BYE's Via, From, To, Call-ID and CSeq
    const echoed = ['Via', 'From', 'To', 'Call-ID', 'CSeq'].map((h) => new RegExp(`^${h}:.*$`, 'im').exec(bye ?? '')?.[0] ?? '');
    client.send(request('SIP/2.0 200 OK', echoed));
    // sipp counts the call successful once its BYE was answered and its timewait is over
    const s = await target.waitForStats((x) => x.successfulCalls >= 1);
    expect(s.messages.BYE_Recv).toBe(1);
    await app.waitFor(() => logsFor(ids.callId).some((l) => l.msg === 'call ended'), 5000);
    expect(logsFor(ids.callId).find((l) => l.msg === 'call ended')).toMatchObject({ by: 'max-duration' });
  });

  it('parallel: applies the response header policy to the answered leg, and counts a leg that failed first as failed, not canceled', async () => {
    const [unavailable, winner] = uas.get('par')!;
    const ids = newIds();
    const ruri = 'sip:104@par.test';
    client.send(inviteText(ids, ruri, { body: SDP }));
    const ok = await finalFor(ids);
    expect(ok.status).toBe(200);
    expect(ok.headers['x-target-info']).toEqual(['ring-winner']);
    expect(ok.headers['foo-internal']).toBeUndefined();
    expect((await ackAndBye(ids, ok, ruri))?.status).toBe(200);
    expect((await winner.waitForStats((s) => s.successfulCalls >= 1)).incomingCalls).toBe(1);
    expect(await counters(unavailable)).toMatchObject({ attempts: '1', 'failed:503': '1' });
    expect((await counters(unavailable)).canceled).toBeUndefined();
    expect(await counters(winner)).toMatchObject({ attempts: '1', answered: '1' });
    const answered = logsFor(ids.callId).find((l) => l.msg === 'call answered');
    expect(answered).toMatchObject({ target: `udp:${winner.host}:${winner.port}` });
  });
});
