/**
 * The operator CLI, `sip-dispatcher <command>` (README "Operator CLI"): parses the command line,
 * loads the server's config, connects to its Redis and runs one command; the exit code says how it went.
 */
import type { Redis } from 'ioredis';
import { BIN, parseCommandLine, type Parsed } from '../../lib/cli/args';
import { CliError, EXIT, type ExitCode } from '../../lib/cli/exit';
import { useColour } from '../../lib/cli/table';
import { readFileSync } from 'node:fs';
import { applyEnv, loadConfig, parseConfigText } from '../../lib/config/load';
import { configSchema, type Config } from '../../lib/config/schema';
import { ConfigError } from '../../lib/errors';
import { createLogger, safeRedisUrl } from '../../lib/logger';
import { maskUrlCredentials } from '../../lib/secrets';
import { CallStore } from '../../lib/store/call-store';
import { ClusterStore } from '../../lib/store/cluster-store';
import { HealthStore } from '../../lib/store/health-store';
import { ProbeStore } from '../../lib/store/probe-store';
import { makeKeys } from '../../lib/store/keys';
import { createRedis, waitForRedis } from '../../lib/store/redis-client';
import { packageVersion } from '../../lib/version';
import * as commands from './commands';
import type { CliContext } from './context';
import { hangup } from './hangup';
import { reload } from './reload';

/** events --follow: how long each XREAD BLOCK waits; the connection's command timeout is raised by this much. */
const FOLLOW_BLOCK_MS = 5000;

type Command = Exclude<Parsed, { kind: 'help' } | { kind: 'version' }>;

/** Connects with the server's options (AUTH, TLS); exit 69 with the last error when Redis is not ready in connectTimeoutMs. */
async function connect(cfg: Config['redis']): Promise<Redis> {
  // createRedis logs state changes; the CLI reports them itself, once, on stderr
  const redis = createRedis(cfg, createLogger('silent', { write: () => undefined }));
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  if (await waitForRedis(redis, cfg.connectTimeoutMs)) return redis;
  redis.disconnect();
  const why = lastError ? `: ${maskUrlCredentials(lastError.message)}` : '';
  throw new CliError(`${BIN}: cannot reach redis at ${safeRedisUrl(cfg.url)} within ${cfg.connectTimeoutMs} ms${why}`, EXIT.UNAVAILABLE);
}

async function run(cmd: Command, ctx: CliContext): Promise<ExitCode> {
  switch (cmd.kind) {
    case 'status':
      return commands.status(ctx, cmd.json);
    case 'calls':
      return commands.calls(ctx, { instance: cmd.instance, target: cmd.target }, cmd.json);
    case 'hangup':
      return hangup(ctx, cmd.call, { waitMs: cmd.waitMs, all: cmd.all });
    case 'events':
      return commands.events(ctx, { count: cmd.count, follow: cmd.follow, json: cmd.json, blockMs: FOLLOW_BLOCK_MS });
    case 'drain-target':
      return commands.drainTarget(ctx, cmd.target);
    case 'undrain-target':
      return commands.undrainTarget(ctx, cmd.target);
    case 'reload':
      return reload(ctx, { instance: cmd.instance, waitMs: cmd.waitMs, json: cmd.json, blockMs: FOLLOW_BLOCK_MS });
  }
}

/**
 * `reload` is how an operator finds out what the instances make of an edited file, so a file that does
 * not validate is not the end here: its problems go to stderr, and its redis section (which must be
 * valid) is enough to ask the instances, which refuse it with the same errors.
 */
function loadForReload(file: string): Pick<Config, 'redis' | 'cluster'> {
  try {
    return loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError) || err.code !== 'B2B_ERR_CONFIG_INVALID') throw err;
    const raw = applyEnv(parseConfigText(readFileSync(file, 'utf8'), file), process.env) as { redis?: unknown; cluster?: unknown };
    const redis = configSchema.shape.redis.safeParse(raw.redis ?? {});
    if (!redis.success) throw err;
    process.stderr.write(`${BIN}: warning: ${err.message}
(asking the instances anyway: they will refuse it)
`);
    return { redis: redis.data, cluster: configSchema.shape.cluster.parse({}) };
  }
}

async function main(argv: readonly string[]): Promise<ExitCode> {
  const cmd = parseCommandLine(argv);
  if (cmd.kind === 'help') {
    process.stdout.write(`${cmd.text}\n`);
    return EXIT.OK;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`${BIN} ${packageVersion()}\n`);
    return EXIT.OK;
  }
  const file = cmd.config ?? process.env.SIPD_CONFIG ?? 'config/default.yaml';
  const config = cmd.kind === 'reload' ? loadForReload(file) : loadConfig(file);
  // events --follow and reload wait for events with XREAD BLOCK
  const follow = (cmd.kind === 'events' && cmd.follow) || cmd.kind === 'reload';
  // a blocking XREAD must not outlast the command timeout
  const redisCfg = follow ? { ...config.redis, commandTimeoutMs: config.redis.commandTimeoutMs + FOLLOW_BLOCK_MS } : config.redis;
  const redis = await connect(redisCfg);
  if (cmd.kind === 'events' && cmd.follow) {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        redis.disconnect();
        process.exit(EXIT.OK);
      });
    }
  }
  const ctx: CliContext = {
    store: new CallStore(redis, config.redis.keyPrefix, 'cli', config.cluster.streamMaxLen),
    cluster: new ClusterStore(redis, makeKeys(config.redis.keyPrefix), config.cluster.streamMaxLen),
    health: new HealthStore(redis, makeKeys(config.redis.keyPrefix), 'cli', config.cluster.streamMaxLen, 0),
    probe: new ProbeStore(redis, makeKeys(config.redis.keyPrefix), 'cli', config.cluster.streamMaxLen),
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    colour: useColour(process.stdout.isTTY, process.env),
    now: () => Date.now(),
  };
  try {
    return await run(cmd, ctx);
  } finally {
    try {
      await redis.quit();
    } catch {
      redis.disconnect();
    }
  }
}

function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CliError) {
    process.stderr.write(`${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.code}: ${err.message}\n`); // the message never holds a secret (lib/config/load.ts)
    return EXIT.CONFIG;
  }
  process.stderr.write(`${BIN}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.SOFTWARE;
}

// `sip-dispatcher events | head`: a closed pipe ends the command quietly
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.OK);
});

void main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(exitCodeOf(err)),
);
