/**
 * A bounded fuzz run through drachtio-server (the emulator, or the real one with DRACHTIO_BIN), on
 * loopback only: 10,000 malformed or hostile datagrams (test/helpers/fuzz.ts: garbage, huge and broken
 * headers, absurd Content-Length, unknown methods, odd Request-URIs, illegal SDP, requests for unknown
 * dialogs, stray CANCEL/ACK, duplicated single headers), plus CANCELs racing the 200 with duplicated
 * and out-of-order ACK/BYE, while sipp places ordinary calls. Goal: no crash, no unhandled rejection,
 * every ordinary call completes, nothing left counted, and no log line per hostile message.
 */
import dgram from 'node:dgram';
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { expectNothingCounted } from '../helpers/counted';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { FUZZ_KINDS, fuzzMessages } from '../helpers/fuzz';
import { fromOf, newIds, RawSipClient, request, SDP, type SipResponse } from '../helpers/raw-sip';
import { udpSocketState } from '../helpers/udp-socket';

const PREFIX = 'fz:';
const FUZZ_SOURCE = '127.0.0.50';
const MESSAGES = Number(process.env.FUZZ_MESSAGES ?? 10000);
const RACES = 100;
/**
 * The fuzzer waits while drachtio-server's SIP socket holds more than this unread: the run tests what the
 * messages say, not how much UDP a slow machine can queue. Both servers keep the kernel's default 208 KB
 * receive buffer (test/emulator/udp-buffer.test.ts); the emulator reads it more slowly than the real
 * server, and on a starved machine a flood at full pace overflowed it, dropping ordinary calls' datagrams.
 */
const MAX_UNREAD_BYTES = 64 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fuzz run through drachtio-server', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let normal: SippUas;
  let busy: SippUas;
  let racing: SippUas;
  let app: AppProcess;

  beforeAll(async () => {
    [redisServer, drachtio, normal, busy, racing] = await Promise.all([
      startRedis(),
      startDrachtio(),
      startUas('answer'),
      startUas('busy-486'),
      startUas('answer'),
    ]);
    redis = redisServer.client();
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      health: { passiveFailures: 0 },
      routes: [
        { name: 'race', match: { domains: ['race.test'] }, targets: [{ host: racing.host, port: racing.port }] },
        // whatever the fuzzer's INVITEs ask for, they go to a target that refuses them
        { name: 'fuzz', match: { sources: [`${FUZZ_SOURCE}/32`] }, targets: [{ host: busy.host, port: busy.port }] },
        // a flood costs datagrams: drachtio-server's retransmissions (Timer A: 0.5, 1.5, 3.5 s) must get the
        // INVITE through before the dispatcher gives up on the target, as a production route would allow
        { name: 'normal', provisionalTimeoutMs: 5000, targets: [{ host: normal.host, port: normal.port }] },
      ],
    });
  }, 60000);

  afterAll(async () => {
    await app?.stop('SIGTERM');
    await Promise.all([normal?.stop(), busy?.stop(), racing?.stop()]);
    await drachtio?.stop();
    await redisServer?.stop();
  });

  /** A CANCEL sent right behind the INVITE, racing the target's 200; then duplicated and out-of-order ACK, BYE and CANCEL. */
  async function race(client: RawSipClient, delayMs: number): Promise<number> {
    const ids = newIds();
    const ruri = 'sip:7000@race.test';
    const via = `Via: SIP/2.0/UDP ${client.local()};branch=${ids.branch}`;
    const from = `From: ${fromOf(client, ids)}`;
    const invite = client.invite(ids, ruri, { body: SDP });
    // a UA retransmits its INVITE until something comes back (RFC 3261 timer A); the fuzz burst may cost a datagram
    const sentInvite = client.sent().at(-1) ?? '';
    const answered = () => client.responses().some((r) => r.headers['call-id']?.[0] === ids.callId);
    void (async () => {
      for (let t = 500; t <= 4000 && !answered(); t *= 2) {
        await sleep(t);
        if (!answered()) client.send(sentInvite);
      }
    })();
    await sleep(delayMs);
    const cancel = request(`CANCEL ${ruri} SIP/2.0`, [via, from, `To: <${ruri}>`, `Call-ID: ${ids.callId}`, 'CSeq: 1 CANCEL', 'Max-Forwards: 70']);
    client.send(cancel);
    const res: SipResponse = await invite;
    client.send(cancel); // a duplicate CANCEL after the final response
    if (res.status === 200) {
      const to = `To: ${res.headers.to[0]}`;
      const contact = /<([^>]+)>/.exec(res.headers.contact?.[0] ?? '')?.[1] ?? ruri;
      const inDialog = (method: string, cseq: number, branch: string) =>
        request(`${method} ${contact} SIP/2.0`, [
          `Via: SIP/2.0/UDP ${client.local()};branch=${branch}`,
          from,
          to,
          `Call-ID: ${ids.callId}`,
          `CSeq: ${String(cseq)} ${method}`,
          'Max-Forwards: 70',
        ]);
      const ack = inDialog('ACK', 1, `${ids.branch}a`);
      client.send(ack);
      client.send(ack);
      client.send(inDialog('BYE', 3, `${ids.branch}b`));
      client.send(inDialog('BYE', 2, `${ids.branch}c`)); // out of order: a lower CSeq after the BYE
      client.send(inDialog('BYE', 3, `${ids.branch}b`)); // a retransmission
      await client.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && /BYE/.test(r.headers.cseq?.[0] ?? '') && r.status >= 200, 10000);
    } else {
      client.ackFailure(ids, ruri, res);
      client.ackFailure(ids, ruri, res);
    }
    return res.status;
  }

  it(`survives ${String(MESSAGES)} hostile datagrams and ${String(RACES)} CANCEL races while ordinary calls complete`, async () => {
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, FUZZ_SOURCE, resolve));
    const local = `${FUZZ_SOURCE}:${String(sock.address().port)}`;
    const only = process.env.FUZZ_ONLY?.split(',');
    const messages = fuzzMessages(MESSAGES, 20261203, local, 'fuzz.test').filter((m) => !only || only.includes(m.kind));
    if (!only) expect(new Set(messages.map((m) => m.kind))).toEqual(new Set(FUZZ_KINDS));
    const racer = await new RawSipClient(sip, '127.0.0.51').open();
    const logsBefore = app.logs().length;

    const ordinary = runUac('call', { target: sip, calls: 150, rate: 10, domain: 'normal.test', holdMs: 300 });
    const dropsBefore = udpSocketState(sip.host, sip.port)?.drops ?? 0;
    let pausedMs = 0;
    const fuzzing = (async () => {
      // 25 datagrams every 40 ms: the whole run in about 16 s, beside the ordinary calls
      for (let i = 0; i < messages.length; i += 25) {
        for (const m of messages.slice(i, i + 25)) sock.send(m.bytes, sip.port, sip.host);
        await sleep(40);
        for (let waited = 0; waited < 2000 && (udpSocketState(sip.host, sip.port)?.rxQueue ?? 0) > MAX_UNREAD_BYTES; waited += 20) {
          await sleep(20);
          pausedMs += 20;
        }
      }
    })();
    const racing = (async () => {
      const statuses: number[] = [];
      for (let i = 0; i < RACES; i += 1) statuses.push(await race(racer, i % 4));
      return statuses;
    })();

    const [calls, , raced] = await Promise.all([ordinary, fuzzing, racing]).catch((e: unknown) => {
      process.stderr.write(
        `DRACHTIO LOG TAIL\n${(drachtio.logs?.() ?? '').slice(-4000)}\nAPP STDERR\n${app.stderr.slice(-30).join('\n')}\nAPP LOG\n${app.lines.slice(-15).join('\n')}\n`,
      );
      throw e;
    });
    sock.close();
    await racer.close();

    // on failure: what the dispatcher said about the ordinary calls that did not go through, and sipp's last words
    const ordinaryTrouble = () => ({
      notAnswered: app.logs().filter((l) => l.route === 'normal' && typeof l.status === 'number' && l.status !== 200),
      overload: app.logs().filter((l) => l.code === 'B2B_WARN_ADMISSION_OVERLOAD'),
      connection: app.logs().filter((l) => /drachtio|connect/i.test(String(l.msg))),
      stderr: app.stderr.slice(-20),
      sipp: calls.output.slice(-1500),
    });
    const dropped = (udpSocketState(sip.host, sip.port)?.drops ?? 0) - dropsBefore;
    if (calls.exitCode !== 0) process.stderr.write(`ORDINARY CALLS FAILED\n${JSON.stringify(ordinaryTrouble(), null, 1)}\n`);
    // on failure, the diff shows why in a few lines: each failed call's attempts, and the drachtio socket's drops
    const failedCalls = ordinaryTrouble().notAnswered.map((l) => ({ status: l.status, tried: l.tried, code: l.code }));
    expect({ exitCode: calls.exitCode, successful: calls.stats.successfulCalls, failed: calls.stats.failedCalls, failedCalls }).toEqual({
      exitCode: 0,
      successful: 150,
      failed: 0,
      failedCalls: [],
    });
    process.stdout.write(`fuzz: drachtio socket dropped ${String(dropped)} datagrams; fuzzer paused ${String(pausedMs)} ms for it to catch up\n`);
    // every race ended with an answer the caller could act on: 487 (CANCEL first) or 200 (answer first)
    expect(raced.filter((s) => s !== 487 && s !== 200)).toEqual([]);
    // the app is still running, and an ordinary call still works
    expect(await Promise.race([app.exited.then(() => 'exited'), sleep(100).then(() => 'running')])).toBe('running');
    expect((await runUac('call', { target: sip, calls: 1, domain: 'normal.test' })).exitCode).toBe(0);
    await expectNothingCounted(redis, PREFIX, 40000);

    // drachtio-server passes up only what it parsed; drachtio-srf (which prints to stderr) must not choke on any of it
    expect(app.stderr.filter((l) => /unable to parse|failed to parse/.test(l))).toEqual([]);
    const lines = app.logs().slice(logsBefore);
    expect(lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    // no log flood: warnings are not per message (on failure, the distinct messages show)
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings.length < 20 ? [] : [...new Set(warnings.map((w) => `${JSON.stringify(w.msg)} ${JSON.stringify(w.code ?? '')}`))]).toEqual([]);
    // one outcome line per call that reached the app, and not much else
    const outcomes = lines.filter((l) => typeof l.setupMs === 'number').length;
    expect(lines.length).toBeLessThan(outcomes * 2 + 400);
  }, 180000);
});
