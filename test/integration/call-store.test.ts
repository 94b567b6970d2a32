import type Redis from 'ioredis';
import { CallStore, type CallRecord } from '../../lib/store/call-store';
import { createRedis } from '../../lib/store/redis-client';
import { createLogger } from '../../lib/logger';
import { validateConfig } from '../../lib/config/load';
import { WriteBatch } from '../../lib/store/write-batch';
import { startRedis, type RedisServer } from '../harness/redis';

const TARGET = 'udp:127.0.0.1:5070';

function record(callId: string, target = TARGET, instance = 'node-a'): CallRecord {
  return {
    key: callId,
    callId,
    route: 'r',
    target,
    instance,
    server: '127.0.0.1:9022',
    answeredAt: 2,
    startedAt: 1,
    aCallId: callId,
    aLocalTag: 'alt',
    aRemoteTag: 'art',
    aDialogId: `${callId};from-tag=art`,
    aUri: 'sip:caller@127.0.0.1:5090',
    bCallId: `b-${callId}`,
    bLocalTag: 'blt',
    bRemoteTag: 'brt',
    bDialogId: `b-${callId};from-tag=blt`,
    bUri: 'sip:1@127.0.0.1:5070',
  };
}

/** The store's writes as commands of their own, and gathered into one script per window (lib/store/write-batch.ts): the same results. */
describe.each([
  ['each write a command of its own', 0],
  ['writes gathered into one script per 5 ms window', 5],
])('CallStore against a real redis-server: %s', (_mode, windowMs) => {
  let server: RedisServer;
  let redis: Redis;
  let store: CallStore;
  const storeOn = (client: Redis, prefix = 'test:'): CallStore =>
    new CallStore(client, prefix, 'node-a', undefined, windowMs > 0 ? new WriteBatch(client, windowMs) : undefined);

  beforeAll(async () => {
    server = await startRedis();
    redis = server.client();
    await redis.ping();
    store = storeOn(redis);
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    await redis.flushdb();
  });

  it('stores a complete call record and counts the answered attempt', async () => {
    expect(await store.recordAnswered(record('c1'))).toBe(true);
    expect(await store.getCall('c1')).toEqual(record('c1'));
    expect(await store.targetCounters(TARGET)).toEqual({ active: 1, attempts: 1, answered: 1, canceled: 0, failed: {} });
    expect(await redis.smembers('test:instance:node-a:calls')).toEqual(['c1']);
    expect(await store.targetIds()).toEqual([TARGET]);
  });

  it("an answered call ends its target's passive failure run in the same script", async () => {
    await redis.hset(`test:target:${TARGET}`, 'failureRun', 2, 'failureRunLabels', '503,timeout');
    await store.recordAnswered(record('c1'));
    expect(await redis.hmget(`test:target:${TARGET}`, 'failureRun', 'failureRunLabels')).toEqual([null, null]);
  });

  it('records a Call-ID once: a second answer for it counts nothing', async () => {
    await store.recordAnswered(record('c1'));
    expect(await store.recordAnswered(record('c1'))).toBe(false);
    expect((await store.targetCounters(TARGET)).active).toBe(1);
  });

  it('ends a call once: the record goes and active returns to zero', async () => {
    await store.recordAnswered(record('c1'));
    expect(await store.endCall('c1')).toBe(TARGET);
    expect(await store.endCall('c1')).toBeNull();
    expect(await store.getCall('c1')).toBeNull();
    expect((await store.targetCounters(TARGET)).active).toBe(0);
    expect(await redis.scard('test:instance:node-a:calls')).toBe(0);
  });

  it('decrements once when many clients end the same call at the same moment', async () => {
    const clients = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const client = server.client();
        await client.ping();
        return storeOn(client);
      }),
    );
    for (let i = 0; i < 50; i += 1) await store.recordAnswered(record(`race-${i}`));
    const ends = await Promise.all(clients.flatMap((c) => Array.from({ length: 50 }, (_, i) => c.endCall(`race-${i}`))));
    expect(ends.filter((t) => t !== null)).toHaveLength(50);
    expect((await store.targetCounters(TARGET)).active).toBe(0);
  });

  it('counts failed attempts by status label, and cancelled ones apart', async () => {
    await store.recordFailedAttempt(TARGET, '503');
    await store.recordFailedAttempt(TARGET, '503');
    await store.recordFailedAttempt(TARGET, 'timeout');
    await store.recordCanceledAttempt(TARGET);
    expect(await store.targetCounters(TARGET)).toEqual({ active: 0, attempts: 4, answered: 0, canceled: 1, failed: { '503': 2, timeout: 1 } });
    expect(await redis.hgetall('test:totals')).toEqual({ attempts: '4', failed: '3', canceled: '1' });
    const events = (await redis.xrange('test:events', '-', '+')).map(([, f]) => f.join(' '));
    expect(events).toEqual([
      `type attempt target ${TARGET} result failed:503 instance node-a`,
      `type attempt target ${TARGET} result failed:503 instance node-a`,
      `type attempt target ${TARGET} result failed:timeout instance node-a`,
      `type attempt target ${TARGET} result canceled instance node-a`,
    ]);
  });

  it('keeps records apart per prefix', async () => {
    const other = new CallStore(redis, 'other:');
    await store.recordAnswered(record('c1'));
    expect(await other.getCall('c1')).toBeNull();
    expect(await other.endCall('c1')).toBeNull();
    expect((await store.targetCounters(TARGET)).active).toBe(1);
  });

  it('fails fast, without queueing, while Redis is unreachable', async () => {
    const cfg = validateConfig({
      drachtio: { servers: [{ host: 'x' }] },
      routes: [{ name: 'r', targets: [{ host: 'y' }] }],
      redis: { url: 'redis://127.0.0.1:1', commandTimeoutMs: 200, connectTimeoutMs: 200 },
    });
    const lines: string[] = [];
    const logger = createLogger('warn', { write: (s: string) => lines.push(s) });
    const dead = createRedis(cfg.redis, logger);
    const deadStore = storeOn(dead);
    const t0 = Date.now();
    await expect(deadStore.recordAnswered(record('x'))).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(1000);
    const logged = (): boolean => lines.some((l) => (JSON.parse(l) as { msg: string }).msg.startsWith('redis unavailable'));
    for (let i = 0; i < 40 && !logged(); i += 1) await new Promise((r) => setTimeout(r, 25));
    dead.disconnect();
    expect(logged()).toBe(true);
  });
});

describe('CallStore and AUTH against a real redis-server', () => {
  it('authenticates with a password in the URL and in config, and never logs it', async () => {
    const secured = await startRedis({ password: 'hunter2' });
    try {
      // secured.url is redis://:hunter2@127.0.0.1:<port>: the password is in what createRedis logs
      expect(secured.url).toContain(':hunter2@');
      const cfg = validateConfig({
        drachtio: { servers: [{ host: 'x' }] },
        routes: [{ name: 'r', targets: [{ host: 'y' }] }],
        redis: { url: secured.url, password: 'hunter2' },
      });
      const lines: string[] = [];
      const logger = createLogger('debug', { write: (s: string) => lines.push(s) });
      const client = createRedis(cfg.redis, logger);
      await new Promise((r) => client.once('ready', r));
      const s = new CallStore(client, 'auth:');
      expect(await s.recordAnswered(record('a1'))).toBe(true);
      logger.info({ config: cfg }, 'the whole config, as a careless caller might log it');
      await client.quit();
      const text = lines.join('');
      expect(text).toContain(`"redis":"redis://:***@127.0.0.1:${secured.port}"`); // the 'connected to redis' line
      expect(text).toContain('the whole config');
      expect(text).not.toContain('hunter2');
    } finally {
      await secured.stop();
    }
  });

  it('logs a refused AUTH whole ({ err }) without the password ioredis attaches to it', async () => {
    const secured = await startRedis({ password: 'right-one' });
    try {
      const cfg = validateConfig({
        drachtio: { servers: [{ host: 'x' }] },
        routes: [{ name: 'r', targets: [{ host: 'y' }] }],
        redis: { url: `redis://127.0.0.1:${secured.port}`, username: 'default', password: 'Wr0ngPass' },
      });
      const lines: string[] = [];
      const logger = createLogger('info', { write: (s: string) => lines.push(s) });
      const client = createRedis(cfg.redis, logger);
      const err = await new Promise<Error>((resolve) => client.once('error', resolve));
      client.disconnect();
      expect(JSON.stringify(err)).toContain('Wr0ngPass'); // ioredis: err.command = { name: 'auth', args: [user, password] }
      logger.error({ err }, 'as the error middleware or the fatal handler would log it');
      const text = lines.join('');
      expect(text).toContain('"name":"auth"');
      expect(text).toContain('WRONGPASS');
      expect(text).not.toContain('Wr0ngPass');
    } finally {
      await secured.stop();
    }
  });
});
