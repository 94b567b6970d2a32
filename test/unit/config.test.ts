import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyEnv, loadConfig, parseConfigText, validateConfig } from '../../lib/config/load';
import { ConfigError } from '../../lib/errors';

const base = () => ({
  drachtio: { servers: [{ host: '127.0.0.1', port: 9022, secret: 'cymru' }] },
  routes: [{ name: 'r', targets: [{ host: '10.0.0.1' }] }],
});

function issuesOf(raw: unknown): ConfigError {
  try {
    validateConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config validation', () => {
  it('fills documented defaults and freezes the result', () => {
    const cfg = validateConfig(base());
    expect(cfg.call.provisionalTimeoutMs).toBe(2000);
    expect(cfg.call.failoverOn).toEqual([408, 500, 502, 503, 504]);
    expect(cfg.call.noRouteStatus).toBe(404);
    expect(cfg.routes[0].strategy).toBe('weighted');
    expect(cfg.routes[0].targets[0]).toEqual({ host: '10.0.0.1', port: 5060, transport: 'udp', priority: 10, weight: 1 });
    expect(cfg.redis.keyPrefix).toBe('sipd:');
    expect(cfg.instanceId).toMatch(/.+-\d+$/);
    expect(Object.isFrozen(cfg.routes[0].targets[0])).toBe(true);
  });

  it('names the field, the value found and what was expected for a wrong type', () => {
    const raw = base();
    (raw.routes[0].targets[0] as Record<string, unknown>).weight = 'heavy';
    const err = issuesOf(raw);
    expect(err.code).toBe('B2B_ERR_CONFIG_INVALID');
    expect(err.issues).toEqual([{ path: 'routes[0].targets[0].weight', found: '"heavy"', expected: 'a number' }]);
    expect(err.message).toContain('routes[0].targets[0].weight: found "heavy", expected a number');
  });

  it('rejects an out-of-range number', () => {
    const raw = base();
    (raw.drachtio.servers[0] as Record<string, unknown>).port = 70000;
    expect(issuesOf(raw).issues).toEqual([{ path: 'drachtio.servers[0].port', found: '70000', expected: 'a value <= 65535' }]);
  });

  it('rejects a non-integer', () => {
    const raw = base();
    (raw.routes[0].targets[0] as Record<string, unknown>).priority = 1.5;
    const [issue] = issuesOf(raw).issues;
    expect(issue).toEqual({ path: 'routes[0].targets[0].priority', found: '1.5', expected: 'an integer' });
  });

  it('rejects an unknown field (a typo) by name', () => {
    const raw = { ...base(), call: { provisionalTimout: 100 } };
    const [issue] = issuesOf(raw).issues;
    expect(issue.path).toBe('call');
    expect(issue.expected).toContain('"provisionalTimout" is not a known field');
  });

  it('rejects a bad enum value with the allowed ones', () => {
    const raw = base();
    (raw.routes[0] as Record<string, unknown>).strategy = 'roundrobin';
    expect(issuesOf(raw).issues).toEqual([{ path: 'routes[0].strategy', found: '"roundrobin"', expected: 'one of "weighted", "parallel", "least-loaded"' }]);
  });

  it('capacity: maxCalls and maxCps are optional positive integers; least-loaded is a strategy', () => {
    const cfg = validateConfig({
      ...base(),
      routes: [{ name: 'r', strategy: 'least-loaded', targets: [{ host: '10.0.0.1', maxCalls: 10, maxCps: 5 }, { host: '10.0.0.2' }] }],
    });
    expect(cfg.routes[0].strategy).toBe('least-loaded');
    expect(cfg.routes[0].targets[0]).toMatchObject({ maxCalls: 10, maxCps: 5 });
    expect(cfg.routes[0].targets[1].maxCalls).toBeUndefined();
    const raw = base();
    (raw.routes[0].targets[0] as Record<string, unknown>).maxCalls = 0;
    expect(issuesOf(raw).issues).toEqual([{ path: 'routes[0].targets[0].maxCalls', found: '0', expected: 'a value >= 1' }]);
  });

  it('capacity: one target named in two routes must have the same limits in both', () => {
    const raw = {
      ...base(),
      routes: [
        { name: 'a', match: { domains: ['a.test'] }, targets: [{ host: '10.0.0.1', maxCalls: 10 }] },
        { name: 'b', targets: [{ host: '10.0.0.1', maxCalls: 20 }] },
      ],
    };
    const [issue] = issuesOf(raw).issues;
    expect(issue.path).toBe('routes[1].targets[0]');
    expect(issue.expected).toContain('the same maxCalls and maxCps as routes[0].targets[0]');
    // the same limits, or another target: fine
    raw.routes[1].targets[0].maxCalls = 10;
    expect(() => validateConfig(raw)).not.toThrow();
  });

  it('userParameters: forward by default, per-route override, only the three policies', () => {
    expect(validateConfig(base()).call.userParameters).toBe('forward');
    const raw = { ...base(), call: { userParameters: 'reject' }, routes: [{ name: 'r', userParameters: 'strip', targets: [{ host: '10.0.0.1' }] }] };
    const cfg = validateConfig(raw);
    expect([cfg.call.userParameters, cfg.routes[0].userParameters]).toEqual(['reject', 'strip']);
    (raw.routes[0] as Record<string, unknown>).userParameters = 'drop';
    expect(issuesOf(raw).issues).toEqual([{ path: 'routes[0].userParameters', found: '"drop"', expected: 'one of "forward", "strip", "reject"' }]);
  });

  it('rejects a bad CIDR and a bad domain pattern', () => {
    const raw = base();
    (raw.routes[0] as Record<string, unknown>).match = { sources: ['10.0.0.0/33'], domains: ['exa mple.com'] };
    const issues = issuesOf(raw).issues;
    expect(issues.map((i) => i.path).sort()).toEqual(['routes[0].match.domains[0]', 'routes[0].match.sources[0]']);
    expect(issues.find((i) => i.path.endsWith('sources[0]'))?.found).toBe('"10.0.0.0/33"');
  });

  it('rejects a route without targets and a config without routes', () => {
    const raw = base();
    raw.routes[0].targets = [];
    expect(issuesOf(raw).issues[0]).toEqual({ path: 'routes[0].targets', found: '[]', expected: 'at least 1 item(s)' });
    const noRoutes = issuesOf({ drachtio: base().drachtio });
    expect(noRoutes.issues[0].path).toBe('routes');
    expect(noRoutes.issues[0].found).toBe('nothing (field missing)');
  });

  it('rejects duplicate route names and a default route that is not last', () => {
    const raw = base();
    raw.routes = [{ name: 'a', targets: [{ host: 'x' }] }, { name: 'a', targets: [{ host: 'y' }], match: { domains: ['y.org'] } } as (typeof raw.routes)[0]];
    const paths = issuesOf(raw).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['routes[1].name', 'routes[0].match']));
  });

  it('rejects an empty match and inbound mode with no drachtio server', () => {
    const raw = base();
    (raw.routes[0] as Record<string, unknown>).match = {};
    expect(issuesOf(raw).issues[0].path).toBe('routes[0].match');
    const err = issuesOf({ routes: base().routes });
    expect(err.issues[0].path).toBe('drachtio.servers');
    expect(err.issues[0].expected).toContain('DRACHTIO_HOST');
  });

  it('never prints a secret it rejects', () => {
    const raw = base();
    (raw.drachtio.servers[0] as Record<string, unknown>).secret = 12345;
    const err = issuesOf(raw);
    expect(err.issues[0]).toEqual({ path: 'drachtio.servers[0].secret', found: '(secret not shown)', expected: 'a string' });
    expect(err.message).not.toContain('12345');
  });

  it('rejects a Redis URL that is not redis:// or rediss://', () => {
    expect(issuesOf({ ...base(), redis: { url: 'http://x' } }).issues[0].path).toBe('redis.url');
  });

  it('rejects a Redis URL that does not parse (an unencoded "/" in the password)', () => {
    const err = issuesOf({ ...base(), redis: { url: 'redis://app:Pa/55word@redis.internal:6379' } });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- jest's asymmetric matchers are typed any
    expect(err.issues).toEqual([{ path: 'redis.url', found: '"redis://app:***@redis.internal:6379"', expected: expect.stringContaining('redis://') }]);
    expect(err.message).not.toContain('55word');
  });
});

describe('config errors never echo a secret', () => {
  it('masks the secret of an object printed for a misspelt field', () => {
    const raw = base();
    raw.drachtio.servers[0] = { host: 'h', secret: 'TopSecret123', prot: 1 } as unknown as (typeof raw.drachtio.servers)[0];
    const err = issuesOf(raw);
    expect(err.issues).toEqual([
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- jest's asymmetric matchers are typed any
      { path: 'drachtio.servers[0]', found: '{"host":"h","secret":"***","prot":"***"}', expected: expect.stringContaining('"prot" is not a known field') },
    ]);
    expect(err.message).not.toContain('TopSecret123');
  });

  it('masks the password of a Redis URL with the wrong scheme, keeping the user and host', () => {
    const err = issuesOf({ ...base(), redis: { url: 'http://user:Pa55word@host' } });
    expect(err.issues[0]).toMatchObject({ path: 'redis.url', found: '"http://user:***@host"' });
    expect(err.message).not.toContain('Pa55word');
  });

  it('masks secrets at any depth, and the value of a misspelt secret field', () => {
    // each `found` stays under the 80-character cut, so every secret would be visible unmasked
    const inbound = issuesOf({ ...base(), drachtio: { servers: [{ host: 'h', secret: 'ServerSecret1' }], typo: 1 } });
    expect(inbound.issues[0]).toMatchObject({ path: 'drachtio', found: '{"servers":[{"host":"h","secret":"***"}],"typo":"***"}' });
    const outbound = issuesOf({ ...base(), drachtio: { mode: 'outbound', listen: { port: 9023, secret: 'ListenSecret2' }, lissen: 'MisspeltValue3' } });
    expect(outbound.issues[0]).toMatchObject({ path: 'drachtio', found: '{"mode":"outbound","listen":{"port":9023,"secret":"***"},"lissen":"***"}' });
    const redis = issuesOf({ ...base(), redis: { url: 'redis://a:UrlPass4@r/0?password=QueryPass5', pasword: 'MisspeltPass6', keyPrefix: 'k:' } });
    expect(redis.issues[0]).toMatchObject({ path: 'redis', found: '{"url":"redis://a:***@r/0?password=***","pasword":"***","keyPrefix":"k:"}' });
    const text = [inbound, outbound, redis].map((e) => `${e.message}\n${JSON.stringify(e.issues)}`).join('\n');
    for (const secret of ['ServerSecret1', 'ListenSecret2', 'MisspeltValue3', 'UrlPass4', 'QueryPass5', 'MisspeltPass6']) expect(text).not.toContain(secret);
  });

  it('masks secrets that came from the environment', () => {
    const raw = base();
    raw.drachtio.servers[0] = { host: 'h', prot: 1 } as unknown as (typeof raw.drachtio.servers)[0];
    const err = issuesOf(applyEnv(raw, { DRACHTIO_SECRET: 'EnvSecret7', REDIS_URL: 'ftp://u:EnvPass8@r' }));
    expect(err.issues.find((i) => i.path === 'drachtio.servers[0]')?.found).toBe('{"host":"h","prot":"***","secret":"***"}');
    expect(err.issues.find((i) => i.path === 'redis.url')?.found).toBe('"ftp://u:***@r"');
    expect(err.message).not.toMatch(/EnvSecret7|EnvPass8/);
  });

  it('does not quote a YAML line holding a secret in a syntax error', () => {
    const text = 'drachtio:\n  servers: [{host: h, secret: YamlSecret9 port: 1]\nroutes: []\n';
    let message = '';
    try {
      parseConfigText(text, 'c.yaml');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^cannot parse c\.yaml: \w+ at line 2, column \d+/);
    expect(message).not.toContain('YamlSecret9');
  });

  it("gives only the error code and position when the parser's reason would quote part of a secret", () => {
    // yaml's reason for a bad escape quotes the escape itself: two characters of the password
    expect(() => parseConfigText('redis:\n  password: "Pa\\q55"\n', 'c.yaml')).toThrow(
      /^cannot parse c\.yaml: BAD_DQ_ESCAPE at line 2, column \d+ \(details not shown: the line holds a secret\)$/,
    );
  });

  it("still gives the parser's reason and position for a line without secrets", () => {
    expect(() => parseConfigText('a: b: c\n', 'c.yaml')).toThrow(
      /^cannot parse c\.yaml: Nested mappings are not allowed in compact mappings at line 1, column 4$/,
    );
  });
});

describe('environment overrides', () => {
  it('takes drachtio and Redis addresses and secrets from the environment', () => {
    const raw = applyEnv(
      { routes: base().routes },
      {
        DRACHTIO_HOST: '10.1.1.1',
        DRACHTIO_PORT: '9999',
        DRACHTIO_SECRET: 's3cret',
        REDIS_URL: 'rediss://redis.internal:6380',
        REDIS_PASSWORD: 'pw',
        LOG_LEVEL: 'debug',
        INSTANCE_ID: 'node-7',
      },
    );
    const cfg = validateConfig(raw);
    expect(cfg.drachtio.servers).toEqual([{ host: '10.1.1.1', port: 9999, secret: 's3cret' }]);
    expect(cfg.redis.url).toBe('rediss://redis.internal:6380');
    expect(cfg.redis.password).toBe('pw');
    expect(cfg.log.level).toBe('debug');
    expect(cfg.instanceId).toBe('node-7');
  });

  it('reports a non-numeric DRACHTIO_PORT as a bad field', () => {
    const err = issuesOf(applyEnv(base(), { DRACHTIO_PORT: 'abc' }));
    expect(err.issues[0]).toEqual({ path: 'drachtio.servers[0].port', found: '"abc"', expected: 'a number' });
  });

  it('does not mutate the object it was given', () => {
    const raw = base();
    applyEnv(raw, { DRACHTIO_HOST: 'elsewhere' });
    expect(raw.drachtio.servers[0].host).toBe('127.0.0.1');
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipd-config-'));

  it('reads YAML and JSON files', () => {
    const yamlFile = join(dir, 'c.yaml');
    writeFileSync(yamlFile, 'drachtio:\n  servers: [{host: 127.0.0.1}]\nroutes:\n  - name: r\n    targets: [{host: 10.0.0.1, weight: 3}]\n');
    expect(loadConfig(yamlFile, {}).routes[0].targets[0]).toMatchObject({ weight: 3 });
    const jsonFile = join(dir, 'c.json');
    writeFileSync(jsonFile, JSON.stringify(base()));
    expect(loadConfig(jsonFile, {}).routes[0].name).toBe('r');
  });

  it('gives a read error for a missing file and a parse error for broken YAML', () => {
    expect(() => loadConfig(join(dir, 'missing.yaml'), {})).toThrow(/B2B_ERR_CONFIG_READ|cannot read config file .*missing.yaml: ENOENT/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'routes: [\n  - name: x\n  targets');
    try {
      loadConfig(bad, {});
      throw new Error('expected failure');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('B2B_ERR_CONFIG_READ');
      expect((err as Error).message).toContain('cannot parse');
    }
  });

  it('loads every shipped config file', () => {
    for (const f of [
      'config/default.yaml',
      'config/examples/even-distribution.yaml',
      'config/examples/dynamic-distribution.yaml',
      'config/examples/srv-weights.yaml',
      'config/examples/parallel-ring.yaml',
    ]) {
      expect(loadConfig(f, {}).routes.length).toBeGreaterThan(0);
    }
  });
});

describe('README configuration reference', () => {
  const readme = readFileSync('README.md', 'utf8');

  /** every leaf path of a config with all defaults filled in, arrays written `[]` */
  function leafPaths(value: unknown, prefix: string): string[] {
    if (Array.isArray(value)) {
      const first: unknown = value[0];
      return typeof first === 'object' && first !== null ? leafPaths(first, `${prefix}[]`) : [prefix];
    }
    if (typeof value === 'object' && value !== null) {
      return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
    }
    return [prefix];
  }

  it('documents every field of the schema', () => {
    const full = validateConfig({
      ...base(),
      instanceId: 'x',
      redis: { password: 'p', username: 'u', tls: { caFile: '/ca.pem' } },
      routes: [
        {
          name: 'r',
          match: { domains: ['a.org'], sources: ['10.0.0.0/8'] },
          provisionalTimeoutMs: 500,
          maxAttempts: 2,
          failoverOn: [503],
          userParameters: 'strip',
          targets: [{ host: '10.0.0.1' }],
        },
      ],
    });
    const paths = leafPaths(full, '');
    expect(paths.length).toBeGreaterThan(30);
    // the per-route overrides share one row: `routes[].provisionalTimeoutMs`, `.maxAttempts`, `.failoverOn`
    const shared = (p: string) => /^routes\[\]\.(maxAttempts|failoverOn)$/.test(p) && readme.includes(`\`.${p.split('.').pop()}\``);
    const undocumented = paths.filter((p) => !readme.includes(`\`${p}\``) && !shared(p));
    expect(undocumented).toEqual([]);
  });
});
