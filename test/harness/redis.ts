/**
 * A real redis-server per test file, on a free loopback port, with no persistence.
 */
import { spawn } from 'node:child_process';
import Redis from 'ioredis';
import { killChild, trackChild, exitOf } from './app';
import { freeTcpPort, LOOPBACK } from './ports';

export interface RedisServer {
  port: number;
  url: string;
  /** A new client each call; all of them are quit on stop(). */
  client(): Redis;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  password?: string;
  /** A fixed port, e.g. to start Redis again where a stopped one was (default: a free one). */
  port?: number;
  /** How long to wait for PING to answer (default 10 s). */
  timeoutMs?: number;
}

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

async function waitForPing(port: number, password: string | undefined, deadline: number): Promise<void> {
  let lastErr: unknown;
  while (Date.now() < deadline) {
    const probe = new Redis({
      host: LOOPBACK,
      port,
      password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      // ioredis' disconnect() arms a 2 s timer that only a 'close' event clears; a probe whose
      // connection was refused has closed already, so the timer would keep jest alive
      disconnectTimeout: 10,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') {
        probe.disconnect();
        return;
      }
    } catch (err) {
      lastErr = err;
    }
    probe.disconnect();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on ${port} did not answer PING: ${String(lastErr)}`);
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freeTcpPort());
  const args = ['--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  if (opts.password !== undefined) args.push('--requirepass', opts.password);
  const child = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start ${REDIS_BIN}: ${err.message}`)));
    void exitOf(child).then((code) => reject(new Error(`redis-server exited (${String(code)}): ${output.join('')}`)));
  });
  spawnError.catch(() => undefined);

  try {
    await Promise.race([waitForPing(port, opts.password, Date.now() + (opts.timeoutMs ?? 10000)), spawnError]);
  } catch (err) {
    await killChild(child, 'SIGKILL');
    throw err;
  }

  const clients = new Set<Redis>();
  const auth = opts.password !== undefined ? `:${encodeURIComponent(opts.password)}@` : '';
  return {
    port,
    url: `redis://${auth}${LOOPBACK}:${port}`,
    client(): Redis {
      const c = new Redis({ host: LOOPBACK, port, password: opts.password, maxRetriesPerRequest: 1 });
      c.on('error', () => undefined);
      clients.add(c);
      return c;
    },
    async stop(): Promise<void> {
      await Promise.all(
        [...clients].map(async (c) => {
          try {
            await c.quit();
          } catch {
            c.disconnect();
          }
        }),
      );
      clients.clear();
      await killChild(child, 'SIGTERM', 5000);
    },
  };
}
