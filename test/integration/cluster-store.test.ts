/**
 * The cluster's shared state against a real redis-server: registry keys expire, one survivor wins a
 * takeover, a stale fencing token adopts nothing, `active` is rebuilt from the records, and the event
 * stream holds exactly one `ended` per answered call.
 */
import type Redis from 'ioredis';
import { CallStore, type CallRecord } from '../../lib/store/call-store';
import { ClusterStore, type InstanceFacts } from '../../lib/store/cluster-store';
import { startRedis, type RedisServer } from '../harness/redis';

const PREFIX = 'cs:';
const T = 'udp:127.0.0.1:5070';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rec(key: string, instance: string, target = T): CallRecord {
  return {
    key,
    callId: key.split(';')[0],
    route: 'r',
    target,
    instance,
    server: '127.0.0.1:9022',
    answeredAt: Date.now(),
    startedAt: Date.now(),
    aCallId: 'a',
    aLocalTag: 'alt',
    aRemoteTag: 'art',
    aDialogId: 'a;from-tag=art',
    aUri: 'sip:a@127.0.0.1',
    bCallId: 'b',
    bLocalTag: 'blt',
    bRemoteTag: 'brt',
    bDialogId: 'b;from-tag=blt',
    bUri: 'sip:b@127.0.0.1',
  };
}

const facts = (id: string): InstanceFacts => ({
  id,
  host: 'h',
  pid: 1,
  version: '0.1.0',
  servers: ['127.0.0.1:9022'],
  calls: 0,
  startedAt: 1,
  draining: false,
});

describe('ClusterStore against a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  let store: CallStore;
  let cluster: ClusterStore;

  beforeAll(async () => {
    server = await startRedis();
    redis = server.client();
    store = new CallStore(redis, PREFIX, 'node-a');
    cluster = new ClusterStore(redis, store.keys, 1000);
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    await redis.flushdb();
  });

  it('lists a heartbeating instance as alive with its facts, and as dead once its key expired', async () => {
    await cluster.heartbeat(facts('node-a'), 300);
    expect(await cluster.instances()).toEqual([{ id: 'node-a', alive: true, facts: facts('node-a'), ownedCalls: 0 }]);
    await sleep(400);
    expect((await cluster.instances())[0]).toMatchObject({ id: 'node-a', alive: false });
  });

  it('names dead instances that own calls, and forgets dead ones that own none', async () => {
    await cluster.heartbeat(facts('node-a'), 200);
    await cluster.heartbeat(facts('node-b'), 200);
    await cluster.heartbeat(facts('node-c'), 5000);
    await store.recordAnswered(rec('c1;t', 'node-a'));
    await sleep(300);
    expect(await cluster.deadOwners()).toEqual(['node-a']);
    expect((await redis.smembers(`${PREFIX}instances`)).sort()).toEqual(['node-a', 'node-c']);
  });

  it('lets exactly one survivor take over, and adopts nothing with a stale fencing token', async () => {
    await store.recordAnswered(rec('c1;t', 'node-a'));
    await store.recordAnswered(rec('c2;t', 'node-a'));
    const [first, second] = await Promise.all([cluster.acquireTakeover('node-a', 200), cluster.acquireTakeover('node-a', 200)]);
    expect([first, second].filter((t) => t !== null)).toHaveLength(1);
    const token = (first ?? second) as string;
    await sleep(300); // our lock expired: another survivor takes it
    const other = await cluster.acquireTakeover('node-a', 5000);
    expect(other).not.toBeNull();
    expect(await cluster.adopt('node-a', 'node-b', token)).toBeNull();
    expect(await redis.scard(`${PREFIX}instance:node-a:calls`)).toBe(2);
    expect((await cluster.adopt('node-a', 'node-c', other as string))?.sort()).toEqual(['c1;t', 'c2;t']);
    expect((await redis.smembers(`${PREFIX}instance:node-c:calls`)).sort()).toEqual(['c1;t', 'c2;t']);
    expect(await redis.exists(`${PREFIX}instance:node-a:calls`)).toBe(0);
    expect(await redis.hget(`${PREFIX}call:c1;t`, 'instance')).toBe('node-c');
    expect(await redis.hget(`${PREFIX}call:c1;t`, 'adoptedFrom')).toBe('node-a');
    // the adopter ends it: one decrement, counted against the adopter's set
    expect(await store.endCall('c1;t', 'caller')).toBe(T);
    expect(await redis.smembers(`${PREFIX}instance:node-c:calls`)).toEqual(['c2;t']);
    expect((await store.targetCounters(T)).active).toBe(1);
  });

  it('rebuilds active from the records the owners hold', async () => {
    await store.recordAnswered(rec('c1;t', 'node-a'));
    await store.recordAnswered(rec('c2;t', 'node-b'));
    await store.recordAnswered(rec('c3;t', 'node-b', 'udp:127.0.0.1:5071'));
    await redis.hset(`${PREFIX}target:${T}`, 'active', 17); // drifted
    await redis.hset(`${PREFIX}target:udp:127.0.0.1:5072`, 'active', 3); // a target no call is on
    await redis.sadd(`${PREFIX}targets`, 'udp:127.0.0.1:5072');
    expect(await cluster.rebuildActive()).toBe(3);
    expect((await store.targetCounters(T)).active).toBe(2);
    expect((await store.targetCounters('udp:127.0.0.1:5071')).active).toBe(1);
    expect((await store.targetCounters('udp:127.0.0.1:5072')).active).toBe(0);
    expect(await redis.hget(`${PREFIX}totals`, 'active')).toBe('3');
  });

  it('writes one answered and exactly one ended event per call, however often it is ended', async () => {
    await store.recordAnswered(rec('c1;t', 'node-a'));
    await Promise.all([store.endCall('c1;t', 'caller'), store.endCall('c1;t', 'target'), store.endCall('c1;t', 'caller')]);
    const types = (await redis.xrange(`${PREFIX}events`, '-', '+')).map(([, f]) => f[f.indexOf('type') + 1]);
    expect(types).toEqual(['answered', 'ended']);
    expect(await redis.hgetall(`${PREFIX}totals`)).toMatchObject({ active: '0', attempts: '1', answered: '1', ended: '1' });
    await store.recordFailedAttempt(T, '503');
    await store.recordCanceledAttempt(T);
    expect(await redis.hgetall(`${PREFIX}totals`)).toMatchObject({ attempts: '3', failed: '1', canceled: '1' });
  });
});
