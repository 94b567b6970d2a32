/**
 * What can be checked of the Docker image and the compose stack without a Docker engine (none on the
 * build machines): the Dockerfiles through a linter (dockerfile-utils, the validator of the VS Code
 * Docker extension) and for the structure the image needs; docker-compose.yml parsed as YAML, for
 * pinned images, secrets only from .env, health-gated start order.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { parse } from 'yaml';
import { REPO_ROOT } from '../harness/app';

const read = (file: string): string => readFileSync(join(REPO_ROOT, file), 'utf8');
const DISPATCHER = 'docker/dispatcher/Dockerfile';
const SIPP = 'docker/sipp/Dockerfile';

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}

/** Instructions (continuation lines joined, comments dropped), ARG defaults substituted into FROM, grouped by stage. */
function stages(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const argDefaults = new Map<string, string>();
  const out: Stage[] = [];
  for (const line of lines) {
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const keyword = m[1].toUpperCase();
    const args = m[2];
    if (keyword === 'FROM') {
      const [image, as, name] = args.replace(/\$\{(\w+)\}/g, (_, v: string) => argDefaults.get(v) ?? '').split(/\s+/);
      out.push({ from: image, name: as?.toUpperCase() === 'AS' ? name : undefined, body: [] });
    } else if (out.length === 0) {
      if (keyword === 'ARG') {
        const [k, v] = args.split('=');
        if (v !== undefined) argDefaults.set(k, v);
      }
    } else {
      out[out.length - 1].body.push({ keyword, args });
    }
  }
  return out;
}

/** An image reference with an explicit version tag: not latest, not untagged, a digit in the tag (or a digest). */
function pinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  return tag !== undefined && tag !== 'latest' && /\d/.test(tag);
}

describe('Dockerfiles', () => {
  it.each([DISPATCHER, SIPP])('%s: the linter finds nothing', (file) => {
    const problems = validate(read(file)).map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`);
    expect(problems).toEqual([]);
  });

  it.each([DISPATCHER, SIPP])('%s: every base image is pinned to a version', (file) => {
    const froms = stages(read(file)).map((s) => s.from);
    expect(froms.length).toBeGreaterThan(0);
    for (const from of froms) expect({ from, pinned: pinned(from) }).toEqual({ from, pinned: true });
  });

  describe('the dispatcher image', () => {
    const all = stages(read(DISPATCHER));
    const runtime = all[all.length - 1];
    const has = (stage: Stage, keyword: string, re: RegExp): boolean => stage.body.some((i) => i.keyword === keyword && re.test(i.args));

    it('is multi-stage: built with the dev dependencies, run with the production ones only', () => {
      expect(all.length).toBeGreaterThanOrEqual(2);
      const build = all.find((s) => has(s, 'RUN', /npm run build/));
      expect(build).toBeDefined();
      expect(has(build!, 'RUN', /npm ci(?!.*--omit=dev)/)).toBe(true);
      expect(build).not.toBe(runtime);
      // node_modules in the runtime stage come from a stage that installed production dependencies only
      const modules = runtime.body.filter((i) => i.keyword === 'COPY' && /node_modules/.test(i.args));
      expect(modules).toHaveLength(1);
      const from = /--from=(\S+)/.exec(modules[0].args)?.[1];
      const deps = all.find((s) => s.name === from);
      expect(deps).toBeDefined();
      expect(has(deps!, 'RUN', /npm ci .*--omit=dev/)).toBe(true);
      expect(has(runtime, 'COPY', new RegExp(`--from=${build!.name ?? '-'} .*dist`))).toBe(true);
      expect(has(runtime, 'RUN', /npm (ci|install)/)).toBe(false);
    });

    it('runs with NODE_ENV=production, as a user other than root', () => {
      expect(has(runtime, 'ENV', /(^|\s)NODE_ENV=production(\s|$)/)).toBe(true);
      const users = runtime.body.filter((i) => i.keyword === 'USER').map((i) => i.args);
      expect(users.length).toBeGreaterThan(0);
      expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
      // and nothing after the last USER switches back
      const lastUser = runtime.body.map((i) => i.keyword).lastIndexOf('USER');
      expect(runtime.body.slice(lastUser).filter((i) => i.keyword === 'RUN')).toEqual([]);
    });

    it('runs node under an init process (tini), the bin as entry point', () => {
      const entry = runtime.body.filter((i) => i.keyword === 'ENTRYPOINT').map((i) => JSON.parse(i.args) as string[]);
      expect(entry).toHaveLength(1);
      expect(entry[0].slice(0, 4)).toEqual(['/usr/bin/tini', '--', 'node', 'bin/sip-dispatcher.js']);
      expect(has(runtime, 'RUN', /apt-get install .*\btini=/)).toBe(true);
    });

    it('has a HEALTHCHECK that runs the health script copied into the image', () => {
      const hc = runtime.body.filter((i) => i.keyword === 'HEALTHCHECK');
      expect(hc).toHaveLength(1);
      expect(hc[0].args).toMatch(/CMD \["node", "docker\/dispatcher\/healthcheck.js"\]/);
      expect(has(runtime, 'COPY', /docker\/dispatcher\/healthcheck\.js/)).toBe(true);
    });

    it('is labelled with its version (OCI labels)', () => {
      expect(has(runtime, 'LABEL', /org\.opencontainers\.image\.version="\$\{VERSION\}"/)).toBe(true);
      expect(has(runtime, 'ARG', /^VERSION=/)).toBe(true);
    });
  });

  it('.dockerignore keeps node_modules, dist, .git and .env out of the build context', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', '.env']) expect(lines).toContain(entry);
    expect(lines).toContain('!test/scenarios'); // the sipp image copies its scenario from there
  });
});

describe('docker-compose.yml', () => {
  const text = read('docker-compose.yml');
  type Service = {
    image?: string;
    build?: { dockerfile?: string; args?: Record<string, string> };
    environment?: Record<string, string>;
    env_file?: string | string[];
    command?: string | string[];
    depends_on?: Record<string, { condition?: string }> | string[];
    healthcheck?: { test?: string[] };
  };
  const services = (parse(text, { merge: true }) as { services: Record<string, Service> }).services;
  const names = Object.keys(services);
  const SECRET_NAME = /secret|password|passwd|token|credential|key$/i;
  const envExample = Object.fromEntries(
    read('.env.example')
      .split('\n')
      .filter((l) => /^\w+=/.test(l))
      .map((l) => l.split(/=(.*)/s).slice(0, 2)),
  ) as Record<string, string>;

  it('has drachtio, redis, two dispatchers and the sipp back-ends', () => {
    expect(names).toEqual(expect.arrayContaining(['drachtio', 'redis', 'dispatcher-1', 'dispatcher-2', 'siparator1']));
  });

  it("pins every image to a version (a built one: its Dockerfile's base images are checked above)", () => {
    for (const [name, s] of Object.entries(services)) {
      expect({ name, image: s.image, pinned: s.image !== undefined && pinned(s.image) }).toEqual({ name, image: s.image, pinned: true });
      if (s.build) expect([DISPATCHER, SIPP]).toContain(s.build.dockerfile);
    }
  });

  it('takes every secret from .env as ${VAR}, never a literal', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- jest's asymmetric matchers are typed any
        if (SECRET_NAME.test(k)) expect({ name, k, v }).toEqual({ name, k, v: expect.stringMatching(/^\$\{[A-Z_]+:\?[^}]+\}$/) });
      }
      const command = Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? '');
      expect(command).not.toMatch(/--secret\b/);
      expect(command).not.toMatch(/--requirepass\s+(?!"?\$\$)/);
    }
    expect(text).not.toMatch(/cymru/);
    for (const placeholder of Object.values(envExample)) expect(text).not.toContain(placeholder);
  });

  it('reads .env in every service that gets a secret, and .env.example names every variable with a placeholder', () => {
    const used = new Set([...text.matchAll(/\$\{([A-Z_]+)/g)].map((m) => m[1]));
    expect([...used].sort()).toEqual(Object.keys(envExample).sort());
    for (const v of Object.values(envExample)) expect(v).toMatch(/^change-me/);
    for (const [name, s] of Object.entries(services)) {
      if (Object.keys(s.environment ?? {}).some((k) => SECRET_NAME.test(k))) expect({ name, env_file: s.env_file }).toEqual({ name, env_file: '.env' });
    }
    expect(read('.gitignore').split('\n')).toContain('.env');
  });

  it('health-checks drachtio and redis, and starts the dispatchers only once they are healthy', () => {
    for (const name of ['drachtio', 'redis']) expect(services[name].healthcheck?.test?.length).toBeGreaterThan(0);
    for (const name of names.filter((n) => n.startsWith('dispatcher'))) {
      const deps = services[name].depends_on;
      expect(Array.isArray(deps)).toBe(false);
      const d = deps as Record<string, { condition?: string }>;
      expect(d.drachtio?.condition).toBe('service_healthy');
      expect(d.redis?.condition).toBe('service_healthy');
      for (const [dep, c] of Object.entries(d)) {
        expect(names).toContain(dep);
        expect(['service_healthy', 'service_started']).toContain(c.condition);
      }
      expect(services[name].environment?.INSTANCE_ID).toBe(name); // the image's health check finds its registry key by it
    }
  });
});

describe('docker/dispatcher/healthcheck.js (the image HEALTHCHECK) decides from `status --json`', () => {
  type Verdict = { healthy: boolean; reason: string };
  // a plain CommonJS script, copied into the image as is (no types of its own)
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped JS (no allowJs): required and typed here
  const { verdict } = require('../../docker/dispatcher/healthcheck.js') as {
    verdict: (report: unknown, opts: { instanceId?: string; hostname: string; requireDrachtio: boolean }) => Verdict;
  };
  const inst = (over: Record<string, unknown>): Record<string, unknown> => ({
    id: 'd1',
    alive: true,
    host: 'h1',
    pid: 7,
    servers: ['drachtio:9022'],
    draining: false,
    ...over,
  });
  const opts = { instanceId: 'd1', hostname: 'h1', requireDrachtio: true };

  it('healthy: its registry key is there (alive) and it is connected to a drachtio-server', () => {
    expect(verdict({ instances: [inst({}), inst({ id: 'd2', host: 'h2' })] }, opts).healthy).toBe(true);
    expect(verdict({ instances: [inst({ id: 'h1-7' })] }, { ...opts, instanceId: undefined }).healthy).toBe(true);
  });

  it('unhealthy: not registered, key expired, draining, or no drachtio connection', () => {
    expect(verdict({ instances: [inst({ id: 'd2' })] }, opts)).toEqual({ healthy: false, reason: 'instance d1: not in the registry' });
    expect(verdict({ instances: [inst({ alive: false, host: null, servers: [] })] }, opts).reason).toMatch(/registry key expired/);
    expect(verdict({ instances: [inst({ draining: true })] }, opts).reason).toMatch(/draining/);
    expect(verdict({ instances: [inst({ servers: [] })] }, opts).reason).toMatch(/not connected to any drachtio-server/);
    expect(verdict({ instances: [inst({ servers: [] })] }, { ...opts, requireDrachtio: false }).healthy).toBe(true);
    expect(verdict({ instances: [inst({ host: 'other' })] }, { ...opts, instanceId: undefined }).healthy).toBe(false);
  });
});
