import { validateConfig } from '../../lib/config/load';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferedDestination, createLogger, isoTime, LOG_FLUSH_MS, REDACTED, safeRedisUrl } from '../../lib/logger';
import { MAX_DEPTH, redactSecrets } from '../../lib/log-redaction';

/** A logger writing JSON lines into memory, and those lines joined. */
function capture(): { log: ReturnType<typeof createLogger>; text: () => string } {
  const lines: string[] = [];
  return { log: createLogger('info', { write: (s: string) => lines.push(s) }), text: () => lines.join('') };
}

interface Case {
  /** where the secret sits */
  path: string;
  logged: Record<string, unknown>;
  secret: string;
  /** what the line must still show (the neighbours of the secret, or the masked URL) */
  kept: string[];
}

const server = (secret: string) => ({ host: 'drachtio.lan', port: 9022, secret });
const CASES: Case[] = [
  { path: 'secret', logged: { secret: 'S-top-1', host: 'h1' }, secret: 'S-top-1', kept: ['"host":"h1"', `"secret":"${REDACTED}"`] },
  { path: 'password', logged: { password: 'P-top-2', username: 'app' }, secret: 'P-top-2', kept: ['"username":"app"', `"password":"${REDACTED}"`] },
  { path: '*.secret', logged: { server: server('S-one-3') }, secret: 'S-one-3', kept: ['"host":"drachtio.lan"', '"port":9022'] },
  { path: '*.password', logged: { redis: { password: 'P-one-4', keyPrefix: 'sipd:' } }, secret: 'P-one-4', kept: ['"keyPrefix":"sipd:"'] },
  {
    path: 'drachtio.servers[*].secret',
    logged: { drachtio: { servers: [server('S-srv-5'), server('S-srv-6')] } },
    secret: 'S-srv-6',
    kept: ['"host":"drachtio.lan"'],
  },
  { path: 'drachtio.listen.secret', logged: { drachtio: { listen: { port: 9023, secret: 'S-lis-7' } } }, secret: 'S-lis-7', kept: ['"port":9023'] },
  {
    path: '*.drachtio.servers[*].secret',
    logged: { config: { drachtio: { servers: [server('S-srv-8')] } } },
    secret: 'S-srv-8',
    kept: ['"host":"drachtio.lan"'],
  },
  {
    path: '*.drachtio.listen.secret',
    logged: { config: { drachtio: { listen: { port: 9023, secret: 'S-lis-9' } } } },
    secret: 'S-lis-9',
    kept: ['"port":9023'],
  },
  { path: '*.redis.password', logged: { config: { redis: { password: 'P-cfg-10', keyPrefix: 'sipd:' } } }, secret: 'P-cfg-10', kept: ['"keyPrefix":"sipd:"'] },
  {
    path: 'redis.url',
    logged: { redis: { url: 'redis://app:U-top-11@redis.lan:6379/0' } },
    secret: 'U-top-11',
    kept: ['"url":"redis://app:***@redis.lan:6379/0"'],
  },
  {
    path: '*.redis.url',
    logged: { config: { redis: { url: 'rediss://app:U-cfg-12@redis.lan' } } },
    secret: 'U-cfg-12',
    kept: ['"url":"rediss://app:***@redis.lan"'],
  },
  {
    path: 'err.command.args',
    logged: { err: Object.assign(new Error('WRONGPASS invalid username-password pair'), { command: { name: 'auth', args: ['app', 'P-err-13'] } }) },
    secret: 'P-err-13',
    kept: ['"message":"WRONGPASS invalid username-password pair"', '"name":"auth"'],
  },
  {
    path: 'a token in an array of objects',
    logged: { peers: [{ id: 'p1', authToken: 'T-arr-14' }] },
    secret: 'T-arr-14',
    kept: ['"id":"p1"', `"authToken":"${REDACTED}"`],
  },
  { path: 'a url anywhere', logged: { upstream: { url: 'https://ops:U-any-15@api.lan/x' } }, secret: 'U-any-15', kept: ['"url":"https://ops:***@api.lan/x"'] },
  {
    path: 'a request path is not an address',
    logged: { url: '/metrics', key: 'abc;tag' },
    secret: 'unparseable',
    kept: ['"url":"/metrics"', '"key":"abc;tag"'],
  },
  { path: 'a child logger binding', logged: {}, secret: 'S-child-16', kept: ['"callId":"c1"'] },
];

describe('log redaction', () => {
  it.each(CASES)('$path: the secret is not written, its neighbours are', ({ path, logged, secret, kept }) => {
    const { log: root, text } = capture();
    const log = path === 'a child logger binding' ? root.child({ callId: 'c1', server: { secret } }) : root;
    log.info(logged, 'something happened');
    expect(text()).toContain('"msg":"something happened"');
    expect(text()).not.toContain(secret);
    for (const k of kept) expect(text()).toContain(k);
  });

  it('a whole validated config can be logged without a secret in it', () => {
    const config = validateConfig({
      drachtio: { servers: [server('S-all-1'), server('S-all-2')], listen: { port: 9023, secret: 'S-all-3' } },
      redis: { url: 'redis://app:U-all-4@redis.lan:6379', password: 'P-all-5', username: 'app' },
      routes: [{ name: 'r', targets: [{ host: '10.0.0.1' }] }],
    });
    const { log, text } = capture();
    log.info({ config }, 'config');
    log.info({ drachtio: config.drachtio, redis: config.redis }, 'sections');
    for (const secret of ['S-all-1', 'S-all-2', 'S-all-3', 'U-all-4', 'P-all-5']) expect(text()).not.toContain(secret);
    expect(text()).toContain('redis://app:***@redis.lan:6379');
    expect(text()).toContain('"username":"app"');
    expect(text()).toContain('"keyPrefix":"sipd:"');
  });
});

describe('redactSecrets', () => {
  it('returns an object with nothing to hide as it is, not a copy (the call path logs such lines)', () => {
    const line = { route: 'r', target: 't1', tried: [{ target: 't1', result: 'answered', ms: 12 }], status: 200 };
    expect(redactSecrets(line)).toBe(line);
  });

  it('copies on write: the object logged is left as it was', () => {
    const logged = { server: { host: 'h', secret: 's' }, other: { a: 1 } };
    const out = redactSecrets(logged);
    expect(out).toEqual({ server: { host: 'h', secret: REDACTED }, other: { a: 1 } });
    expect(logged.server.secret).toBe('s');
    expect(out.other).toBe(logged.other);
  });

  it('looks MAX_DEPTH objects down and no further, so a cycle cannot hang a log call', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    expect(redactSecrets(a)).toBe(a);
    const nest = (levels: number): Record<string, unknown> => {
      let o: Record<string, unknown> = { password: 'p' };
      for (let i = 0; i < levels; i++) o = { next: o };
      return o;
    };
    expect(JSON.stringify(redactSecrets(nest(MAX_DEPTH)))).not.toContain('"p"');
    expect(redactSecrets(nest(MAX_DEPTH + 1))).toEqual(nest(MAX_DEPTH + 1));
  });

  it('does not walk class instances, buffers or errors (errors go through the err serializer)', () => {
    class Holder {
      password = 'kept-in-instance';
    }
    const logged = { h: new Holder(), b: Buffer.from('x') };
    expect(redactSecrets(logged)).toBe(logged);
  });
});

describe('isoTime', () => {
  it('writes what Date#toISOString writes, across second and millisecond boundaries', () => {
    const start = Date.UTC(2026, 11, 31, 23, 59, 58, 990);
    for (let t = start; t < start + 2500; t += 7) expect(isoTime(t)).toBe(`,"time":"${new Date(t).toISOString()}"`);
    for (const t of [0, 1, 10, 99, 100, 999, 1000, Date.now()]) expect(isoTime(t)).toBe(`,"time":"${new Date(t).toISOString()}"`);
  });
});

describe('safeRedisUrl', () => {
  it('masks the password and keeps the user name, host, port and db', () => {
    expect(safeRedisUrl('redis://app:Pa55word@redis.lan:6380/2')).toBe('redis://app:***@redis.lan:6380/2');
    expect(safeRedisUrl('rediss://:Pa55word@redis.lan')).toBe('rediss://:***@redis.lan');
  });

  it('masks a password given as a query parameter', () => {
    expect(safeRedisUrl('redis://redis.lan/0?password=Pa55word&family=6')).toBe('redis://redis.lan/0?password=***&family=6');
  });

  it('leaves a URL without a password as it is', () => {
    expect(safeRedisUrl('redis://app@redis.lan:6379')).toBe('redis://app@redis.lan:6379');
    expect(safeRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('shows nothing of a URL it cannot parse', () => {
    expect(safeRedisUrl('redis://app:Pa55word@[bad')).toBe('(unparseable url)');
  });
});

describe('buffered log output (log.bufferBytes)', () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const fileLines = (f: string): string[] => readFileSync(f, 'utf8').split('\n').filter(Boolean);

  it('gathers lines into one write, and writes a lone line within LOG_FLUSH_MS', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sipd-log-')), 'out.log');
    const log = createLogger('info', bufferedDestination(4096, file));
    await sleep(50);
    log.info({ n: 1 }, 'first');
    log.info({ n: 2 }, 'second');
    expect(fileLines(file)).toHaveLength(0);
    await sleep(LOG_FLUSH_MS * 3);
    expect(fileLines(file).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['first', 'second']);
  });

  it('bufferBytes 0: every line is written as it comes', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sipd-log-')), 'out.log');
    const log = createLogger('info', bufferedDestination(0, file));
    await sleep(50);
    log.info('now');
    await sleep(20);
    expect(fileLines(file)).toHaveLength(1);
  });
});
