/**
 * The dispatcher end to end: sipp UAC -> drachtio (emulator, or a real drachtio-server with
 * DRACHTIO_BIN) -> apps/dispatcher -> sipp UAS back-ends, with a real redis-server.
 * One dispatcher serves every scenario; each scenario has its own Request-URI domain, route and
 * back-ends, so counters and sipp statistics of one never mix with another's.
 */
import { expectNothingCounted } from '../helpers/counted';
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, uacCallId, type SippStats, type SippUas, type UacScenario, type UasBehaviour } from '../harness/sipp';
import { binomialBetween } from '../helpers/binomial';
import { drachtioSection, startDispatcher, targetId } from '../helpers/dispatcher';
import { newIds, RawSipClient, SDP } from '../helpers/raw-sip';

const PREFIX = 'e2e:';

interface TargetSpec {
  behaviour: UasBehaviour;
  priority: number;
  weight: number;
  delayMs?: number;
}

/** scenario name -> its back-ends; the route matches Request-URI domain `<name>.test` */
const SCENARIOS: Record<string, { targets: TargetSpec[]; strategy?: 'weighted' | 'parallel'; provisionalTimeoutMs?: number }> = {
  weights: {
    targets: [
      { behaviour: 'answer', priority: 30, weight: 60 },
      { behaviour: 'answer', priority: 30, weight: 40 },
      { behaviour: 'answer', priority: 40, weight: 0 },
    ],
  },
  // a 503 without Retry-After: one with it would quarantine the target (test/sip/health.test.ts)
  failover503: {
    targets: [
      { behaviour: 'unavailable-503', priority: 10, weight: 1 },
      { behaviour: 'answer', priority: 20, weight: 1 },
    ],
  },
  silent: {
    provisionalTimeoutMs: 700,
    targets: [
      { behaviour: 'silent', priority: 10, weight: 1 },
      { behaviour: 'answer', priority: 20, weight: 1 },
    ],
  },
  backup: {
    targets: [
      { behaviour: 'unavailable-503', priority: 10, weight: 50 },
      { behaviour: 'unavailable-503', priority: 10, weight: 50 },
      { behaviour: 'answer', priority: 20, weight: 0 },
    ],
  },
  cancel: {
    targets: [
      { behaviour: 'no-answer', priority: 10, weight: 1 },
      { behaviour: 'answer', priority: 20, weight: 1 },
    ],
  },
  busy: {
    targets: [
      { behaviour: 'busy-486', priority: 10, weight: 1 },
      { behaviour: 'answer', priority: 20, weight: 1 },
    ],
  },
  allfail: {
    targets: [
      { behaviour: 'unavailable-503', priority: 10, weight: 1 },
      { behaviour: 'unavailable-503', priority: 20, weight: 1 },
    ],
  },
  calleebye: {
    targets: [{ behaviour: 'answer-then-bye', priority: 10, weight: 1, delayMs: 500 }],
  },
  plain: {
    targets: [{ behaviour: 'ringing-then-answer', priority: 10, weight: 1, delayMs: 200 }],
  },
  indialog: {
    targets: [{ behaviour: 'in-dialog', priority: 10, weight: 1 }],
  },
  parallel: {
    strategy: 'parallel',
    targets: [
      { behaviour: 'no-answer', priority: 10, weight: 1 },
      { behaviour: 'ringing-then-answer', priority: 10, weight: 1, delayMs: 300 },
    ],
  },
};

/** Per-target counts compared between Redis and the back-end's own sipp statistics. */
interface Counted {
  attempts: number;
  canceled: number;
  failed: Record<string, number>;
}

const sortedKeys = <T>(o: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

/** sipp rewrites its statistics file once a second: a count of zero is only trusted after that */
const settle = () => new Promise((r) => setTimeout(r, 1200));

/**
 * The weighted spread: SPREAD_CALLS calls over two targets weighted 60:40; the 60-weight target's
 * count X must lie in [SPREAD_MIN, SPREAD_MAX]. X ~ Binomial(1500, p), and (exact binomial sums,
 * recomputed by the test itself so that changing a constant cannot quietly weaken it):
 *   - a correct 60:40 selection (p = 0.6) fails with P(X < 820) + P(X > 985) = 1.24e-5 + 2.7e-6 = 1.5e-5;
 *   - a selection that ignores weights (p = 0.5) passes with P(820 <= X <= 985) = 1.6e-4.
 * (The old band, 300 calls within 4 sigma of 180, let a 50:50 split through 2 times in 3.)
 */
const SPREAD_CALLS = 1500;
const SPREAD_MIN = 820;
const SPREAD_MAX = 985;

describe('dispatcher end to end (sipp -> drachtio -> dispatcher -> sipp)', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let app: AppProcess;
  let client: RawSipClient;
  const uas = new Map<string, SippUas[]>();

  const sip = () => ({ host: drachtio.sipAddress, port: drachtio.sipPort });
  const counters = async (u: SippUas) => redis.hgetall(`${PREFIX}target:${targetId(u)}`);

  beforeAll(async () => {
    [redisServer, drachtio] = await Promise.all([startRedis(), startDrachtio()]);
    redis = redisServer.client();
    const routes = [];
    for (const [name, spec] of Object.entries(SCENARIOS)) {
      const started = await Promise.all(spec.targets.map((t) => startUas(t.behaviour, { delayMs: t.delayMs })));
      uas.set(name, started);
      routes.push({
        name,
        match: { domains: [`${name}.test`] },
        ...(spec.strategy ? { strategy: spec.strategy } : {}),
        ...(spec.provisionalTimeoutMs ? { provisionalTimeoutMs: spec.provisionalTimeoutMs } : {}),
        // a silent target (a dead box) would be probed down: these tests need it tried, so it is not probed
        targets: spec.targets.map((t, i) => ({
          host: started[i].host,
          port: started[i].port,
          priority: t.priority,
          weight: t.weight,
          ...(t.behaviour === 'silent' ? { probe: false } : {}),
        })),
      });
    }
    app = await startDispatcher(
      {
        drachtio: drachtioSection(drachtio),
        redis: { url: redisServer.url, keyPrefix: PREFIX },
        log: { level: 'info' },
        call: { retryAfterSeconds: 17 },
        // these tests send many calls to failing targets: passive health (test/sip/health.test.ts) would take them out
        health: { passiveFailures: 0 },
        routes,
      },
      { INSTANCE_ID: 'e2e-1' },
    );
    client = await new RawSipClient(sip()).open();
  }, 60000);

  afterAll(async () => {
    await client?.close();
    await app?.stop('SIGTERM');
    await Promise.all([...uas.values()].flat().map((u) => u.stop()));
    await drachtio?.stop();
    await redisServer?.stop();
  });

  /** After every scenario: no call record left, and every target's `active` back to zero. */
  afterEach(async () => {
    await expectNothingCounted(redis, PREFIX);
    // Redis counts what the back-ends saw: per target, `attempts` is the number of calls (INVITEs
    // that opened a call, not retransmissions) its sipp received, `canceled` the CANCELs it received,
    // and `failed:<status>` the final responses of that status it sent (487 answers a CANCEL, so it
    // is `canceled`). `failed:timeout` and `failed:error` have no sipp counterpart.
    const expected = async (u: SippUas): Promise<Counted> => {
      const s = await u.stats();
      const failed: Record<string, number> = {};
      for (const [k, v] of Object.entries(s.messages)) {
        const m = /^([3-6]\d\d)_Sent$/.exec(k);
        if (m && m[1] !== '487' && v > 0) failed[m[1]] = v;
      }
      return { attempts: s.incomingCalls, canceled: s.messages.CANCEL_Recv ?? 0, failed: sortedKeys(failed) };
    };
    const counted = async (u: SippUas): Promise<Counted> => {
      const h = await counters(u);
      const failed: Record<string, number> = {};
      for (const [k, v] of Object.entries(h)) if (/^failed:\d{3}$/.test(k)) failed[k.slice(7)] = Number(v);
      return { attempts: Number(h.attempts ?? 0), canceled: Number(h.canceled ?? 0), failed: sortedKeys(failed) };
    };
    const all = [...uas.values()].flat();
    const until = Date.now() + 4000; // sipp rewrites its statistics once a second
    for (;;) {
      const [want, got] = await Promise.all([Promise.all(all.map(expected)), Promise.all(all.map(counted))]);
      const table = (rows: Counted[]) => Object.fromEntries(all.map((u, i) => [`${u.behaviour} ${targetId(u)}`, rows[i]]));
      if (JSON.stringify(want) === JSON.stringify(got) || Date.now() > until) {
        expect(table(got)).toEqual(table(want));
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    // and each attempt has exactly one outcome: answered, canceled or failed:<why>
    for (const id of await redis.smembers(`${PREFIX}targets`)) {
      const h = await redis.hgetall(`${PREFIX}target:${id}`);
      const failed = Object.entries(h)
        .filter(([k]) => k.startsWith('failed:'))
        .reduce((sum, [, v]) => sum + Number(v), 0);
      expect({ id, attempts: Number(h.attempts ?? 0) }).toEqual({ id, attempts: Number(h.answered ?? 0) + Number(h.canceled ?? 0) + failed });
    }
  });

  it(`spreads ${SPREAD_CALLS} calls 60:40 by weight and never uses the backup while the primaries answer`, async () => {
    expect(1 - binomialBetween(SPREAD_CALLS, SPREAD_MIN, SPREAD_MAX, 0.6)).toBeLessThan(1e-4);
    expect(binomialBetween(SPREAD_CALLS, SPREAD_MIN, SPREAD_MAX, 0.5)).toBeLessThan(1e-3);
    const [a, b, backup] = uas.get('weights')!;
    const n = SPREAD_CALLS;
    const r = await runUac('call', { target: sip(), domain: 'weights.test', calls: n, rate: 100, concurrency: 60, holdMs: 20 });
    expect(r.exitCode).toBe(0);
    expect(r.stats.successfulCalls).toBe(n);
    // sipp writes its statistics once a second: wait until both primaries' counts add up
    const done = async () => (await a.stats()).incomingCalls + (await b.stats()).incomingCalls >= n;
    for (let i = 0; i < 100 && !(await done()); i += 1) await new Promise((r) => setTimeout(r, 100));
    const [sa, sb, sk] = await Promise.all([a, b, backup].map((u) => u.stats()));
    expect(sa.incomingCalls + sb.incomingCalls).toBe(n);
    expect(sk.incomingCalls).toBe(0);
    expect(sa.incomingCalls).toBeGreaterThanOrEqual(SPREAD_MIN);
    expect(sa.incomingCalls).toBeLessThanOrEqual(SPREAD_MAX);
    // Redis agrees with sipp
    expect(Number((await counters(a)).answered)).toBe(sa.incomingCalls);
    expect(Number((await counters(b)).answered)).toBe(sb.incomingCalls);
  }, 120000);

  it('fails over on 503 to the next target, and counts the failure', async () => {
    const [bad, good] = uas.get('failover503')!;
    const r = await runUac('call', { target: sip(), domain: 'failover503.test', calls: 5, rate: 5 });
    expect(r.exitCode).toBe(0);
    expect((await bad.waitForStats((x) => x.incomingCalls >= 5)).incomingCalls).toBe(5);
    expect((await good.waitForStats((x) => x.incomingCalls >= 5)).incomingCalls).toBe(5);
    expect(await counters(bad)).toMatchObject({ attempts: '5', 'failed:503': '5' });
    expect(await counters(good)).toMatchObject({ attempts: '5', answered: '5' }); // active: see afterEach
  }, 60000);

  it('fails over from a silent target after provisionalTimeoutMs', async () => {
    const [silent, good] = uas.get('silent')!;
    const r = await runUac('call', { target: sip(), domain: 'silent.test', calls: 2, rate: 2 });
    expect(r.exitCode).toBe(0);
    expect((await silent.waitForStats((x) => (x.messages.INVITE_Recv ?? 0) >= 2)).incomingCalls).toBe(2);
    expect((await good.waitForStats((x) => x.incomingCalls >= 2)).incomingCalls).toBe(2);
    expect(await counters(silent)).toMatchObject({ 'failed:timeout': '2' });
  }, 60000);

  it('uses the backup priority only after the whole primary tier has failed', async () => {
    const [p1, p2, backup] = uas.get('backup')!;
    const r = await runUac('call', { target: sip(), domain: 'backup.test', calls: 4, rate: 4 });
    expect(r.exitCode).toBe(0);
    expect((await p1.waitForStats((x) => x.incomingCalls >= 4)).incomingCalls).toBe(4);
    expect((await p2.waitForStats((x) => x.incomingCalls >= 4)).incomingCalls).toBe(4);
    expect((await backup.waitForStats((x) => x.incomingCalls >= 4)).incomingCalls).toBe(4);
  }, 60000);

  it('stops the hunt when the caller cancels: 487 to the caller, CANCEL to the ringing target, backup untouched', async () => {
    const [ringing, backup] = uas.get('cancel')!;
    const r = await runUac('cancel-after-ringing', { target: sip(), domain: 'cancel.test', calls: 2, rate: 2, holdMs: 500 });
    expect(r.exitCode).toBe(0);
    const s = await ringing.waitForStats((x) => (x.messages.CANCEL_Recv ?? 0) >= 2);
    expect(s.messages.CANCEL_Recv).toBe(2);
    expect(await counters(ringing)).toMatchObject({ attempts: '2', canceled: '2' });
    await settle();
    expect((await backup.stats()).incomingCalls).toBe(0);
  }, 60000);

  it('relays a 486 to the caller without trying another target', async () => {
    const [busy, other] = uas.get('busy')!;
    const r = await runUac('expect-status', { target: sip(), domain: 'busy.test', expectStatus: 486 });
    expect(r.exitCode).toBe(0);
    expect((await busy.waitForStats((x) => x.incomingCalls >= 1)).incomingCalls).toBe(1);
    await settle();
    expect((await other.stats()).incomingCalls).toBe(0);
  }, 60000);

  it('answers 503 with Retry-After: retryAfterSeconds when every target fails', async () => {
    const [a, b] = uas.get('allfail')!;
    const ids = newIds();
    const ruri = 'sip:service@allfail.test';
    const res = await client.invite(ids, ruri, { body: SDP });
    client.ackFailure(ids, ruri, res);
    expect({ status: res.status, retryAfter: res.headers['retry-after'] }).toEqual({ status: 503, retryAfter: ['17'] });
    expect((await a.waitForStats((x) => x.incomingCalls >= 1)).incomingCalls).toBe(1);
    expect((await b.waitForStats((x) => x.incomingCalls >= 1)).incomingCalls).toBe(1);
    const line = app.logs().find((l) => l.callId === ids.callId && l.msg === 'call failed: no target available');
    expect(line).toMatchObject({ route: 'allfail', status: 503 });
    expect((line?.tried as unknown[]).length).toBe(2);
  }, 60000);

  it('answers 404 when no route matches', async () => {
    const r = await runUac('expect-status', { target: sip(), domain: 'nowhere.invalid', expectStatus: 404 });
    expect(r.exitCode).toBe(0);
  }, 60000);

  it('ends both legs when the caller hangs up', async () => {
    const [target] = uas.get('plain')!;
    const r = await runUac('call', { target: sip(), domain: 'plain.test', calls: 3, rate: 3, holdMs: 300 });
    expect(r.exitCode).toBe(0);
    const s = await target.waitForStats((x) => x.successfulCalls >= 3);
    expect(s.messages.BYE_Recv).toBe(3);
  }, 60000);

  it('ends both legs when the callee hangs up', async () => {
    const [target] = uas.get('calleebye')!;
    const r = await runUac('callee-bye', { target: sip(), domain: 'calleebye.test', calls: 2, rate: 2 });
    expect(r.exitCode).toBe(0);
    const s = await target.waitForStats((x) => x.successfulCalls >= 2);
    expect(s.messages.BYE_Sent).toBe(2);
  }, 60000);

  /**
   * One call to the 'in-dialog' target with an in-dialog request from the caller (uac-<scenario>.xml):
   * the caller's scenario checks the target's distinctive response, the target's scenario checks
   * the relayed request (uas-in-dialog.xml); either failing fails its call. Returns the target's
   * sipp message counts of this call.
   */
  async function inDialogCall(scenario: UacScenario): Promise<Record<string, number>> {
    const [target] = uas.get('indialog')!;
    const before = await target.stats();
    const ended = (x: SippStats) => x.successfulCalls + x.failedCalls;
    const r = await runUac(scenario, { target: sip(), domain: 'indialog.test', calls: 1, holdMs: 100, timeoutMs: 4000 });
    const after = await target.waitForStats((x) => ended(x) > ended(before));
    expect({ caller: r.exitCode, target: { ok: after.successfulCalls - before.successfulCalls, failed: after.failedCalls - before.failedCalls } }).toEqual({
      caller: 0,
      target: { ok: 1, failed: 0 },
    });
    const keys = new Set([...Object.keys(before.messages), ...Object.keys(after.messages)]);
    return Object.fromEntries([...keys].map((k) => [k, (after.messages[k] ?? 0) - (before.messages[k] ?? 0)]));
  }

  it("relays a re-INVITE's offer to the target and the target's answer back to the caller", async () => {
    const got = await inDialogCall('reinvite-sdp');
    expect({ INVITE: got.INVITE_Recv, ACK: got.ACK_Recv }).toEqual({ INVITE: 2, ACK: 2 });
  }, 60000);

  it("relays an offer-less re-INVITE: the target's offer in the caller's 200, the caller's answer in the target's ACK", async () => {
    const got = await inDialogCall('reinvite-offerless');
    expect({ INVITE: got.INVITE_Recv, ACK: got.ACK_Recv }).toEqual({ INVITE: 2, ACK: 2 });
  }, 60000);

  it("relays NOTIFY with its Event, Subscription-State and body, and the target's response back", async () => {
    expect((await inDialogCall('notify')).NOTIFY_Recv).toBe(1);
  }, 60000);

  it("relays MESSAGE with its body, and the target's 202 back", async () => {
    expect((await inDialogCall('message')).MESSAGE_Recv).toBe(1);
  }, 60000);

  it("relays an in-dialog OPTIONS, and the target's 200 with its body back", async () => {
    expect((await inDialogCall('options')).OPTIONS_Recv).toBe(1);
  }, 60000);

  it("relays REFER with Refer-To and Referred-By, the target's 202 back, and the target's NOTIFY to the caller", async () => {
    const got = await inDialogCall('refer');
    expect({ REFER: got.REFER_Recv, NOTIFY_Sent: got.NOTIFY_Sent, answered: got['200_Recv'] }).toEqual({ REFER: 1, NOTIFY_Sent: 1, answered: 1 });
  }, 60000);

  it('relays UPDATE and INFO to the other leg', async () => {
    const [target] = uas.get('plain')!;
    const before = (await target.stats()).messages;
    const r = await runUac('update-info', { target: sip(), domain: 'plain.test', calls: 1, rate: 1 });
    expect(r.exitCode).toBe(0);
    const s = await target.waitForStats((x) => (x.messages.INFO_Recv ?? 0) > (before.INFO_Recv ?? 0));
    expect((s.messages.UPDATE_Recv ?? 0) - (before.UPDATE_Recv ?? 0)).toBe(1);
    expect((s.messages.INFO_Recv ?? 0) - (before.INFO_Recv ?? 0)).toBe(1);
  }, 60000);

  it('rings targets in parallel and bridges the first to answer', async () => {
    const [never, answers] = uas.get('parallel')!;
    const r = await runUac('call', { target: sip(), domain: 'parallel.test', calls: 2, rate: 1 });
    expect(r.exitCode).toBe(0);
    expect((await answers.waitForStats((x) => x.incomingCalls >= 2)).incomingCalls).toBe(2);
    const s = await never.waitForStats((x) => (x.messages.CANCEL_Recv ?? 0) >= 2);
    expect(s.incomingCalls).toBe(2);
    expect(await counters(never)).toMatchObject({ attempts: '2', canceled: '2' });
    expect(await counters(answers)).toMatchObject({ attempts: '2', answered: '2' });
  }, 60000);

  it('logs exactly one outcome line per call, with its Call-ID, route and status', async () => {
    const run = `logs-${Date.now()}`;
    const [plain] = uas.get('plain')!;
    const runs: Array<{ prefix: string; calls: number; go: (prefix: string) => ReturnType<typeof runUac>; want: Record<string, unknown> }> = [
      {
        prefix: `${run}-answered`,
        calls: 3,
        go: (p) => runUac('call', { target: sip(), domain: 'plain.test', calls: 3, rate: 10, holdMs: 100, callIdPrefix: p }),
        want: { msg: 'call answered', route: 'plain', status: 200, target: targetId(plain) },
      },
      {
        prefix: `${run}-busy`,
        calls: 1,
        go: (p) => runUac('expect-status', { target: sip(), domain: 'busy.test', expectStatus: 486, callIdPrefix: p }),
        want: { msg: 'call failed', route: 'busy', status: 486 },
      },
      {
        prefix: `${run}-allfail`,
        calls: 1,
        go: (p) => runUac('expect-status', { target: sip(), domain: 'allfail.test', expectStatus: 503, callIdPrefix: p }),
        want: { msg: 'call failed: no target available', route: 'allfail', status: 503 },
      },
      {
        prefix: `${run}-noroute`,
        calls: 1,
        go: (p) => runUac('expect-status', { target: sip(), domain: 'nowhere.invalid', expectStatus: 404, callIdPrefix: p }),
        want: { msg: 'call rejected: no route', status: 404, domain: 'nowhere.invalid' },
      },
      {
        prefix: `${run}-cancel`,
        calls: 2,
        go: (p) => runUac('cancel-after-ringing', { target: sip(), domain: 'cancel.test', calls: 2, rate: 10, holdMs: 200, callIdPrefix: p }),
        want: { msg: 'call canceled by caller', route: 'cancel', status: 487 },
      },
    ];
    const results = await Promise.all(runs.map((r) => r.go(r.prefix)));
    expect(results.map((r) => r.exitCode)).toEqual(runs.map(() => 0));
    await new Promise((r) => setTimeout(r, 300)); // the dispatcher's last lines after the callers' last message

    const outcome = /^call (answered|failed|rejected|canceled|abandoned)/;
    const expected = runs.flatMap((r) => Array.from({ length: r.calls }, (_, i) => ({ callId: uacCallId(r.prefix, i + 1), want: r.want })));
    const lines = app.logs().filter((l) => typeof l.callId === 'string' && l.callId.startsWith(run) && outcome.test(String(l.msg)));
    // exactly the calls placed, each once
    expect(lines.map((l) => l.callId).sort()).toEqual(expected.map((e) => e.callId).sort());
    for (const { callId, want } of expected) expect(lines.find((l) => l.callId === callId)).toMatchObject(want);
    // and each answered call ended once
    const ended = app.logs().filter((l) => l.msg === 'call ended' && String(l.callId).startsWith(`${run}-answered`));
    expect(ended.map((l) => [l.callId, l.by]).sort()).toEqual([1, 2, 3].map((n) => [uacCallId(`${run}-answered`, n), 'caller']));
  }, 60000);
});
