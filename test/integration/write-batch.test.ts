/**
 * The call path's write batch against a real redis-server: commands issued inside a window reach
 * Redis together, in one read event, when the window ends (or at once on flush), and nothing is lost.
 */
import type Redis from 'ioredis';
import { WriteBatch } from '../../lib/store/write-batch';
import { startRedis, type RedisServer } from '../harness/redis';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
});
