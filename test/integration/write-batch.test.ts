/**
 * The call path's write batch against a real redis-server: commands issued inside a window reach
 * Redis together, in one read event, when the window ends (or at once on flush), and nothing is lost.
 */
import type Redis from 'ioredis';
import { WriteBatch } from '../../lib/store/write-batch';
import { CallStore, type CallRecord } from '../../lib/store/call-store';
import { startRedis, type RedisServer } from '../harness/redis';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How many times Redis ran each command (INFO commandstats), e.g. `evalsha`, `hgetall`. */
async function calls(observer: Redis): Promise<Record<string, number>> {
  const text = await observer.info('commandstats');
  return Object.fromEntries([...text.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

function record(key: string): CallRecord {
  return {
    key,
    callId: key,
    route: 'r',
    target: 't1',
    instance: 'node-a',
    server: 's',
    answeredAt: 2,
    startedAt: 1,
    aCallId: key,
    aLocalTag: 'al',
    aRemoteTag: 'ar',
    aDialogId: `${key};a`,
    aUri: 'sip:a@h',
    bCallId: `b-${key}`,
    bLocalTag: 'bl',
    bRemoteTag: 'br',
    bDialogId: `b-${key};b`,
    bUri: 'sip:b@h',
  };
}

async function readsProcessed(observer: Redis): Promise<number> {
  return Number((await observer.info('stats')).match(/total_reads_processed:(\d+)/)?.[1]);
}

describe('WriteBatch against a real redis-server', () => {
  let server: RedisServer;
  let writer: Redis;
  let observer: Redis;

  beforeAll(async () => {
    server = await startRedis();
    writer = server.client();
    observer = server.client();
    await writer.ping();
    await observer.ping();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    await observer.flushdb();
  });

  it('holds the commands of one window and sends them in one write when it ends', async () => {
    const batch = new WriteBatch(writer, 150);
    const r0 = await readsProcessed(observer);
    const done = Promise.all(
      [1, 2, 3, 4].map((i) => {
        batch.hold();
        return writer.set(`k${i}`, String(i));
      }),
    );
    await sleep(60);
    expect(await observer.exists('k1', 'k2', 'k3', 'k4')).toBe(0);
    await done;
    expect(await observer.mget('k1', 'k2', 'k3', 'k4')).toEqual(['1', '2', '3', '4']);
    const r1 = await readsProcessed(observer);
    // the observer's EXISTS, MGET and INFO, and one read for the four SETs
    expect(r1 - r0).toBe(4);
  });

  it('flush sends what is held at once', async () => {
    const batch = new WriteBatch(writer, 10000);
    batch.hold();
    const set = writer.set('k', 'v');
    await sleep(30);
    expect(await observer.exists('k')).toBe(0);
    const t0 = Date.now();
    batch.flush();
    await set;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await observer.get('k')).toBe('v');
  });

  it('windowMs 0: every command goes at once', async () => {
    const batch = new WriteBatch(writer, 0);
    const r0 = await readsProcessed(observer);
    for (const i of [1, 2, 3]) {
      batch.hold();
      await writer.set(`n${i}`, 'x');
    }
    expect(await observer.exists('n1', 'n2', 'n3')).toBe(3);
    expect((await readsProcessed(observer)) - r0).toBe(5);
  });

  describe("the call path's writes as one script per window (CallStore)", () => {
    /** A connection of its own (the batch wraps its sendCommand), ready, with a batched store on it. */
    async function batchedStore(windowMs: number): Promise<{ client: Redis; batch: WriteBatch; store: CallStore }> {
      const client = server.client();
      await client.ping();
      const batch = new WriteBatch(client, windowMs);
      return { client, batch, store: new CallStore(client, 'wb:', 'node-a', undefined, batch) };
    }

    it('the writes of one window run as one script, each with its own result', async () => {
      const { client, store } = await batchedStore(100);
      await store.recordAnswered(record('warm')); // loads the scripts on this connection (EVAL once)
      await observer.config('RESETSTAT');
      const results = await Promise.all([
        store.recordAnswered(record('c1')),
        store.recordAnswered(record('c2')),
        store.recordAnswered(record('c1')),
        store.endCall('c2', 'caller'),
        store.endCall('nothing-here'),
        store.recordFailedAttempt('t1', '503'),
      ]);
      expect(results).toEqual([true, true, false, 't1', null, undefined]);
      const ran = await calls(observer);
      expect(ran.evalsha).toBe(1);
      expect(ran.eval ?? 0).toBe(0);
      expect(await observer.hget('wb:target:t1', 'active')).toBe('2');
      expect(await observer.hgetall('wb:target:t1')).toMatchObject({ active: '2', attempts: '4', answered: '3', 'failed:503': '1' });
      expect(await observer.exists('wb:call:c1', 'wb:call:c2')).toBe(1);
      client.disconnect();
    });

    it('a command issued after a write, on the same connection, runs after it (a read sees the write)', async () => {
      const { client, batch, store } = await batchedStore(10000);
      const warm = store.recordAnswered(record('warm'));
      batch.flush();
      await warm;
      const recorded = store.recordAnswered(record('c1'));
      const read = client.hget('wb:call:c1', 'target');
      const ended = store.endCall('c1');
      const readAfterEnd = client.exists('wb:call:c1');
      // all of it waits for the window (10 s) unless flushed
      await sleep(50);
      expect(await observer.exists('wb:call:c1')).toBe(0);
      const t0 = Date.now();
      batch.flush();
      expect(await Promise.all([recorded, read, ended, readAfterEnd])).toEqual([true, 't1', 't1', 0]);
      expect(Date.now() - t0).toBeLessThan(1000);
      client.disconnect();
    });

    it('an op that fails in Redis rejects alone; the others of its window stand', async () => {
      const { client, store } = await batchedStore(20);
      await observer.set('wb:target:broken', 'not a hash');
      const [ok1, bad, ok2] = await Promise.allSettled([
        store.recordAnswered(record('c1')),
        store.recordFailedAttempt('broken', '503'),
        store.recordAnswered(record('c2')),
      ]);
      expect(ok1).toEqual({ status: 'fulfilled', value: true });
      expect(ok2).toEqual({ status: 'fulfilled', value: true });
      expect(bad.status).toBe('rejected');
      expect(String((bad as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
      expect(await observer.exists('wb:call:c1', 'wb:call:c2')).toBe(2);
      client.disconnect();
    });

    it("a script call that throws fails its window's writes, never the command that set it off", async () => {
      const { client, store } = await batchedStore(50);
      Object.assign(client, {
        sipdWriteBatch: () => {
          throw new Error('thrown by the client');
        },
      });
      const recorded = store.recordAnswered(record('c1')).catch((err: unknown) => err);
      // this GET sends the window first (the throw), and must itself go through
      expect(await client.get('wb:nothing')).toBeNull();
      expect(await recorded).toMatchObject({ message: 'thrown by the client' });
      client.disconnect();
    });

    it('after SCRIPT FLUSH a window is resent whole (as EVAL), before the writes gathered since', async () => {
      const { client, batch, store } = await batchedStore(30);
      await store.recordAnswered(record('warm'));
      await observer.script('FLUSH');
      const recorded = store.recordAnswered(record('c1'));
      batch.flush(); // this window goes now: its EVALSHA gets NOSCRIPT and ioredis resends it
      const ended = store.endCall('c1'); // the next window: it must not overtake the resend
      expect(await Promise.all([recorded, ended])).toEqual([true, 't1']);
      expect(await observer.exists('wb:call:c1')).toBe(0);
      expect(await observer.hget('wb:target:t1', 'active')).toBe('1'); // the warm-up call only
      client.disconnect();
    });
  });
});
