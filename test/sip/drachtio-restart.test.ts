/**
 * Issue 7: a drachtio-server that restarts loses every dialog. With calls up, drachtio-server is
 * restarted on the same ports; once the dispatcher has reconnected it finds every answered call's
 * dialogs gone (local probe), ends the calls (records removed, `active` back to 0, nothing held in
 * memory) and sends each party a BYE outside the dialog, which drachtio-server builds from the stored
 * dialog data (Call-ID, tags, CSeq): every caller and every back-end learns the call is over.
 *
 * And the other case: the connection to drachtio-server drops but the server does not restart (here a
 * TCP relay between the dispatcher and drachtio-server is cut). drachtio-server keeps the dialogs but no
 * longer routes their requests to anyone; the dispatcher watches them, and when a caller hangs up
 * (its BYE is answered 481 by drachtio-server, which clears that dialog) the back-end gets its BYE.
 */
import net from 'node:net';
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';

const PREFIX = 'rst:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLUSTER = { heartbeatMs: 200, instanceTtlMs: 1000, watchIntervalMs: 500 };
const CALLS = 10;

/** A TCP relay to drachtio-server's admin port whose connections the test can cut. */
async function startRelay(to: number): Promise<{ port: number; cut(): number; close(): Promise<void> }> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: to });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cut: () => {
      const n = pairs.size;
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of [...pairs]) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

describe('drachtio-server restarts with calls up', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let answering: SippUas;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    [redisServer, drachtio, answering] = await Promise.all([startRedis(), startDrachtio(), startUas('answer')]);
    redis = redisServer.client();
  }, 60000);

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop('SIGKILL')));
    await answering?.stop();
    await drachtio?.stop();
    await redisServer?.stop();
  });

  function config(id: string, drachtioSectionValue: ReturnType<typeof drachtioSection>) {
    return {
      instanceId: id,
      drachtio: { ...drachtioSectionValue, reconnectMaxDelayMs: 200 },
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      cluster: CLUSTER,
      routes: [{ name: 'all', targets: [{ host: answering.host, port: answering.port }] }],
    };
  }

  async function waitForRecords(n: number, timeoutMs = 10000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((await redis.keys(`${PREFIX}call:*`)).length < n) {
      if (Date.now() > until) throw new Error(`only ${String((await redis.keys(`${PREFIX}call:*`)).length)} of ${String(n)} calls recorded`);
      await sleep(100);
    }
  }

  /** records, every target's `active`, and the calls the instance holds (its registry key, written every heartbeat) */
  async function state(id: string): Promise<{ records: string[]; active: number[]; held: number }> {
    const records = await redis.keys(`${PREFIX}call:*`);
    const ids = await redis.smembers(`${PREFIX}targets`);
    const active = await Promise.all(ids.map(async (t) => Number((await redis.hget(`${PREFIX}target:${t}`, 'active')) ?? 0)));
    const held = Number((await redis.hget(`${PREFIX}instance:${id}`, 'calls')) ?? -1);
    return { records, active, held };
  }

  async function expectNothingLeft(id: string, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await state(id);
      if (s.records.length === 0 && s.active.every((a) => a === 0) && s.held === 0) return;
      if (Date.now() > until) {
        expect(s).toEqual({ records: [], active: s.active.map(() => 0), held: 0 });
        return;
      }
      await sleep(100);
    }
  }

  async function endedEvents(): Promise<Array<Record<string, string>>> {
    const entries = await redis.xrange(`${PREFIX}events`, '-', '+');
    return entries
      .map(([, fields]) => {
        const o: Record<string, string> = {};
        for (let i = 0; i < fields.length; i += 2) o[fields[i]] = fields[i + 1];
        return o;
      })
      .filter((e) => e.type === 'ended');
  }

  const connectedLines = (app: AppProcess) => app.logs().filter((l) => l.msg === 'connected to drachtio');

  it('after the reconnect every call is ended within 10 s: nothing counted or held, every caller and every back-end got a BYE', async () => {
    const app = await startDispatcher(config('rst-a', drachtioSection(drachtio)));
    apps.push(app);
    const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
    const byesBefore = (await answering.stats()).messages.BYE_Recv ?? 0;
    const endedBefore = (await endedEvents()).length;
    // callers wait (up to 30 s) for a BYE and answer it: only a BYE from the dispatcher ends their call
    const run = runUac('callee-bye', { target: sip, calls: CALLS, rate: 20, concurrency: CALLS, timeoutMs: 30000 });
    await waitForRecords(CALLS);
    expect((await state('rst-a')).active.reduce((a, b) => a + b, 0)).toBe(CALLS);

    await drachtio.restart();
    // the dispatcher reconnects (reconnectMaxDelayMs 200)
    for (let i = 0; i < 100 && connectedLines(app).length < 2; i++) await sleep(100);
    expect(connectedLines(app).length).toBe(2);
    const reconnectedAt = Date.now();

    await expectNothingLeft('rst-a', 10000);
    const s = await answering.waitForStats((x) => (x.messages.BYE_Recv ?? 0) >= byesBefore + CALLS, 10000 - (Date.now() - reconnectedAt));
    expect((s.messages.BYE_Recv ?? 0) - byesBefore).toBe(CALLS);
    const r = await run;
    // every caller got its BYE (uac-callee-bye succeeds only on a BYE it answers)
    expect(r.stats.successfulCalls).toBe(CALLS);
    expect(Date.now() - reconnectedAt).toBeLessThan(10000);

    const lost = app.logs().filter((l) => l.code === 'B2B_WARN_DIALOG_LOST');
    expect(lost).toHaveLength(CALLS);
    expect(new Set(lost.map((l) => l.callId)).size).toBe(CALLS);
    expect(app.logs().filter((l) => l.msg === 'call ended' && l.by === 'drachtio-restart')).toHaveLength(CALLS);
    const ended = (await endedEvents()).slice(endedBefore);
    expect(ended.map((e) => e.by)).toEqual(Array(CALLS).fill('drachtio-restart'));
    expect(await app.stop('SIGTERM')).toBe(0);
  }, 90000);

  it('the connection drops but drachtio-server keeps the dialogs: calls go on, and when the callers hang up every back-end gets its BYE', async () => {
    const relay = await startRelay(drachtio.adminPort);
    try {
      const viaRelay = { servers: [{ host: '127.0.0.1', port: relay.port, secret: drachtio.secret }] };
      const app = await startDispatcher(config('rst-b', viaRelay));
      apps.push(app);
      const sip = { host: drachtio.sipAddress, port: drachtio.sipPort };
      const byesBefore = (await answering.stats()).messages.BYE_Recv ?? 0;
      const endedBefore = (await endedEvents()).length;
      // callers hold 5 s, then hang up; drachtio-server answers their BYE 481 (the dialogs have no owner)
      const run = runUac('call-bye-any', { target: sip, calls: CALLS, rate: 20, concurrency: CALLS, holdMs: 5000, timeoutMs: 15000 });
      await waitForRecords(CALLS);

      expect(relay.cut()).toBeGreaterThan(0);
      for (let i = 0; i < 100 && connectedLines(app).length < 2; i++) await sleep(100);
      expect(connectedLines(app).length).toBe(2);
      for (let i = 0; i < 50 && app.logs().filter((l) => l.code === 'B2B_WARN_DIALOG_ORPHANED').length < CALLS; i++) await sleep(100);
      expect(app.logs().filter((l) => l.code === 'B2B_WARN_DIALOG_ORPHANED')).toHaveLength(CALLS);
      // nothing was ended: the calls are up, counted and held
      const mid = await state('rst-b');
      expect(mid.records).toHaveLength(CALLS);
      expect(mid.active.reduce((a, b) => a + b, 0)).toBe(CALLS);
      expect(app.logs().some((l) => l.code === 'B2B_WARN_DIALOG_LOST')).toBe(false);

      const r = await run;
      const hungUpAt = Date.now();
      // no call was cut: each caller held to the end and hung up itself (a BYE from us during the hold fails it)
      expect(r.stats.successfulCalls).toBe(CALLS);
      const s = await answering.waitForStats((x) => (x.messages.BYE_Recv ?? 0) >= byesBefore + CALLS, 2 * CLUSTER.watchIntervalMs + 3000);
      expect((s.messages.BYE_Recv ?? 0) - byesBefore).toBe(CALLS);
      expect(Date.now() - hungUpAt).toBeLessThan(2 * CLUSTER.watchIntervalMs + 3000);
      await expectNothingLeft('rst-b', 3000);
      const ended = (await endedEvents()).slice(endedBefore);
      expect(ended.map((e) => e.by)).toEqual(Array(CALLS).fill('caller'));
      expect(await app.stop('SIGTERM')).toBe(0);
    } finally {
      await relay.close();
    }
  }, 90000);
});
