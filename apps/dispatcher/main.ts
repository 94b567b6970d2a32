import { parseArgs } from 'node:util';
import { defaultSecretsInUse } from '../../lib/config/default-secret';
import { loadConfig } from '../../lib/config/load';
import { ConfigError, type WarningCode } from '../../lib/errors';
import { startDispatcher } from '../../lib/dispatcher';
import { startHttpServer } from '../../lib/http/http-server';
import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config/schema';
import { createLogger, safeRedisUrl, type Logger } from '../../lib/logger';
import { installFatalHandlers } from '../../lib/process/fatal';
import { createRedis, waitForRedis } from '../../lib/store/redis-client';
import { packageVersion } from '../../lib/version';

const USAGE = `usage: sip-dispatcher [serve] [--config <file>]

Runs the dispatcher server. Operator commands: sip-dispatcher --help.

  -c, --config <file>  config file (default: $SIPD_CONFIG, else config/default.yaml)
  -h, --help           this text
  -v, --version        print the version

SIGHUP re-reads the config file (README "Live reload").

exit codes: 0 after a drain (SIGTERM, SIGINT), 64 usage error, 70 an unexpected fault, 78 bad config`;

async function main(): Promise<void> {
  let values: { config?: string; help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    }));
  } catch (err) {
    // an unknown option or a stray argument: node's message names it
    process.stderr.write(`sip-dispatcher: ${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(64); // EX_USAGE, as the operator CLI
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.version) {
    process.stdout.write(`sip-dispatcher ${packageVersion()}\n`);
    return;
  }
  const file = values.config ?? process.env.SIPD_CONFIG ?? 'config/default.yaml';

  let config: Config;
  let logger: Logger;
  let redis: Redis;
  try {
    config = loadConfig(file);
    logger = createLogger(config.log.level, undefined, { bufferBytes: config.log.bufferBytes });
    redis = createRedis(config.redis, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  // an unexpected fault ends the process (exit 70) and its supervisor restarts it (README "Process supervision")
  installFatalHandlers(process, logger, (code) => process.exit(code));
  const defaultSecrets = defaultSecretsInUse(config);
  if (defaultSecrets.length > 0) {
    const code: WarningCode = 'B2B_WARN_CONFIG_DEFAULT_SECRET';
    logger.warn(
      { code, fields: defaultSecrets },
      "drachtio secret left at drachtio-server's well-known default: set DRACHTIO_SECRET (and the same secret in drachtio-server)",
    );
  }

  // a SIGHUP while starting (Redis, the DNS wait) is kept for when the dispatcher is up, rather than ending the process
  let earlyHup = false;
  const onEarlyHup = (): void => {
    earlyHup = true;
  };
  process.on('SIGHUP', onEarlyHup);
  if (!(await waitForRedis(redis, config.redis.connectTimeoutMs))) {
    logger.warn({ redis: safeRedisUrl(config.redis.url) }, 'redis not reachable at start; taking calls without shared state, retrying in background');
  }
  const dispatcher = await startDispatcher(config, logger, redis, { configFile: file });
  process.off('SIGHUP', onEarlyHup);
  if (config.http.port !== undefined) {
    const { metrics } = dispatcher;
    try {
      // kept open through the drain, so /ready says 503 while it lasts
      await startHttpServer(
        { host: config.http.host, port: config.http.port },
        {
          readiness: () => dispatcher.readiness(),
          metrics: () => metrics?.text() ?? Promise.resolve(''),
          metricsContentType: metrics?.contentType ?? 'text/plain',
        },
        logger,
      );
    } catch (err) {
      logger.fatal({ err, host: config.http.host, port: config.http.port }, 'cannot listen for the http endpoints (http.host, http.port)');
      logger.flush(() => process.exit(1));
      return;
    }
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // one deadline for the whole shutdown, armed first: nothing after it (a BYE transaction, a slow
    // Redis) can keep the process past call.shutdownTimeoutMs, e.g. a container's kill grace
    const { shutdownTimeoutMs } = dispatcher.config.call; // a reload may have changed it
    const deadline = Date.now() + shutdownTimeoutMs;
    setTimeout(() => {
      logger.warn({ shutdownTimeoutMs }, 'shutdown deadline passed; exiting');
      logger.flush(() => process.exit(0));
      setTimeout(() => process.exit(0), 200).unref();
    }, shutdownTimeoutMs + 500).unref();
    logger.info({ signal }, 'shutdown requested');
    try {
      await dispatcher.shutdown(deadline);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
    }
    try {
      await redis.quit();
    } catch {
      redis.disconnect();
    }
    // drachtio-srf keeps reconnect timers of its own: exit explicitly once the log is written
    setTimeout(() => process.exit(0), 1000).unref();
    logger.flush(() => process.exit(0));
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // re-read the config file: applied to new calls, or refused (logged) with the running config kept
  process.on('SIGHUP', () => {
    if (!stopping) void dispatcher.reload('SIGHUP');
  });
  if (earlyHup) void dispatcher.reload('SIGHUP');
}

void main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
