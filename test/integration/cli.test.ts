/**
 * The operator CLI (bin/sip-dispatcher.js) run as a child process against a real redis-server,
 * holding state written by the real CallStore and ClusterStore.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import IORedis, { type Redis } from 'ioredis';
import { CallStore, type CallRecord } from '../../lib/store/call-store';
import { ClusterStore } from '../../lib/store/cluster-store';
import { makeKeys } from '../../lib/store/keys';
import { USAGE } from '../../lib/cli/args';
import { packageVersion } from '../../lib/version';
import { exitOf, killChild, REPO_ROOT, trackChild } from '../harness/app';
import { freeTcpPort } from '../harness/ports';
import { startRedis, type RedisServer } from '../harness/redis';
import { writeConfig } from '../helpers/dispatcher';

const BIN = join(REPO_ROOT, 'bin', 'sip-dispatcher.js');
const PREFIX = 'cli:';
const T1 = 'udp:10.0.0.1:5060';
const T2 = 'udp:10.0.0.2:5060';
const ESC = '\u001b';

interface CliRun {
  /** stdout and stderr so far */
  stdout(): string;
  stderr(): string;
  /** resolves once stdout (or stderr) matches */
  waitFor(re: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Starts the CLI through its bin shim, with a clean environment (no SIPD_CONFIG, REDIS_* or NO_COLOR from outside). */
function start(args: string[], env: Record<string, string> = {}): CliRun {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SIPD_CONFIG|REDIS_|NO_COLOR$)/.test(k)));
  // SIPD_FROM_SOURCE: the sources through tsx, never a dist/ left by an earlier build (test/integration/build.test.ts runs the build)
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...base, SIPD_FROM_SOURCE: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = exitOf(child);
  // the exit code comes before the last output: wait for the pipes to close too
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    async waitFor(re, stream = 'stdout', timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out[stream])) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${String(re)} on ${stream}:\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    exited: exited.then(() => closed),
    stop: () => killChild(child, 'SIGTERM'),
  };
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  const run = start(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr(), ms: Date.now() - t0 };
}

function configFor(url: string, redis: Record<string, unknown> = {}): string {
  return writeConfig({
    drachtio: { servers: [{ host: '127.0.0.1', secret: 'not-the-default' }] },
    redis: { url, keyPrefix: PREFIX, connectTimeoutMs: 500, ...redis },
    routes: [{ name: 'inbound', targets: [{ host: '10.0.0.1' }, { host: '10.0.0.2' }] }],
  });
}

function record(callId: string, fromTag: string, instance: string, target: string, answeredAt: number): CallRecord {
  return {
    key: `${callId};${fromTag}`,
    callId,
    route: 'inbound',
    target,
    instance,
    server: '127.0.0.1:9022',
    answeredAt,
    startedAt: answeredAt - 800,
    aCallId: callId,
    aLocalTag: `as-${fromTag}`,
    aRemoteTag: fromTag,
    aDialogId: `${callId};from-tag=${fromTag}`,
    aUri: 'sip:caller@192.0.2.10:5060',
    bCallId: `b-${callId}`,
    bLocalTag: `b-${fromTag}`,
    bRemoteTag: 'sbc-tag',
    bDialogId: `b-${callId};from-tag=b-${fromTag}`,
    bUri: `sip:+4940123@${target.split(':')[1]}:5060`,
  };
}

describe('sip-dispatcher CLI against a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  let store: CallStore;
  let cluster: ClusterStore;
  let config: string;
  const startedAt = Date.now() - 3_723_000;
  const c1 = record('c1@192.0.2.10', 'ft1', 'node-a', T1, Date.now() - 65_000);
  const c2 = record('c2@192.0.2.10', 'ft2', 'node-b', T2, Date.now() - 5_000);

  beforeAll(async () => {
    server = await startRedis();
    redis = server.client();
    store = new CallStore(redis, PREFIX, 'node-a', 1000);
    cluster = new ClusterStore(redis, makeKeys(PREFIX), 1000);
    config = configFor(server.url);
  });
  afterAll(async () => {
    await server.stop();
  });

  /** node-a alive (heartbeat), node-b dead (owns a call, no registry key), counters and events written the real way. */
  beforeEach(async () => {
    await redis.flushdb();
    await cluster.heartbeat(
      { id: 'node-a', host: 'web1', pid: 4242, version: '0.1.0', servers: ['127.0.0.1:9022'], calls: 1, startedAt, draining: false },
      60_000,
    );
    expect(await store.recordAnswered(c1)).toBe(true);
    expect(await store.recordAnswered(c2)).toBe(true);
    await store.recordFailedAttempt(T1, '503');
    await store.recordFailedAttempt(T1, '503');
    await store.recordFailedAttempt(T2, 'timeout');
    await store.recordCanceledAttempt(T1);
  });

  /** A stand-in for an instance: subscribed to its control channel, it ends each call it is asked to. */
  async function owner(id: string): Promise<{ messages: string[]; stop(): Promise<void> }> {
    // its own connection, quit here: a subscribed connection can do nothing else
    const sub = new IORedis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 1 });
    const messages: string[] = [];
    sub.on('message', (_channel: string, text: string) => {
      messages.push(text);
      void store.endCall((JSON.parse(text) as { key: string }).key, 'operator');
    });
    await sub.subscribe(`${PREFIX}control:${id}`);
    return {
      messages,
      stop: async () => {
        await sub.quit();
      },
    };
  }

  describe('status', () => {
    it('--json: instances alive and dead, per-target counters, cluster totals', async () => {
      const r = await cli(['--config', config, 'status', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        instances: [
          {
            id: 'node-a',
            alive: true,
            host: 'web1',
            pid: 4242,
            version: '0.1.0',
            servers: ['127.0.0.1:9022'],
            calls: 1,
            ownedCalls: 1,
            startedAt,
            draining: false,
          },
          { id: 'node-b', alive: false, host: null, pid: null, version: null, servers: [], calls: null, ownedCalls: 1, startedAt: null, draining: null },
        ],
        targets: [
          { id: T1, active: 1, attempts: 4, answered: 1, canceled: 1, failed: { '503': 2 }, state: null },
          { id: T2, active: 1, attempts: 2, answered: 1, canceled: 0, failed: { timeout: 1 }, state: null },
        ],
        totals: { instances: 2, aliveInstances: 1, activeCalls: 2, attempts: 6, answered: 2, canceled: 1, failed: 3 },
      });
    });

    it('prints aligned tables without colour when stdout is not a terminal', async () => {
      const r = await cli(['status', '-c', config]);
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n');
      const header = lines.find((l) => l.startsWith('ID '))!;
      const nodeA = lines.find((l) => l.startsWith('node-a'))!;
      expect(nodeA).toMatch(/^node-a +alive +web1 +4242 +0\.1\.0 +127\.0\.0\.1:9022 +1 +1 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +1h02m0\d+s +no$/);
      expect(lines.find((l) => l.startsWith('node-b'))).toMatch(/^node-b +dead +- +- +- +- +- +1 +- +- +-$/);
      // columns line up: each header starts where its values do
      expect(nodeA.indexOf('127.0.0.1:9022')).toBe(header.indexOf('DRACHTIO'));
      expect(lines.find((l) => l.startsWith(T1))).toMatch(/^udp:10\.0\.0\.1:5060 +1 +4 +1 +1 +503=2 +up$/);
      expect(r.stdout).toContain('Cluster: 2 instance(s), 1 alive; 2 active call(s); 6 attempts: 2 answered, 1 canceled, 3 failed');
      expect(r.stdout).not.toContain(ESC);
    });

    it('reads the config from $SIPD_CONFIG when --config is not given', async () => {
      const r = await cli(['status', '--json'], { SIPD_CONFIG: config });
      expect(r.code).toBe(0);
      expect((JSON.parse(r.stdout) as { totals: { activeCalls: number } }).totals.activeCalls).toBe(2);
    });

    it('authenticates as the server does (redis.password), and reports a refused AUTH as unavailable without the password', async () => {
      const secured = await startRedis({ password: 'Op3rator-pw' });
      try {
        const url = `redis://127.0.0.1:${secured.port}`;
        const ok = await cli(['-c', configFor(url, { password: 'Op3rator-pw' }), 'status', '--json']);
        expect(ok.code).toBe(0);
        expect(JSON.parse(ok.stdout)).toMatchObject({ instances: [], targets: [] });
        const refused = await cli(['-c', configFor(url, { username: 'default', password: 'Wr0ng-pw' }), 'status']);
        expect(refused.code).toBe(69);
        expect(refused.stderr).toMatch(/cannot reach redis at redis:\/\/127\.0\.0\.1:\d+ within 500 ms: WRONGPASS/);
        expect(refused.stderr + refused.stdout).not.toContain('Wr0ng-pw');
      } finally {
        await secured.stop();
      }
    });

    it('exits 69 with a clear message when Redis is unreachable, the password masked', async () => {
      const port = await freeTcpPort();
      const r = await cli(['-c', configFor(`redis://:Url-Secret@127.0.0.1:${port}`, { connectTimeoutMs: 300 }), 'status']);
      expect(r.code).toBe(69);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`sip-dispatcher: cannot reach redis at redis://:***@127.0.0.1:${port} within 300 ms: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    });
  });

  describe('drain-target / undrain-target', () => {
    it('drains a target cluster-wide (state key, event), status shows it, undrain ends it; a bad id is a usage error', async () => {
      const T3 = 'tcp:10.0.0.3:5070'; // no counters yet: status lists it for its state
      const d = await cli(['-c', config, 'drain-target', T3]);
      expect(d).toMatchObject({ code: 0, stdout: `${T3}: drained (no new calls, cluster-wide; calls in progress go on)\n` });
      expect((await cli(['-c', config, 'drain-target', T3])).stdout).toBe(`${T3}: already drained\n`);
      expect(await redis.hgetall(`${PREFIX}target:${T3}:health`)).toMatchObject({ state: 'draining', cause: 'operator drain', instance: 'cli' });
      const st = JSON.parse((await cli(['-c', config, 'status', '--json'])).stdout) as { targets: Array<{ id: string; state: unknown }> };
      expect(st.targets.find((t) => t.id === T3)?.state).toMatchObject({ state: 'draining', until: null, cause: 'operator drain' });
      expect(st.targets.find((t) => t.id === T1)?.state).toBeNull();
      expect((await cli(['-c', config, 'status'])).stdout).toMatch(/^tcp:10\.0\.0\.3:5070 .* draining: operator drain$/m);
      const u = await cli(['-c', config, 'undrain-target', T3]);
      expect(u).toMatchObject({ code: 0, stdout: `${T3}: undrained (in selection again)\n` });
      expect((await cli(['-c', config, 'undrain-target', T3])).stdout).toBe(`${T3}: was not drained\n`);
      expect(await redis.exists(`${PREFIX}target:${T3}:health`)).toBe(0);
      const ev = await cli(['-c', config, 'events', '-n', '2']);
      expect(ev.stdout).toMatch(/target-draining +target=tcp:10\.0\.0\.3:5070 until=8640000000000000 cause="operator drain" instance=cli/);
      expect(ev.stdout).toMatch(/target-undrained +target=tcp:10\.0\.0\.3:5070 was=draining cause="operator drain" instance=cli/);
      const bad = await cli(['-c', config, 'drain-target', '10.0.0.3']);
      expect(bad.code).toBe(64);
      expect(bad.stderr).toContain('expected a target id such as udp:10.0.0.1:5060');
    });
  });

  describe('calls', () => {
    it('--json: every live call with its record, duration so far and adoptedFrom', async () => {
      const before = Date.now();
      const r = await cli(['-c', config, 'calls', '--json']);
      const after = Date.now();
      expect(r.code).toBe(0);
      const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
      expect(rows).toEqual([
        // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- jest's asymmetric matchers are typed any
        { ...c1, adoptedFrom: null, durationMs: expect.any(Number) },
        // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- jest's asymmetric matchers are typed any
        { ...c2, adoptedFrom: null, durationMs: expect.any(Number) },
      ]);
      expect(rows[0].durationMs).toBeGreaterThanOrEqual(before - c1.answeredAt);
      expect(rows[0].durationMs).toBeLessThanOrEqual(after - c1.answeredAt);
    });

    it('filters by owner and by target, and shows a call adopted from a dead owner', async () => {
      const token = await cluster.acquireTakeover('node-b', 10_000);
      expect(await cluster.adopt('node-b', 'node-a', token!)).toEqual([c2.key]);
      const mine = await cli(['-c', config, 'calls', '--instance', 'node-a', '--json']);
      expect(
        (JSON.parse(mine.stdout) as Array<{ key: string; instance: string; adoptedFrom: string | null }>).map((c) => [c.key, c.instance, c.adoptedFrom]),
      ).toEqual([
        [c1.key, 'node-a', null],
        [c2.key, 'node-a', 'node-b'],
      ]);
      const toT2 = await cli(['-c', config, 'calls', '--target', T2]);
      expect(toT2.code).toBe(0);
      const lines = toT2.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^CALL-ID +KEY +ROUTE +TARGET +OWNER +SERVER +ANSWERED +DURATION +ADOPTED-FROM$/);
      expect(lines[1]).toMatch(/^c2@192\.0\.2\.10 +c2@192\.0\.2\.10;ft2 +inbound +udp:10\.0\.0\.2:5060 +node-a +127\.0\.0\.1:9022 +\S+Z +\d+s +node-b$/);
      expect(lines[2]).toBe('1 call(s)');
      expect((await cli(['-c', config, 'calls', '--instance', 'node-b'])).stdout).toBe('no live calls\n');
    });
  });

  describe('hangup', () => {
    it('sends the hangup to the owner by Call-ID and exits 0 once the owner has ended the call', async () => {
      const a = await owner('node-a');
      try {
        const r = await cli(['-c', config, 'hangup', c1.callId]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(r.stdout).toBe(`hung up ${c1.key} (by node-a)\n`);
        expect(a.messages).toEqual([JSON.stringify({ action: 'hangup', key: c1.key })]);
        expect(await store.getCall(c1.key)).toBeNull();
        expect(await store.getCall(c2.key)).not.toBeNull();
      } finally {
        await a.stop();
      }
    });

    it('needs the call key, or --all, when a Call-ID names several calls', async () => {
      const twin = record(c1.callId, 'ft9', 'node-a', T2, Date.now());
      await store.recordAnswered(twin);
      const ambiguous = await cli(['-c', config, 'hangup', c1.callId]);
      expect(ambiguous.code).toBe(64);
      expect(ambiguous.stderr).toContain(`matches 2 calls:\n  ${c1.key}\n  ${twin.key}\n`);
      expect(await store.getCall(c1.key)).not.toBeNull();

      const a = await owner('node-a');
      try {
        const byKey = await cli(['-c', config, 'hangup', twin.key]);
        expect(byKey.code).toBe(0);
        expect(a.messages).toEqual([JSON.stringify({ action: 'hangup', key: twin.key })]);
        expect(await store.getCall(c1.key)).not.toBeNull();
        await store.recordAnswered(twin);
        const all = await cli(['-c', config, 'hangup', c1.callId, '--all']);
        expect(all.code).toBe(0);
        expect(all.stdout.split('\n').sort()).toEqual(['', `hung up ${c1.key} (by node-a)`, `hung up ${twin.key} (by node-a)`]);
        expect(await store.getCall(c1.key)).toBeNull();
        expect(await store.getCall(twin.key)).toBeNull();
      } finally {
        await a.stop();
      }
    });

    it('exits 1 when no live call has that Call-ID or key', async () => {
      const r = await cli(['-c', config, 'hangup', 'nobody@192.0.2.99']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('hangup: no live call with Call-ID or call key "nobody@192.0.2.99"\n');
    });

    it('exits 2 after --wait when the owner is dead and nobody adopts its calls', async () => {
      const r = await cli(['-c', config, 'hangup', c2.key, '--wait', '1']);
      expect(r.code).toBe(2);
      expect(r.ms).toBeGreaterThanOrEqual(1000);
      expect(r.stderr).toContain(`${c2.key}: not hung up within 1 s: its owner node-b is not listening`);
      expect(await store.getCall(c2.key)).not.toBeNull();
    });

    it("follows the call to the survivor that adopts a dead owner's calls while it waits", async () => {
      const run = start(['-c', config, 'hangup', c2.callId, '--wait', '20']);
      try {
        await run.waitFor(/owner node-b is not listening/, 'stderr');
        const c = await owner('node-c');
        try {
          const token = await cluster.acquireTakeover('node-b', 10_000);
          expect(await cluster.adopt('node-b', 'node-c', token!)).toEqual([c2.key]);
          expect(await run.exited).toBe(0);
          expect(run.stdout()).toBe(`hung up ${c2.key} (by node-c)\n`);
          expect(c.messages).toEqual([JSON.stringify({ action: 'hangup', key: c2.key })]);
        } finally {
          await c.stop();
        }
      } finally {
        await run.stop();
      }
    });
  });

  describe('events', () => {
    const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

    it('prints the last N events, oldest first, one line each: time, type, fields', async () => {
      const r = await cli(['-c', config, 'events', '--count', '3']);
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(new RegExp(`^${TIME}  attempt   target=udp:10\\.0\\.0\\.1:5060 result=failed:503 instance=node-a$`));
      expect(lines[1]).toMatch(new RegExp(`^${TIME}  attempt   target=udp:10\\.0\\.0\\.2:5060 result=failed:timeout instance=node-a$`));
      expect(lines[2]).toMatch(new RegExp(`^${TIME}  attempt   target=udp:10\\.0\\.0\\.1:5060 result=canceled instance=node-a$`));
    });

    it('--json: one object per line, the time taken from the stream id', async () => {
      const r = await cli(['-c', config, 'events', '--json']);
      expect(r.code).toBe(0);
      const events = r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string; time: string; type: string; fields: Record<string, string> });
      expect(events.map((e) => e.type)).toEqual(['answered', 'answered', 'attempt', 'attempt', 'attempt', 'attempt']);
      expect(events[0].fields).toEqual({ call: c1.key, target: T1, instance: 'node-a', route: 'inbound' });
      for (const e of events) expect(Date.parse(e.time)).toBe(Number(e.id.split('-')[0]));
    });

    it('--follow prints new events as they are added, until stopped', async () => {
      const run = start(['-c', config, 'events', '--follow', '-n', '1']);
      try {
        await run.waitFor(/result=canceled/);
        await store.endCall(c1.key, 'operator');
        await run.waitFor(
          new RegExp(
            `${TIME}  ended     call=c1@192\\.0\\.2\\.10;ft1 target=udp:10\\.0\\.0\\.1:5060 instance=node-a owner=node-a route=inbound by=operator durationMs=\\d+\\n`,
          ),
        );
        await cluster.event('released', { call: c2.key, instance: 'node-c', by: 'caller' });
        await run.waitFor(/released {2}call=c2@192\.0\.2\.10;ft2 instance=node-c by=caller\n/);
        expect(run.stdout().trimEnd().split('\n')).toHaveLength(3);
      } finally {
        expect(await run.stop()).toBe(0);
      }
    });

    it('says so on stderr when there are no events', async () => {
      await redis.del(`${PREFIX}events`);
      const r = await cli(['-c', config, 'events']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('no events\n');
    });
  });

  describe('usage, version and config errors', () => {
    it('--version prints the package version', async () => {
      const r = await cli(['--version']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`sip-dispatcher ${packageVersion()}\n`);
    });

    it('--help prints the usage, the server and every operator command in it', async () => {
      const r = await cli(['--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${USAGE}\n`);
      for (const cmd of ['serve', 'status', 'calls', 'hangup', 'events']) expect(r.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
      const serve = await cli(['serve', '--help']);
      expect(serve.code).toBe(0);
      expect(serve.stdout).toMatch(/^usage: sip-dispatcher \[serve\] \[--config <file>\]\n/);
    });

    it('with no command, or serve, runs the server: a bad config file exits 78 as the server does', async () => {
      const bad = writeConfig({ redis: { url: server.url, password: 'Sh0uld-not-show' }, routes: [] });
      for (const args of [
        ['--config', bad],
        ['serve', '--config', bad],
        ['-c', bad, 'serve'],
      ]) {
        const r = await cli(args);
        expect({ args, code: r.code }).toEqual({ args, code: 78 });
        expect(r.stderr).toMatch(/^B2B_ERR_CONFIG_INVALID: invalid configuration in \S+:\n/);
        expect(r.stderr).toContain('routes: found [], expected at least 1 item(s)');
        expect(r.stderr).not.toContain('Sh0uld-not-show');
        expect(r.stdout).toBe('');
      }
      const missing = await cli(['--config', '/nonexistent/sipd.yaml']);
      expect(missing.code).toBe(78);
      expect(missing.stderr).toBe('B2B_ERR_CONFIG_READ: cannot read config file /nonexistent/sipd.yaml: ENOENT\n');
    });

    it('an unknown command prints the usage on stderr and exits 64', async () => {
      const r = await cli(['-c', config, 'reboot']);
      expect(r.code).toBe(64);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^sip-dispatcher: unknown command "reboot"\n\nusage: sip-dispatcher \[--config <file>\] <command>/);
    });

    it('a bad config exits 78 with the ConfigError message, no secret in it', async () => {
      const bad = writeConfig({ redis: { url: server.url, password: 'Sh0uld-not-show', keyPrefx: 'x' }, routes: [] });
      const r = await cli(['-c', bad, 'status']);
      expect(r.code).toBe(78);
      expect(r.stderr).toMatch(/^B2B_ERR_CONFIG_INVALID: invalid configuration in \S+:\n/);
      expect(r.stderr).toContain('redis: found');
      expect(r.stderr).toContain('routes: found [], expected at least 1 item(s)');
      expect(r.stderr).not.toContain('Sh0uld-not-show');
      const missing = await cli(['-c', '/nonexistent/sipd.yaml', 'status']);
      expect(missing.code).toBe(78);
      expect(missing.stderr).toBe('B2B_ERR_CONFIG_READ: cannot read config file /nonexistent/sipd.yaml: ENOENT\n');
    });
  });
});
