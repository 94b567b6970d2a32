/**
 * Max-Forwards end to end (RFC 3261 §16.3 step 3, §16.6 step 3): the INVITE sent to a target carries
 * the caller's Max-Forwards minus one; at 0 the caller gets 483 and nothing is forwarded; and a loop
 * between two dispatchers pointing at each other (each behind its own drachtio-server) ends with 483
 * after as many hops as the caller allowed, with one warning, instead of forwarding one call for ever.
 */
import type Redis from 'ioredis';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { startRedis, type RedisServer } from '../harness/redis';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { expectNothingCounted } from '../helpers/counted';
import { newIds, RawSipClient, SDP } from '../helpers/raw-sip';

const PREFIX = 'hop:';

/** A target that answers every INVITE 486 and keeps what it received, to read the Max-Forwards it got. */
class BusyTarget {
  readonly client: RawSipClient;
  private answered = new Set<string>();
  private timer?: NodeJS.Timeout;

  constructor(drachtio: DrachtioServer) {
    this.client = new RawSipClient({ host: drachtio.sipAddress, port: drachtio.sipPort });
  }

  async open(): Promise<this> {
    await this.client.open();
    this.timer = setInterval(() => this.answerNew(), 20);
    return this;
  }

  /** The INVITEs received so far, raw. */
  invites(): string[] {
    return this.client.requests().filter((r) => r.startsWith('INVITE '));
  }

  private answerNew(): void {
    for (const inv of this.invites()) {
      const lines = inv.split('\r\n');
      const pick = (name: string) => lines.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
      const callId = pick('Call-ID')[0];
      if (this.answered.has(callId)) continue;
      this.answered.add(callId);
      const to = `${pick('To')[0]};tag=busy${String(this.answered.size)}`;
      this.client.send(['SIP/2.0 486 Busy Here', ...pick('Via'), ...pick('From'), to, callId, ...pick('CSeq'), 'Content-Length: 0', '', ''].join('\r\n'));
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.client.close();
  }
}

/** Polls until `read()` satisfies `done` (log lines arrive from the app's stdout a little after the SIP response). */
async function settled<T>(read: () => T, done: (v: T) => boolean, timeoutMs = 3000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let v = read();
  while (!done(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    v = read();
  }
  return v;
}

const maxForwardsOf = (raw: string): number => Number(/^Max-Forwards:\s*(\d+)/im.exec(raw)?.[1]);

describe('Max-Forwards and forwarding loops', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtio: DrachtioServer;
  let app: AppProcess;
  let target: BusyTarget;
  let caller: RawSipClient;

  beforeAll(async () => {
    [redisServer, drachtio] = await Promise.all([startRedis(), startDrachtio()]);
    redis = redisServer.client();
    target = await new BusyTarget(drachtio).open();
    app = await startDispatcher({
      drachtio: drachtioSection(drachtio),
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      routes: [{ name: 'busy', targets: [{ host: '127.0.0.1', port: target.client.port }] }],
    });
    caller = await new RawSipClient({ host: drachtio.sipAddress, port: drachtio.sipPort }).open();
  }, 60000);

  afterAll(async () => {
    await caller?.close();
    await app?.stop('SIGTERM');
    await target?.close();
    await drachtio?.stop();
    await redisServer?.stop();
  });

  afterEach(async () => {
    await expectNothingCounted(redis, PREFIX);
    expect(app.logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });

  async function call(maxForwards: string): Promise<{ status: number; forwarded: number[] }> {
    const before = target.invites().length;
    const ids = newIds();
    const ruri = 'sip:4800@hops.test';
    const res = await caller.invite(ids, ruri, { body: SDP, extra: [`Max-Forwards: ${maxForwards}`] });
    caller.ackFailure(ids, ruri, res);
    return { status: res.status, forwarded: target.invites().slice(before).map(maxForwardsOf) };
  }

  it("forwards the caller's Max-Forwards minus one to the target", async () => {
    expect(await call('5')).toEqual({ status: 486, forwarded: [4] });
    expect(await call('1')).toEqual({ status: 486, forwarded: [0] });
  });

  it('answers 483 to Max-Forwards 0 and forwards nothing, with one warning', async () => {
    const before = app.logs().length;
    expect(await call('0')).toEqual({ status: 483, forwarded: [] });
    const warned = await settled(
      () =>
        app
          .logs()
          .slice(before)
          .filter((l) => l.code === 'B2B_ERR_TOO_MANY_HOPS'),
      (w) => w.length > 0,
    );
    expect(warned).toHaveLength(1);
  });
});

describe('a forwarding loop between two dispatchers', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let drachtioA: DrachtioServer;
  let drachtioB: DrachtioServer;
  let apps: AppProcess[] = [];
  let caller: RawSipClient;

  beforeAll(async () => {
    [redisServer, drachtioA, drachtioB] = await Promise.all([startRedis(), startDrachtio(), startDrachtio()]);
    redis = redisServer.client();
    // A sends every call to B's drachtio-server, and B sends every call back to A's: a loop
    const config = (id: string, own: DrachtioServer, next: DrachtioServer) => ({
      instanceId: id,
      drachtio: drachtioSection(own),
      redis: { url: redisServer.url, keyPrefix: `${PREFIX}${id}:` },
      routes: [{ name: 'loop', targets: [{ host: next.sipAddress, port: next.sipPort }] }],
    });
    apps = await Promise.all([startDispatcher(config('a', drachtioA, drachtioB)), startDispatcher(config('b', drachtioB, drachtioA))]);
    caller = await new RawSipClient({ host: drachtioA.sipAddress, port: drachtioA.sipPort }).open();
  }, 60000);

  afterAll(async () => {
    await caller?.close();
    await Promise.all(apps.map((a) => a.stop('SIGTERM')));
    await Promise.all([drachtioA?.stop(), drachtioB?.stop()]);
    await redisServer?.stop();
  });

  it('ends with 483 to the caller after Max-Forwards hops, one warning, and nothing left counted', async () => {
    const hops = 12;
    const ids = newIds();
    const ruri = 'sip:4801@loop.test';
    const t0 = Date.now();
    const res = await caller.invite(ids, ruri, { body: SDP, extra: [`Max-Forwards: ${String(hops)}`] });
    caller.ackFailure(ids, ruri, res);
    expect(res.status).toBe(483);
    expect(Date.now() - t0).toBeLessThan(5000);
    const failed = (l: Record<string, unknown>) => l.msg === 'call failed' && l.status === 483;
    const logs = await settled(
      () => apps.flatMap((a) => a.logs()),
      (ls) => ls.filter(failed).length >= hops && ls.some((l) => l.code === 'B2B_ERR_TOO_MANY_HOPS'),
    );
    // every dispatcher on the path forwarded once: hops INVITEs admitted, the last refused
    expect(logs.filter((l) => l.code === 'B2B_ERR_TOO_MANY_HOPS')).toHaveLength(1);
    expect(logs.filter(failed)).toHaveLength(hops);
    for (const id of ['a', 'b']) await expectNothingCounted(redis, `${PREFIX}${id}:`);
    expect(logs.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });
});
