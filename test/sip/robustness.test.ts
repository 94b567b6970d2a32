/**
 * What arrives is not always sipp-shaped: compact and odd-case headers, an INVITE without SDP,
 * a Request-URI that is an IP address (the internal SIP server's calls, routed by source network),
 * and garbage. Each gets a correct SIP answer and leaves nothing counted in Redis.
 */
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { startUas, type SippUas } from '../harness/sipp';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { newIds, RawSipClient, request, SDP, type SipResponse } from '../helpers/raw-sip';

const PREFIX = 'rob:';

describe('hostile and unusual input, end to end', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let app: AppProcess;
  let byDomain: SippUas;
  let bySource: SippUas;
  let checksHeaders: SippUas;
  let client: RawSipClient;

  beforeAll(async () => {
    [redisServer, drachtio, byDomain, bySource, checksHeaders] = await Promise.all([
      startRedis(),
      startDrachtio(),
      startUas('answer'),
      startUas('answer'),
      startUas('answer-check-headers'),
    ]);
    redis = redisServer.client();
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      routes: [
        { name: 'by-domain', match: { domains: ['known.test'] }, targets: [{ host: byDomain.host, port: byDomain.port }] },
        { name: 'headers', match: { domains: ['headers.test'] }, targets: [{ host: checksHeaders.host, port: checksHeaders.port }] },
        { name: 'from-sip-server', match: { sources: ['127.0.0.1/32'] }, targets: [{ host: bySource.host, port: bySource.port }] },
      ],
    });
    client = await new RawSipClient({ host: drachtio.sipAddress, port: drachtio.sipPort }).open();
  }, 60000);

  afterAll(async () => {
    await client?.close();
    await app?.stop('SIGTERM');
    await Promise.all([byDomain?.stop(), bySource?.stop(), checksHeaders?.stop()]);
    await drachtio?.stop();
    await redisServer?.stop();
  });

  afterEach(async () => {
    for (let i = 0; i < 50; i += 1) {
      if ((await redis.keys(`${PREFIX}call:*`)).length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await redis.keys(`${PREFIX}call:*`)).toEqual([]);
  });

  const local = () => `127.0.0.1:${client.port}`;

  /** Sends an INVITE with the usual headers (or `headers` as given) and waits for its final response. */
  async function invite(ids: ReturnType<typeof newIds>, ruri: string, from: string, opts: { headers?: string[]; body?: string } = {}): Promise<SipResponse> {
    const body = opts.body ?? '';
    const headers = opts.headers ?? [
      `Via: SIP/2.0/UDP ${local()};branch=${ids.branch}`,
      `From: ${from}`,
      `To: <${ruri}>`,
      `Call-ID: ${ids.callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:caller@${local()}>`,
      'Max-Forwards: 70',
      ...(body ? ['Content-Type: application/sdp'] : []),
    ];
    client.send(request(`INVITE ${ruri} SIP/2.0`, headers, body));
    return client.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && r.status >= 200);
  }

  /** ACK then BYE for an answered INVITE, as the caller; resolves with the BYE's response. */
  async function ackAndBye(ids: ReturnType<typeof newIds>, ok: SipResponse, fromHdr: string, ruri: string, ackBody = ''): Promise<SipResponse> {
    const to = ok.headers.to[0];
    const contact = /<([^>]+)>/.exec(ok.headers.contact?.[0] ?? '')?.[1] ?? ruri;
    const common = [`From: ${fromHdr}`, `To: ${to}`, `Call-ID: ${ids.callId}`, 'Max-Forwards: 70'];
    client.send(
      request(`ACK ${contact} SIP/2.0`, [`Via: SIP/2.0/UDP ${local()};branch=${ids.branch}ack`, ...common, 'CSeq: 1 ACK', ...(ackBody ? ['Content-Type: application/sdp'] : [])], ackBody),
    );
    await new Promise((r) => setTimeout(r, 200));
    client.send(request(`BYE ${contact} SIP/2.0`, [`Via: SIP/2.0/UDP ${local()};branch=${ids.branch}bye`, ...common, 'CSeq: 2 BYE']));
    return client.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && /BYE/.test(r.headers.cseq?.[0] ?? ''));
  }

  it('accepts compact and odd-case header names', async () => {
    const ids = newIds();
    const ruri = 'sip:4711@known.test';
    const from = `<sip:caller@${local()}>;tag=${ids.tag}`;
    const ok = await invite(ids, ruri, from, {
      body: SDP,
      headers: [
        `v: SIP/2.0/UDP ${local()};branch=${ids.branch}`,
        `f: ${from}`,
        `t: <${ruri}>`,
        `i: ${ids.callId}`,
        'CSEQ: 1 INVITE',
        `m: <sip:caller@${local()}>`,
        'max-forwards: 70',
        'c: application/sdp',
        'X-Odd-Case: kept',
      ],
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('m=audio');
    expect((await ackAndBye(ids, ok, from, ruri)).status).toBe(200);
    const s = await byDomain.waitForStats((x) => x.successfulCalls >= 1);
    expect(s.incomingCalls).toBe(1);
  });

  it('copies headers by the default policy in both directions, and only those', async () => {
    const ids = newIds();
    const ruri = 'sip:4713@headers.test';
    const from = `<sip:caller@${local()}>;tag=${ids.tag}`;
    const ok = await invite(ids, ruri, from, {
      body: SDP,
      headers: [
        `Via: SIP/2.0/UDP ${local()};branch=${ids.branch}`,
        `From: ${from}`,
        `To: <${ruri}>`,
        `Call-ID: ${ids.callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:caller@${local()}>`,
        'Content-Type: application/sdp',
        'X-Customer: 42',
        'P-Asserted-Identity: <sip:+4940123@headers.test>',
        'Foo-Bar: not in the policy',
      ],
    });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-target-info']).toEqual(['siparator']);
    expect(ok.headers['foo-internal']).toBeUndefined();
    expect((await ackAndBye(ids, ok, from, ruri)).status).toBe(200);
    // the target's scenario fails the call unless X-Customer and P-Asserted-Identity came and Foo-Bar did not
    const s = await checksHeaders.waitForStats((x) => x.successfulCalls + x.failedCalls >= 1);
    expect({ ok: s.successfulCalls, failed: s.failedCalls }).toEqual({ ok: 1, failed: 0 });
  });

  it('bridges an INVITE without SDP: the offer comes in the 200, the answer in the ACK', async () => {
    const ids = newIds();
    const ruri = 'sip:4712@known.test';
    const from = `<sip:caller@${local()}>;tag=${ids.tag}`;
    const ok = await invite(ids, ruri, from); // no body: no offer
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('m=audio'); // the target's offer
    expect((await ackAndBye(ids, ok, from, ruri, SDP)).status).toBe(200);
    const s = await byDomain.waitForStats((x) => x.successfulCalls >= 2);
    expect(s.incomingCalls).toBe(2);
  });

  it('routes a domain-less call (Request-URI host is an IP) by its source network', async () => {
    const ids = newIds();
    const ruri = `sip:0049401234@${drachtio.sipAddress}:${drachtio.sipPort}`;
    const from = `<sip:pbx@${local()}>;tag=${ids.tag}`;
    const ok = await invite(ids, ruri, from, { body: SDP });
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, from, ruri)).status).toBe(200);
    expect((await bySource.waitForStats((x) => x.successfulCalls >= 1)).incomingCalls).toBe(1);
    const line = app.logs().find((l) => l.callId === ids.callId && l.msg === 'call answered');
    expect(line).toMatchObject({ route: 'from-sip-server' });
  });

  it('survives garbage and keeps serving calls', async () => {
    client.send('this is not SIP\r\n\r\n');
    client.send('INVITE sip:x SIP/2.0\r\nVia: broken\r\n\r\n');
    client.send(Buffer.alloc(600, 0xff).toString('latin1'));
    await new Promise((r) => setTimeout(r, 300));
    const ids = newIds();
    const ruri = 'sip:1@known.test';
    const from = `<sip:caller@${local()}>;tag=${ids.tag}`;
    const ok = await invite(ids, ruri, from, { body: SDP });
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, from, ruri)).status).toBe(200);
    expect(app.logs().filter((l) => l.level === 'error')).toEqual([]);
  });
});
