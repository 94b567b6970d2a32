/**
 * Two dispatcher instances on one drachtio-server and one Redis act as one cluster: when one is
 * SIGKILLed mid-call, no answered call is cut; the survivor adopts its calls and, when a party hangs
 * up, sends the other leg its BYE and removes the record, so `active` ends at 0 and no record remains.
 */
import { callIdOfKey } from '../../lib/store/call-store';
import { expectNothingCounted as expectNothingCountedIn, leftInRedis } from '../helpers/counted';
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../harness/app';
import { drachtioSection, startDispatcher, writeConfig } from '../helpers/dispatcher';
import { newIds, RawSipClient, request, SDP } from '../helpers/raw-sip';

const PREFIX = 'clu:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** fast cluster timings for the test: a dead instance is noticed after ~1 s, legs are probed every 500 ms */
const CLUSTER = { heartbeatMs: 200, instanceTtlMs: 1000, watchIntervalMs: 500 };

describe('one cluster: an instance SIGKILLed mid-call loses no call and leaves nothing counted', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let answering: SippUas;
  let hangingUp: SippUas;
  let soak: { answer: SippUas; bye: SippUas; unavailable: SippUas; busy: SippUas };
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    [redisServer, drachtio, answering, hangingUp] = await Promise.all([
      startRedis(),
      startDrachtio(),
      startUas('answer'),
      startUas('answer-then-bye-any', { delayMs: 4000 }),
    ]);
    redis = redisServer.client();
    const [answer, bye, unavailable, busy] = await Promise.all([
      startUas('answer'),
      startUas('answer-then-bye-any', { delayMs: 1500 }),
      startUas('unavailable-503'),
      startUas('busy-486'),
    ]);
    soak = { answer, bye, unavailable, busy };
  }, 60000);

  // a failed test leaves no instance running (the next test starts its own with the same ids) and nothing counted
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.stop('SIGKILL')));
    await redis.flushall();
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop('SIGKILL')));
    await Promise.all([answering?.stop(), hangingUp?.stop(), ...Object.values(soak ?? {}).map((u) => u.stop())]);
    await drachtio?.stop();
    await redisServer?.stop();
  });

  const config = (id: string) => ({
    instanceId: id,
    drachtio: drachtioSection(drachtio),
    redis: { url: redisServer.url, keyPrefix: PREFIX },
    cluster: { ...CLUSTER, streamMaxLen: 100000 },
    // the soak sends many calls to a 503 target: passive health (test/sip/health.test.ts) would take it out
    health: { passiveFailures: 0 },
    routes: [
      {
        name: 'soak-mixed',
        match: { domains: ['mixed.test'] },
        targets: [
          { host: soak.unavailable.host, port: soak.unavailable.port, priority: 10, weight: 1 },
          { host: soak.answer.host, port: soak.answer.port, priority: 10, weight: 2 },
        ],
      },
      { name: 'soak-bye', match: { domains: ['bye.test'] }, targets: [{ host: soak.bye.host, port: soak.bye.port }] },
      { name: 'soak-busy', match: { domains: ['busy.test'] }, targets: [{ host: soak.busy.host, port: soak.busy.port }] },
      { name: 'callee-bye', match: { domains: ['callee-bye.test'] }, targets: [{ host: hangingUp.host, port: hangingUp.port }] },
      { name: 'all', targets: [{ host: answering.host, port: answering.port }] },
    ],
  });

  async function startPair(): Promise<[AppProcess, AppProcess]> {
    const pair = await Promise.all([startDispatcher(config('node-a')), startDispatcher(config('node-b'))]);
    apps.push(...pair);
    return pair;
  }

  async function owned(id: string): Promise<number> {
    return redis.scard(`${PREFIX}instance:${id}:calls`);
  }

  async function waitForRecords(n: number, timeoutMs = 10000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((await redis.keys(`${PREFIX}call:*`)).length < n) {
      if (Date.now() > until) throw new Error(`only ${String((await redis.keys(`${PREFIX}call:*`)).length)} of ${String(n)} calls recorded`);
      await sleep(100);
    }
  }

  /** As the shared helper, and on failure the left records, their events and every app's log lines of their calls. */
  async function expectNothingCounted(timeoutMs: number): Promise<void> {
    try {
      await expectNothingCountedIn(redis, PREFIX, timeoutMs);
    } catch (err) {
      const keys = (await leftInRedis(redis, PREFIX)).records.map((k) => k.slice(`${PREFIX}call:`.length));
      const callIds = new Set(keys.map(callIdOfKey));
      const records = await Promise.all(keys.map((k) => redis.hgetall(`${PREFIX}call:${k}`)));
      const events = (await redis.xrange(`${PREFIX}events`, '-', '+')).filter(([, f]) => keys.some((k) => f.includes(k)));
      const lines = apps.flatMap((a) => a.logs().filter((l) => callIds.has(String(l.callId))));
      throw new Error(
        `${(err as Error).message}\nleft records: ${JSON.stringify(records)}\ntheir events: ${JSON.stringify(events)}\ntheir log lines:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`,
      );
    }
  }

  async function endedEvents(): Promise<Array<Record<string, string>>> {
    const entries = await redis.xrange(`${PREFIX}events`, '-', '+');
    return entries
      .map(
        ([, fields]) =>
          Object.fromEntries(fields.reduce<string[][]>((acc, v, i) => (i % 2 === 0 ? [...acc, [v]] : (acc[acc.length - 1].push(v), acc)), [])) as Record<
            string,
            string
          >,
      )
      .filter((e) => e.type === 'ended');
  }

  it('callers hang up after one instance died: no call cut, every target leg gets its BYE, nothing left counted', async () => {
    const [a, b] = await startPair();
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const before = (await answering.stats()).messages.BYE_Recv ?? 0;
    const endedBefore = (await endedEvents()).length;
    const calls = 20;
    const run = runUac('call-bye-any', { target: sip, calls, rate: 20, concurrency: calls, holdMs: 6000, timeoutMs: 15000 });
    await waitForRecords(calls);
    const [ownedA, ownedB] = [await owned('node-a'), await owned('node-b')];
    expect(ownedA + ownedB).toBe(calls);
    expect(ownedA).toBeGreaterThan(0); // drachtio-server spreads new INVITEs over both connections
    expect(ownedB).toBeGreaterThan(0);

    await a.stop('SIGKILL');
    // the survivor adopts node-a's calls once its registry key expires
    for (let i = 0; i < 50 && (await owned('node-a')) > 0; i += 1) await sleep(100);
    expect(await owned('node-a')).toBe(0);
    expect(await owned('node-b')).toBe(calls);
    expect(b.logs().some((l) => l.code === 'B2B_WARN_CLUSTER_TAKEOVER' && l.dead === 'node-a' && l.calls === ownedA)).toBe(true);

    const r = await run;
    const hungUpAt = Date.now();
    // every caller held its call to the end and hung up itself (a BYE from us during the hold fails the call)
    expect(r.stats.successfulCalls).toBe(calls);
    // every target leg gets a BYE: node-b's own calls at once, the adopted ones within 2 watch intervals
    const s = await answering.waitForStats((x) => (x.messages.BYE_Recv ?? 0) >= before + calls, 2 * CLUSTER.watchIntervalMs + 3000);
    expect((s.messages.BYE_Recv ?? 0) - before).toBe(calls);
    expect(Date.now() - hungUpAt).toBeLessThan(2 * CLUSTER.watchIntervalMs + 3000);
    await expectNothingCounted(3000);
    expect((await endedEvents()).length - endedBefore).toBe(calls);
    expect(await b.stop('SIGTERM')).toBe(0);
  }, 90000);

  it('callees hang up after one instance died: every caller leg gets its BYE, nothing left counted', async () => {
    const [a, b] = await startPair();
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const calls = 10;
    // the callee hangs up 4 s after answering; callers wait for that BYE (uac-callee-bye)
    const run = runUac('callee-bye', { target: sip, domain: 'callee-bye.test', calls, rate: 20, concurrency: calls, timeoutMs: 15000 });
    await waitForRecords(calls);
    expect(await owned('node-a')).toBeGreaterThan(0);
    await a.stop('SIGKILL');
    const r = await run;
    // every caller got its BYE: from node-b for its own calls, from the adopter for node-a's
    expect(r.stats.successfulCalls).toBe(calls);
    await expectNothingCounted(2 * CLUSTER.watchIntervalMs + 3000);
    const s = await hangingUp.waitForStats((x) => x.successfulCalls >= calls, 5000);
    expect(s.successfulCalls).toBe(calls);
    expect(await b.stop('SIGTERM')).toBe(0);
  }, 90000);

  it('1,000 calls with failures and hangups from both sides over two instances, one SIGKILLed and restarted midway: nothing left counted, one end event per answered call', async () => {
    const [a, b] = await startPair();
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const firstEvent = (await redis.xrevrange(`${PREFIX}events`, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
    const runs = Promise.all([
      // caller hangs up; a third of first attempts get 503 and fail over
      runUac('call-bye-any', { target: sip, domain: 'mixed.test', calls: 500, rate: 50, concurrency: 200, holdMs: 1000, timeoutMs: 15000 }),
      // callee hangs up after 1.5 s
      runUac('callee-bye', { target: sip, domain: 'bye.test', calls: 300, rate: 30, concurrency: 150, timeoutMs: 15000 }),
      // rejected: 486 relayed
      runUac('expect-status', { target: sip, domain: 'busy.test', expectStatus: 486, calls: 200, rate: 20, concurrency: 50, timeoutMs: 15000 }),
    ]);
    await sleep(4000);
    await a.stop('SIGKILL');
    await sleep(500);
    const restarted = await startDispatcher(config('node-a'));
    apps.push(restarted);
    const results = await runs;
    const attempted = results.reduce((n, r) => n + r.stats.successfulCalls + r.stats.failedCalls, 0);
    expect(attempted).toBe(1000);
    // calls cut by the SIGKILL before they were answered fail at the caller; the rest succeed
    expect(results.reduce((n, r) => n + r.stats.successfulCalls, 0)).toBeGreaterThan(700);
    await expectNothingCounted(2 * CLUSTER.watchIntervalMs + 5000);
    const events = (await redis.xrange(`${PREFIX}events`, `(${firstEvent}`, '+')).map(([, f]) => f[f.indexOf('type') + 1]);
    const answered = events.filter((t) => t === 'answered').length;
    expect(answered).toBeGreaterThan(500);
    expect(events.filter((t) => t === 'ended').length).toBe(answered);
    expect(await restarted.stop('SIGTERM')).toBe(0);
    expect(await b.stop('SIGTERM')).toBe(0);
  }, 120000);

  it('sip-dispatcher hangup ends a call whichever instance owns it, live or adopted: BYE on both legs, record gone', async () => {
    const [a, b] = await startPair();
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const before = (await answering.stats()).messages.BYE_Recv ?? 0;
    // the callers get our BYE during their hold, which their scenario does not expect: we only wait for them to end
    const run = runUac('call', { target: sip, calls: 6, rate: 20, concurrency: 6, holdMs: 12000, timeoutMs: 30000 });
    await waitForRecords(6);
    const ownerOf = async (key: string) => redis.hget(`${PREFIX}call:${key}`, 'instance');
    const keys = (await redis.keys(`${PREFIX}call:*`)).map((k) => k.slice(`${PREFIX}call:`.length));
    const ofA: string[] = [];
    for (const k of keys) if ((await ownerOf(k)) === 'node-a') ofA.push(k);
    const ofB = keys.filter((k) => !ofA.includes(k));
    expect(ofA.length).toBeGreaterThan(0);
    expect(ofB.length).toBeGreaterThan(0);
    const cli = (key: string) =>
      spawnSync(process.execPath, ['bin/sip-dispatcher.js', 'hangup', key, '--config', writeConfig(config('cli')), '--wait', '10'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 30000,
      });

    // a live owner: the hangup reaches it over its control channel
    const live = cli(ofB[0]);
    expect({ status: live.status, stderr: live.stderr }).toMatchObject({ status: 0 });
    expect(await redis.exists(`${PREFIX}call:${ofB[0]}`)).toBe(0);

    // an adopted call: node-a dies, node-b adopts, the hangup goes to the adopter
    await a.stop('SIGKILL');
    for (let i = 0; i < 50 && (await owned('node-a')) > 0; i += 1) await sleep(100);
    expect(await ownerOf(ofA[0])).toBe('node-b');
    const adopted = cli(ofA[0]);
    expect({ status: adopted.status, stderr: adopted.stderr }).toMatchObject({ status: 0 });
    expect(await redis.exists(`${PREFIX}call:${ofA[0]}`)).toBe(0);

    // both legs of each got a BYE: the target's side counted here, the callers' scenarios ended early
    const s = await answering.waitForStats((x) => (x.messages.BYE_Recv ?? 0) >= before + 2, 5000);
    expect((s.messages.BYE_Recv ?? 0) - before).toBe(2);
    const ended = (await endedEvents()).filter((e) => e.by === 'operator');
    expect(ended.map((e) => e.call).sort()).toEqual([ofA[0], ofB[0]].sort());
    // the others run to their callers' BYE: the survivor ends them, its own and the adopted ones
    await run;
    await expectNothingCounted(2 * CLUSTER.watchIntervalMs + 3000);
    expect(await b.stop('SIGTERM')).toBe(0);
  }, 90000);

  it('an adopted call whose caller vanished without a BYE: the in-dialog OPTIONS gets 481, the target gets its BYE', async () => {
    // OPTIONS to the peers every 500 ms in this test (default 30 s)
    const pair = await Promise.all(['node-a', 'node-b'].map((id) => startDispatcher({ ...config(id), cluster: { ...CLUSTER, optionsIntervalMs: 500 } })));
    apps.push(...pair);
    const client = await new RawSipClient({ host: drachtio.sipAddress, port: drachtio.sipPort }).open();
    try {
      const before = (await answering.stats()).messages.BYE_Recv ?? 0;
      const ids = newIds();
      const local = `127.0.0.1:${client.port}`;
      const ruri = 'sip:200@vanish.test';
      const common = [`From: <sip:caller@${local}>;tag=${ids.tag}`, `Call-ID: ${ids.callId}`, 'Max-Forwards: 70'];
      client.send(
        request(
          `INVITE ${ruri} SIP/2.0`,
          [
            `Via: SIP/2.0/UDP ${local};branch=${ids.branch}`,
            ...common,
            `To: <${ruri}>`,
            'CSeq: 1 INVITE',
            `Contact: <sip:caller@${local}>`,
            'Content-Type: application/sdp',
          ],
          SDP,
        ),
      );
      const ok = await client.waitFor((r) => r.headers['call-id']?.[0] === ids.callId && r.status === 200);
      const contact = /<([^>]+)>/.exec(ok.headers.contact?.[0] ?? '')?.[1] ?? ruri;
      client.send(
        request(`ACK ${contact} SIP/2.0`, [`Via: SIP/2.0/UDP ${local};branch=${ids.branch}ack`, ...common, `To: ${ok.headers.to[0]}`, 'CSeq: 1 ACK']),
      );
      await waitForRecords(1);
      const key = (await redis.keys(`${PREFIX}call:*`))[0].slice(`${PREFIX}call:`.length);
      const owner = await redis.hget(`${PREFIX}call:${key}`, 'instance');
      const [dead, survivor] = owner === 'node-a' ? pair : [pair[1], pair[0]];
      await dead.stop('SIGKILL');
      // the survivor adopts the call and probes its peers: answer the caller's OPTIONS with 481, as a phone that lost the call would
      let options: string | undefined;
      for (let i = 0; i < 100 && !options; i += 1) {
        options = client.requests().find((raw) => raw.startsWith('OPTIONS ') && raw.includes(ids.callId));
        if (!options) await sleep(100);
      }
      expect(options).toBeDefined();
      const echoed = ['Via', 'From', 'To', 'Call-ID', 'CSeq'].map((h) => new RegExp(`^${h}:.*$`, 'im').exec(options ?? '')?.[0] ?? '');
      client.send(request('SIP/2.0 481 Call/Transaction Does Not Exist', echoed));
      const s = await answering.waitForStats((x) => (x.messages.BYE_Recv ?? 0) >= before + 1, 5000);
      expect((s.messages.BYE_Recv ?? 0) - before).toBe(1);
      await expectNothingCounted(3000);
      expect((await endedEvents()).find((e) => e.call === key)).toMatchObject({ by: 'caller' });
      expect(await survivor.stop('SIGTERM')).toBe(0);
    } finally {
      await client.close();
    }
  }, 60000);
});
