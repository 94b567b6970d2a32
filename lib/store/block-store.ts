import type { Redis } from 'ioredis';
import type { Keys } from './keys';

/**
 * Blocks a source address until ARGV[2] (epoch ms), cluster-wide, and writes one event when the block
 * is new or longer. KEYS[1] blocked set, KEYS[2] blocked-until sorted set, KEYS[3] events stream.
 * ARGV[1] address, ARGV[2] until, ARGV[3] cause, ARGV[4] instance, ARGV[5] stream max length.
 * Returns 1 when the block is new, 0 when the address was already blocked until then or later.
 */
const BLOCK_SOURCE = `
local cur = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0')
if cur >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[1], ARGV[1])
if cur == 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'type', 'source-blocked', 'source', ARGV[1], 'until', ARGV[2], 'cause', ARGV[3], 'instance', ARGV[4])
end
return cur == 0 and 1 or 0
`;

/**
 * Ends the blocks that ran out by ARGV[1] (epoch ms), one event each; returns the addresses released.
 * KEYS as BLOCK_SOURCE. ARGV[2] instance, ARGV[3] stream max length.
 */
const RELEASE_EXPIRED = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, a in ipairs(gone) do
  redis.call('ZREM', KEYS[2], a)
  redis.call('SREM', KEYS[1], a)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'type', 'source-released', 'source', a, 'instance', ARGV[2])
end
return gone
`;

type BlockRedis = Redis & {
  sipdBlockSource(k1: string, k2: string, k3: string, ...argv: string[]): Promise<number>;
  sipdReleaseExpired(k1: string, k2: string, k3: string, ...argv: string[]): Promise<string[]>;
};

/**
 * The cluster's source block list: `<prefix>blocked` (a plain set of addresses, the form
 * drachtio-server's `<blacklist>` reads with SMEMBERS, so it can drop them before the app sees them) and
 * `<prefix>blocked:until` (when each block ends). Each call is one round trip.
 */
export class BlockStore {
  private readonly redis: BlockRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly instanceId: string,
    private readonly streamMaxLen: number,
  ) {
    redis.defineCommand('sipdBlockSource', { numberOfKeys: 3, lua: BLOCK_SOURCE });
    redis.defineCommand('sipdReleaseExpired', { numberOfKeys: 3, lua: RELEASE_EXPIRED });
    this.redis = redis as BlockRedis;
  }

  get available(): boolean {
    return this.redis.status === 'ready';
  }

  /** Blocks `address` until `until`; true when it was not blocked before. */
  async block(address: string, until: number, cause: string): Promise<boolean> {
    const r = await this.redis.sipdBlockSource(
      this.keys.blocked(),
      this.keys.blockedUntil(),
      this.keys.events(),
      address,
      String(until),
      cause,
      this.instanceId,
      String(this.streamMaxLen),
    );
    return r === 1;
  }

  /** Releases the blocks that ran out; returns their addresses. */
  async releaseExpired(now = Date.now()): Promise<string[]> {
    return this.redis.sipdReleaseExpired(
      this.keys.blocked(),
      this.keys.blockedUntil(),
      this.keys.events(),
      String(now),
      this.instanceId,
      String(this.streamMaxLen),
    );
  }

  /** Every block in force: address → until (epoch ms). */
  async list(now = Date.now()): Promise<Map<string, number>> {
    const flat = await this.redis.zrangebyscore(this.keys.blockedUntil(), `(${String(now)}`, '+inf', 'WITHSCORES');
    const out = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i], Number(flat[i + 1]));
    return out;
  }
}
