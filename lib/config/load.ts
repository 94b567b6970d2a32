import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors';
import { isSecretKey, maskSecrets, maskUrlCredentials } from '../secrets';
import { configSchema, type Config } from './schema';

/** Environment variables that override the file; secrets and addresses can live here instead of on disk. */
export const ENV_OVERRIDES = {
  DRACHTIO_HOST: 'drachtio.servers[0].host',
  DRACHTIO_PORT: 'drachtio.servers[0].port',
  DRACHTIO_SECRET: 'drachtio.servers[0].secret (and drachtio.listen.secret)',
  REDIS_URL: 'redis.url',
  REDIS_PASSWORD: 'redis.password',
  REDIS_USERNAME: 'redis.username',
  LOG_LEVEL: 'log.level',
  INSTANCE_ID: 'instanceId',
} as const;

type Env = Readonly<Record<string, string | undefined>>;
type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object at raw[key], created when missing; a non-object there is left for the schema to report. */
function section(raw: Json, key: string): Json {
  const v = raw[key];
  if (isObject(v)) return v;
  const fresh: Json = {};
  if (v === undefined) raw[key] = fresh;
  return fresh;
}

function toPort(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value; // a non-number stays a string, so the schema names it
}

/** Applies ENV_OVERRIDES onto a raw (unvalidated) config object. Does not mutate its input. */
export function applyEnv(input: unknown, env: Env): unknown {
  if (!isObject(input)) return input;
  const raw: Json = structuredClone(input);
  const drachtio = section(raw, 'drachtio');
  if (env.DRACHTIO_HOST || env.DRACHTIO_PORT || env.DRACHTIO_SECRET) {
    if (!Array.isArray(drachtio.servers)) drachtio.servers = [];
    const servers = drachtio.servers as unknown[];
    if (env.DRACHTIO_HOST && servers.length === 0) servers.push({});
    if (isObject(servers[0])) {
      const first = servers[0];
      if (env.DRACHTIO_HOST) first.host = env.DRACHTIO_HOST;
      if (env.DRACHTIO_PORT) first.port = toPort(env.DRACHTIO_PORT);
      if (env.DRACHTIO_SECRET) first.secret = env.DRACHTIO_SECRET;
    }
    if (env.DRACHTIO_SECRET && isObject(drachtio.listen)) drachtio.listen.secret = env.DRACHTIO_SECRET;
  }
  if (env.REDIS_URL || env.REDIS_PASSWORD || env.REDIS_USERNAME) {
    const redis = section(raw, 'redis');
    if (env.REDIS_URL) redis.url = env.REDIS_URL;
    if (env.REDIS_PASSWORD) redis.password = env.REDIS_PASSWORD;
    if (env.REDIS_USERNAME) redis.username = env.REDIS_USERNAME;
  }
  if (env.LOG_LEVEL) section(raw, 'log').level = env.LOG_LEVEL;
  if (env.INSTANCE_ID) raw.instanceId = env.INSTANCE_ID;
  return raw;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(top level)' : out;
}

/**
 * The value found, safe to print: nothing under a secret-named field (lib/secrets.ts) is shown,
 * objects and arrays are printed with their secret fields masked at any depth, URLs lose their
 * passwords, and the values of unknown fields are masked too (a misspelt `secret` is still a secret).
 */
function describeFound(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  if (input === undefined) return issue.code === 'invalid_type' ? 'nothing (field missing)' : 'undefined';
  if (issue.path.some((key) => typeof key === 'string' && isSecretKey(key))) return '(secret not shown)';
  const text = JSON.stringify(maskSecrets(input, issue.code === 'unrecognized_keys' ? issue.keys : []));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describeExpected(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'int') return 'an integer';
      return /^[aeiou]/.test(issue.expected) ? `an ${issue.expected}` : `a ${issue.expected}`;
    case 'unrecognized_keys':
      return `no unknown field (${issue.keys.map((k) => JSON.stringify(k)).join(', ')} is not a known field here)`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `at least ${String(issue.minimum)} item(s)`
        : issue.origin === 'string'
          ? `at least ${String(issue.minimum)} character(s)`
          : `a value >= ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'array' ? `at most ${String(issue.maximum)} item(s)` : `a value <= ${String(issue.maximum)}`;
    case 'invalid_format':
      return issue.message;
    case 'not_multiple_of':
      return `a whole number`;
    default:
      return issue.message;
  }
}

/** Turns schema issues into "<path>: found <value>, expected <what>" lines. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  return issues.map((issue) => ({ path: formatPath(issue.path), found: describeFound(issue), expected: describeExpected(issue) }));
}

/** Validates a raw object (after env overrides), fills defaults, and returns a deep-frozen config. */
export function validateConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    const issues = describeIssues(result.error.issues);
    const lines = issues.map((i) => `  ${i.path}: found ${i.found}, expected ${i.expected}`);
    throw new ConfigError('B2B_ERR_CONFIG_INVALID', `invalid configuration in ${source}:\n${lines.join('\n')}`, issues);
  }
  const config = result.data;
  if (config.instanceId === undefined) config.instanceId = `${hostname()}-${process.pid}`;
  return deepFreeze(config);
}

/**
 * A YAML/JSON syntax error without the excerpt of the file the parser appends (that line may hold
 * a secret). When the line itself names a secret-looking field, only the error code and position.
 */
function syntaxError(err: unknown, text: string): string {
  const e = err as { message?: string; code?: string; linePos?: Array<{ line: number; col: number }> };
  const first = maskUrlCredentials(
    String(e.message ?? err)
      .split('\n')[0]
      .replace(/:$/, ''),
  );
  const pos = e.linePos?.[0];
  if (pos === undefined) return first;
  const line = text.split('\n')[pos.line - 1] ?? '';
  const secretLine = line.split(/[^A-Za-z0-9_]+/).some((word) => word !== '' && isSecretKey(word));
  return secretLine ? `${e.code ?? 'syntax error'} at line ${pos.line}, column ${pos.col} (details not shown: the line holds a secret)` : first;
}

export function parseConfigText(text: string, source: string): unknown {
  try {
    return parseYaml(text); // YAML is a superset of JSON: one parser reads both
  } catch (err) {
    // no `cause`: the parser's own message quotes the file (pino's err serializer would print it)
    throw new ConfigError('B2B_ERR_CONFIG_READ', `cannot parse ${source}: ${syntaxError(err, text)}`);
  }
}

/** Reads, overrides from the environment, validates and freezes. Throws ConfigError with a message naming each bad field. */
export function loadConfig(file: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('B2B_ERR_CONFIG_READ', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, [], {
      cause: err,
    });
  }
  return validateConfig(applyEnv(parseConfigText(text, file), env), file);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
