import { readFileSync } from 'node:fs';
import Redis, { type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema';
import { ConfigError } from '../errors';
import { safeRedisUrl, type Logger } from '../logger';

type RedisConfig = Config['redis'];

/**
 * ioredis options for the call path: commands fail fast rather than queue while Redis is away,
 * so a dead Redis delays no call by more than commandTimeoutMs.
 */
function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(
      'B2B_ERR_CONFIG_INVALID',
      `invalid configuration:\n  redis.tls.caFile: cannot read ${file} (${code}), expected a readable PEM file`,
      [{ path: 'redis.tls.caFile', found: JSON.stringify(file), expected: 'a readable PEM file' }],
      { cause: err },
    );
  }
}

export function redisOptions(cfg: RedisConfig): RedisOptions {
  const tlsWanted = cfg.tls !== undefined || cfg.url.startsWith('rediss://');
  return {
    password: cfg.password,
    username: cfg.username,
    tls: tlsWanted ? { rejectUnauthorized: cfg.tls?.rejectUnauthorized ?? true, ...(cfg.tls?.caFile ? { ca: readCa(cfg.tls.caFile) } : {}) } : undefined,
    commandTimeout: cfg.commandTimeoutMs,
    // on quit/disconnect, a stream that has not closed within the command timeout is destroyed
    disconnectTimeout: cfg.commandTimeoutMs,
    connectTimeout: cfg.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  };
}

/** Connects to Redis and logs once per state change (ready, lost, back), never the password. */
export function createRedis(cfg: RedisConfig, logger: Logger): Redis {
  const url = safeRedisUrl(cfg.url);
  const redis = new Redis(cfg.url, redisOptions(cfg));
  let state: 'connecting' | 'ready' | 'down' = 'connecting';
  redis.on('ready', () => {
    if (state !== 'ready') logger.info({ redis: url }, state === 'down' ? 'redis connection restored' : 'connected to redis');
    state = 'ready';
  });
  redis.on('error', (err: Error) => {
    if (state !== 'down') logger.warn({ redis: url, err }, 'redis unavailable; calls continue without shared state until it returns');
    state = 'down';
  });
  redis.on('end', () => logger.debug({ redis: url }, 'redis connection closed'));
  return redis;
}

/** Waits for the first `ready`, up to timeoutMs; resolves false (and keeps retrying in the background) on timeout. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.removeListener('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
