/**
 * What arrives is not always sipp-shaped: compact and odd-case headers, an INVITE without SDP,
 * a Request-URI that is an IP address (the internal SIP server's calls, routed by source network),
 * and hostile input. Unparseable garbage never reaches the app (drachtio-server, like the emulator,
 * drops it), so the hostile cases here are parseable requests that do reach it, or that drachtio
 * itself must answer. Each gets the SIP answer a real drachtio-server gives (verified with
 * DRACHTIO_BIN), logs no error, leaves no call in Redis, and a normal call works after it.
 */
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { startUas, type SippUas } from '../harness/sipp';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { fromOf, newIds, RawSipClient, request, SDP, type Ids, type SipResponse } from '../helpers/raw-sip';

const PREFIX = 'rob:';

describe('hostile and unusual input, end to end', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let app: AppProcess;
  let byDomain: SippUas;
  let bySource: SippUas;
  let checksHeaders: SippUas;
  let checksOfferless: SippUas;
  let client: RawSipClient;

  beforeAll(async () => {
    [redisServer, drachtio, byDomain, bySource, checksHeaders, checksOfferless] = await Promise.all([
      startRedis(),
      startDrachtio(),
      startUas('answer'),
      startUas('answer'),
      startUas('answer-check-headers'),
      startUas('answer-offerless-check'),
    ]);
    redis = redisServer.client();
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      routes: [
        { name: 'by-domain', match: { domains: ['known.test'] }, targets: [{ host: byDomain.host, port: byDomain.port }] },
        { name: 'headers', match: { domains: ['headers.test'] }, targets: [{ host: checksHeaders.host, port: checksHeaders.port }] },
        { name: 'offerless', match: { domains: ['offerless.test'] }, targets: [{ host: checksOfferless.host, port: checksOfferless.port }] },
        { name: 'from-sip-server', match: { sources: ['127.0.0.1/32'] }, targets: [{ host: bySource.host, port: bySource.port }] },
      ],
    });
    client = await new RawSipClient({ host: drachtio.sipAddress, port: drachtio.sipPort }).open();
  }, 60000);

  afterAll(async () => {
    await client?.close();
    await app?.stop('SIGTERM');
    await Promise.all([byDomain?.stop(), bySource?.stop(), checksHeaders?.stop(), checksOfferless?.stop()]);
    await drachtio?.stop();
    await redisServer?.stop();
  });

  /** After every test: no call record, no active call counted, no error logged. */
  afterEach(async () => {
    const left = async () => {
      const ids = await redis.smembers(`${PREFIX}targets`);
      const active = await Promise.all(ids.map(async (id) => Number((await redis.hget(`${PREFIX}target:${id}`, 'active')) ?? 0)));
      return {
        records: await redis.keys(`${PREFIX}call:*`),
        owned: await redis.keys(`${PREFIX}instance:*:calls`),
        active: active.filter((n) => n !== 0),
      };
    };
    for (let i = 0; i < 50; i += 1) {
      const l = await left();
      if (l.records.length + l.owned.length + l.active.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await left()).toEqual({ records: [], owned: [], active: [] });
    expect(app.logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
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
      request(
        `ACK ${contact} SIP/2.0`,
        [`Via: SIP/2.0/UDP ${local()};branch=${ids.branch}ack`, ...common, 'CSeq: 1 ACK', ...(ackBody ? ['Content-Type: application/sdp'] : [])],
        ackBody,
      ),
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

  /**
   * An INVITE without an offer to the target that checks it (uas-answer-offerless-check.xml): it must
   * get an INVITE without SDP, and the caller's answer in its ACK; the caller gets its offer in our 200.
   */
  async function offerlessCall(extra: string[]): Promise<void> {
    const before = await checksOfferless.stats();
    const ids = newIds();
    const ruri = 'sip:4712@offerless.test';
    const ok = await client.invite(ids, ruri, { extra });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('s=target-offer');
    expect((await ackAndBye(ids, ok, fromOf(client, ids), ruri, SDP)).status).toBe(200);
    const s = await checksOfferless.waitForStats((x) => x.successfulCalls + x.failedCalls > before.successfulCalls + before.failedCalls);
    expect({ ok: s.successfulCalls - before.successfulCalls, failed: s.failedCalls - before.failedCalls }).toEqual({ ok: 1, failed: 0 });
  }

  it('bridges an INVITE without SDP: the offer comes in the 200, the answer in the ACK', async () => {
    await offerlessCall([]);
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

  // ------------------------------------------------------------------ hostile input

  /** A plain call that must still work after each hostile input: 200, then ACK and BYE answered 200. */
  async function normalCallWorks(): Promise<void> {
    const ids = newIds();
    const ruri = 'sip:1@known.test';
    const ok = await client.invite(ids, ruri, { body: SDP });
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, fromOf(client, ids), ruri)).status).toBe(200);
  }

  /** The final response to the request sent with this Via branch. */
  const finalFor = (branch: string, timeoutMs?: number) => client.waitFor((r) => r.status >= 200 && (r.headers.via?.[0] ?? '').includes(branch), timeoutMs);

  /** No response at all (not even 100) to the request sent with this Via branch. */
  async function expectNoResponse(branch: string): Promise<void> {
    await expect(client.waitFor((r) => (r.headers.via?.[0] ?? '').includes(branch), 1500)).rejects.toThrow(/no matching SIP response/);
  }

  /** The headers of a request outside any dialog, as invite() sends them; `replace` swaps lines by header name. */
  function plainHeaders(ids: Ids, method: string, ruri: string, replace: Record<string, string[]> = {}): string[] {
    const base: Array<[string, string]> = [
      ['via', `Via: SIP/2.0/UDP ${local()};branch=${ids.branch}`],
      ['from', `From: ${fromOf(client, ids)}`],
      ['to', `To: <${ruri}>`],
      ['call-id', `Call-ID: ${ids.callId}`],
      ['cseq', `CSeq: 1 ${method}`],
      ['contact', `Contact: <sip:caller@${local()}>`],
      ['max-forwards', 'Max-Forwards: 70'],
    ];
    const lines = base.flatMap(([name, line]) => replace[name] ?? [line]);
    return [...lines, ...(replace.extra ?? [])];
  }

  /** Sends a request in the dialog an answered invite() made, and resolves with its final response. */
  async function inDialog(ids: Ids, ok: SipResponse, method: string, cseq: number, extra: string[] = []): Promise<SipResponse> {
    const contact = /<([^>]+)>/.exec(ok.headers.contact?.[0] ?? '')?.[1] ?? '';
    const branch = `${ids.branch}${method.toLowerCase()}${cseq}`;
    client.send(
      request(`${method} ${contact} SIP/2.0`, [
        `Via: SIP/2.0/UDP ${local()};branch=${branch}`,
        `From: ${fromOf(client, ids)}`,
        `To: ${ok.headers.to[0]}`,
        `Call-ID: ${ids.callId}`,
        `CSeq: ${cseq} ${method}`,
        'Max-Forwards: 70',
        ...extra,
      ]),
    );
    return finalFor(branch);
  }

  it('drops unparseable garbage below the app (no answer), and keeps serving calls', async () => {
    const ids = newIds();
    client.send('this is not SIP\r\n\r\n');
    client.send(`INVITE sip:x SIP/2.0\r\nVia: broken;branch=${ids.branch}\r\n\r\n`);
    client.send(Buffer.alloc(600, 0xff).toString('latin1'));
    await expectNoResponse(ids.branch);
    await normalCallWorks();
  });

  it('bridges an INVITE that claims Content-Type: application/sdp but has no body as an offer-less one', async () => {
    await offerlessCall(['Content-Type: application/sdp']);
    await normalCallWorks();
  });

  it('answers an INVITE with an 8 KB header value normally', async () => {
    const ids = newIds();
    const ruri = 'sip:4715@known.test';
    const ok = await client.invite(ids, ruri, { body: SDP, extra: [`Organization: ${'x'.repeat(8000)}`] });
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, fromOf(client, ids), ruri)).status).toBe(200);
    await normalCallWorks();
  });

  it('routes a Request-URI whose user part is escaped (%61lice%2Bx%20y)', async () => {
    const ids = newIds();
    const ruri = 'sip:%61lice%2Bx%20y@known.test';
    const ok = await client.invite(ids, ruri, { body: SDP });
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, fromOf(client, ids), ruri)).status).toBe(200);
    await normalCallWorks();
  });

  it('routes a tel: Request-URI (no domain of its own) by source network', async () => {
    const before = (await bySource.stats()).incomingCalls;
    const ids = newIds();
    const ruri = 'tel:+4940123456';
    const ok = await client.invite(ids, ruri, { body: SDP });
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, fromOf(client, ids), ruri)).status).toBe(200);
    expect((await bySource.waitForStats((x) => x.incomingCalls > before)).incomingCalls).toBe(before + 1);
    await normalCallWorks();
  });

  it('handles a Call-ID made of every odd character RFC 3261 allows in one', async () => {
    const ids = { ...newIds(), callId: `odd!%*_+\`'~()<>:\\"/[]?{}-${newIds().tag}@raw.test` };
    const ruri = 'sip:4716@known.test';
    const ok = await client.invite(ids, ruri, { body: SDP });
    expect(ok.status).toBe(200);
    expect((await ackAndBye(ids, ok, fromOf(client, ids), ruri)).status).toBe(200);
    const line = app.logs().find((l) => l.callId === ids.callId && l.msg === 'call answered');
    expect(line).toMatchObject({ route: 'by-domain', status: 200 });
    await normalCallWorks();
  });

  it('gives no answer to an unknown method outside a dialog (drachtio-server discards it)', async () => {
    const ids = newIds();
    const ruri = 'sip:4717@known.test';
    client.send(request(`FROBNICATE ${ruri} SIP/2.0`, plainHeaders(ids, 'FROBNICATE', ruri)));
    await expectNoResponse(ids.branch);
    await normalCallWorks();
  });

  it('answers an unknown method inside a dialog 501, and the call goes on', async () => {
    const ids = newIds();
    const ruri = 'sip:4718@known.test';
    const ok = await client.invite(ids, ruri, { body: SDP });
    expect(ok.status).toBe(200);
    client.send(
      request(`ACK ${/<([^>]+)>/.exec(ok.headers.contact[0])![1]} SIP/2.0`, [
        `Via: SIP/2.0/UDP ${local()};branch=${ids.branch}ack`,
        `From: ${fromOf(client, ids)}`,
        `To: ${ok.headers.to[0]}`,
        `Call-ID: ${ids.callId}`,
        'CSeq: 1 ACK',
        'Max-Forwards: 70',
      ]),
    );
    expect((await inDialog(ids, ok, 'FROBNICATE', 2)).status).toBe(501);
    expect((await inDialog(ids, ok, 'BYE', 3)).status).toBe(200);
    await normalCallWorks();
  });

  // RFC 3261 8.2.2.3: a UAS that does not understand an option tag in Require MUST answer 420 Bad
  // Extension listing it in Unsupported. drachtio-server leaves this to the app (it passes the INVITE
  // up); the dispatcher's admission chain answers it (lib/call/admission.ts refuseUnsupportedExtensions).
  it('answers 420 Bad Extension, with Unsupported, to an INVITE requiring an unknown extension', async () => {
    const ids = newIds();
    const ruri = 'sip:4719@known.test';
    const res = await client.invite(ids, ruri, { body: SDP, extra: ['Require: x-frobnicate'] });
    if (res.status === 200) expect((await ackAndBye(ids, res, fromOf(client, ids), ruri)).status).toBe(200);
    else client.ackFailure(ids, ruri, res);
    expect({ status: res.status, unsupported: res.headers.unsupported }).toEqual({ status: 420, unsupported: ['x-frobnicate'] });
  });

  it('answers 400 to an INVITE with a single-instance header given twice or a header it cannot parse (sofia-sip flags it, drachtio-server rejects it)', async () => {
    const ruri = 'sip:4720@known.test';
    const variants: Record<string, { replace: (ids: Ids) => Record<string, string[]>; status: number }> = {
      'two Call-IDs': { replace: (ids) => ({ 'call-id': [`Call-ID: ${ids.callId}`, `Call-ID: other-${ids.callId}`] }), status: 400 },
      'two To headers': { replace: () => ({ to: [`To: <${ruri}>`, 'To: <sip:someone-else@known.test>'] }), status: 400 },
      'two CSeqs': { replace: () => ({ cseq: ['CSeq: 1 INVITE', 'CSeq: 2 INVITE'] }), status: 400 },
      'two Max-Forwards': { replace: () => ({ 'max-forwards': ['Max-Forwards: 70', 'Max-Forwards: 10'] }), status: 400 },
      'two Subjects': { replace: () => ({ extra: ['Subject: one', 'Subject: two'] }), status: 400 },
      'Max-Forwards: lots': { replace: () => ({ 'max-forwards': ['Max-Forwards: lots'] }), status: 400 },
      'CSeq: one INVITE': { replace: () => ({ cseq: ['CSeq: one INVITE'] }), status: 400 },
      'CSeq of another method': { replace: () => ({ cseq: ['CSeq: 1 OPTIONS'] }), status: 400 },
      // a line whose name is not a token followed by ':' is not a header: sofia-sip puts it in the error list
      'a header line that is not a header': { replace: () => ({ extra: ['From <sip: nobody'] }), status: 400 },
      'a header with no name': { replace: () => ({ extra: [': no name'] }), status: 400 },
      // extension headers may repeat: this one is a plain call
      'two X-Repeat headers': { replace: () => ({ extra: ['X-Repeat: one', 'X-Repeat: two'] }), status: 200 },
    };
    const got: Record<string, number> = {};
    for (const [name, { replace }] of Object.entries(variants)) {
      const ids = newIds();
      const r = replace(ids);
      client.send(
        request(`INVITE ${ruri} SIP/2.0`, plainHeaders(ids, 'INVITE', ruri, { ...r, extra: ['Content-Type: application/sdp', ...(r.extra ?? [])] }), SDP),
      );
      const res = await finalFor(ids.branch);
      got[name] = res.status;
      if (res.status === 200) await ackAndBye(ids, res, fromOf(client, ids), ruri);
      else client.ackFailure(ids, ruri, res);
    }
    expect(got).toEqual(Object.fromEntries(Object.entries(variants).map(([k, v]) => [k, v.status])));
    await normalCallWorks();
  });

  it('answers BYE and CANCEL for an unknown dialog 481, and INFO 503 (no app takes INFO outside a dialog)', async () => {
    const ruri = 'sip:4721@known.test';
    const got: Record<string, number> = {};
    for (const method of ['BYE', 'CANCEL', 'INFO']) {
      const ids = newIds();
      const to = method === 'CANCEL' ? `To: <${ruri}>` : `To: <${ruri}>;tag=nosuchdialog`;
      client.send(request(`${method} ${ruri} SIP/2.0`, plainHeaders(ids, method, ruri, { to: [to] })));
      got[method] = (await finalFor(ids.branch)).status;
    }
    expect(got).toEqual({ BYE: 481, CANCEL: 481, INFO: 503 });
    await normalCallWorks();
  });

  // Max-Forwards enforcement (483) is a later issue: here only that nothing breaks.
  it('survives an INVITE with Max-Forwards: 0', async () => {
    const ids = newIds();
    const ruri = 'sip:4722@known.test';
    client.send(
      request(
        `INVITE ${ruri} SIP/2.0`,
        plainHeaders(ids, 'INVITE', ruri, { 'max-forwards': ['Max-Forwards: 0'], extra: ['Content-Type: application/sdp'] }),
        SDP,
      ),
    );
    const res = await finalFor(ids.branch);
    expect([200, 483]).toContain(res.status);
    if (res.status === 200) expect((await ackAndBye(ids, res, fromOf(client, ids), ruri)).status).toBe(200);
    else client.ackFailure(ids, ruri, res);
    await normalCallWorks();
  });

  it('answers 481 to an initial INVITE that carries a To tag', async () => {
    const ids = newIds();
    const ruri = 'sip:4723@known.test';
    client.send(
      request(`INVITE ${ruri} SIP/2.0`, plainHeaders(ids, 'INVITE', ruri, { to: [`To: <${ruri}>;tag=madeup`], extra: ['Content-Type: application/sdp'] }), SDP),
    );
    const res = await finalFor(ids.branch);
    expect(res.status).toBe(481);
    client.ackFailure(ids, ruri, res);
    await normalCallWorks();
  });
});
