/**
 * The apps under test, each started as production starts it: one node process running
 * JavaScript (the dispatcher's compiled build, dist/, as `npm start`; the baseline, bench/baseline.js;
 * with --before, "before": an earlier revision's build, started exactly as the dispatcher is),
 * with bench/probe.js preloaded for memory questions over IPC and --expose-gc (no cost unless the
 * bench asks for a collection). Their stdout (the dispatcher's JSON log) goes to a file, as to a
 * log collector, so reading it costs neither the app nor the bench anything while calls run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitOf, killChild, REPO_ROOT, trackChild } from '../test/harness/app';
import type { DrachtioServer } from '../test/harness/drachtio';

export type AppKind = 'dispatcher' | 'baseline' | 'before';

/** the apps that run the dispatcher's code (its config, Redis, logs): the current build and --before's */
export const isDispatcher = (kind: AppKind): boolean => kind !== 'baseline';

export const DISPATCHER_MAIN = path.join(REPO_ROOT, 'dist', 'apps', 'dispatcher', 'main.js');
const BASELINE_MAIN = path.join(__dirname, 'baseline.js');
const PROBE = path.join(__dirname, 'probe.js');

export interface Target {
  host: string;
  port: number;
  weight?: number;
}

/** The probe's answer: process.memoryUsage() and the writes the app made to Redis so far. */
export interface MemoryAnswer {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  redisWrites: number;
}

export interface AppUnderTest {
  kind: AppKind;
  pid: number;
  /** process.memoryUsage() of the app, after a full GC when `gc` */
  memory(gc?: boolean): Promise<MemoryAnswer>;
  /** the file the app's stdout goes to (gone once stopped) */
  logFile: string;
  /** lines written to stdout so far */
  logLines(): number;
  stop(): Promise<number | null>;
}

export interface StartOptions {
  kind: AppKind;
  drachtio: DrachtioServer;
  targets: Target[];
  redisUrl: string;
  /** dispatcher only: log level (default info, as shipped) */
  logLevel?: string;
  /** dispatcher only: passive health (default as shipped) */
  health?: Record<string, unknown>;
  instanceId?: string;
  /** node --cpu-prof into this directory (bench --profile) */
  cpuProfDir?: string;
  /** the allocation profile of the app's life, written here when it exits (bench --alloc-profile, bench/probe.js) */
  allocProfileAs?: string;
  /** copy the app's log here when it stops (bench --keep-logs) */
  keepLogAs?: string;
  /** kind "before": the worktree of the --before build; its entry is dist/apps/dispatcher/main.js under it */
  beforeDir?: string;
  /** kind "dispatcher" only: config sections merged over the bench's (bench --set), e.g. { overload: { maxSettingUp: 100 } } */
  overrides?: Record<string, Record<string, unknown>>;
  /** kind "dispatcher" only: node options before the entry (bench --node-flag) */
  nodeFlags?: string[];
  /** dispatcher only: these routes instead of one route over `targets` (npm run soak) */
  routes?: unknown[];
}

function dispatcherConfig(o: StartOptions): unknown {
  return {
    drachtio: { servers: [{ host: o.drachtio.host, port: o.drachtio.adminPort, secret: o.drachtio.secret }] },
    redis: { url: o.redisUrl, keyPrefix: 'bench:' },
    log: { level: o.logLevel ?? 'info' },
    ...(o.health ? { health: o.health } : {}),
    routes: o.routes ?? [
      {
        name: 'bench',
        targets: o.targets.map((t) => ({ host: t.host, port: t.port, priority: 30, weight: t.weight ?? 1 })),
      },
    ],
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startAppUnderTest(o: StartOptions): Promise<AppUnderTest> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${o.kind}-`));
  const logFile = path.join(dir, 'stdout.log');
  const out = fs.openSync(logFile, 'w');
  let args: string[];
  let env: Record<string, string | undefined> = { ...process.env, BENCH_REDIS_PORT: new URL(o.redisUrl).port, BENCH_ALLOC_PROF: o.allocProfileAs };
  let cwd = REPO_ROOT;
  if (isDispatcher(o.kind)) {
    // "before" is the same program from another revision: same config, flags and environment, its own tree
    if (o.kind === 'before' && !o.beforeDir) throw new Error('kind before needs beforeDir (--before <rev>)');
    const root = o.kind === 'before' ? (o.beforeDir as string) : REPO_ROOT;
    const main = o.kind === 'before' ? path.join(root, 'dist', 'apps', 'dispatcher', 'main.js') : DISPATCHER_MAIN;
    if (!fs.existsSync(main)) throw new Error(`no build at ${main}: run npm run build`);
    cwd = root;
    const config = path.join(dir, 'config.json');
    const cfg = dispatcherConfig(o) as Record<string, unknown>;
    if (o.kind === 'dispatcher')
      for (const [section, fields] of Object.entries(o.overrides ?? {})) cfg[section] = { ...(cfg[section] as object | undefined), ...fields };
    fs.writeFileSync(config, JSON.stringify(cfg));
    // as `npm start` (package.json), plus the probe
    args = ['--enable-source-maps', '--expose-gc', ...(o.kind === 'dispatcher' ? (o.nodeFlags ?? []) : []), '--require', PROBE, main, '--config', config];
    env = { ...env, INSTANCE_ID: o.instanceId ?? 'bench-1', NODE_ENV: 'production' };
  } else {
    args = ['--expose-gc', '--require', PROBE, BASELINE_MAIN];
    env = {
      ...env,
      NODE_ENV: 'production',
      DRACHTIO_HOST: o.drachtio.host,
      DRACHTIO_PORT: String(o.drachtio.adminPort),
      DRACHTIO_SECRET: o.drachtio.secret,
      BENCH_TARGETS: o.targets.map((t) => `${t.host}:${t.port}`).join(','),
    };
  }
  if (o.cpuProfDir) args.unshift('--cpu-prof', '--cpu-prof-dir', path.join(o.cpuProfDir, o.kind));
  // the bench's own settings must not reach the app
  delete env.DRACHTIO_BIN;
  const child: ChildProcess = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', out, 'pipe', 'ipc'] });
  fs.closeSync(out);
  trackChild(child);
  const exited = exitOf(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });

  let seq = 0;
  const pending = new Map<number, (m: MemoryAnswer) => void>();
  child.on('message', (m: MemoryAnswer & { type?: string; id?: number }) => {
    if (m.type !== 'mem' || m.id === undefined) return;
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });

  const readLog = (): string => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 20000;
  for (;;) {
    if (readLog().includes('"msg":"connected to drachtio"')) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await killChild(child, 'SIGKILL');
      throw new Error(`${o.kind} did not connect to drachtio (exit ${String(child.exitCode)}):\n${readLog().slice(-3000)}\n${stderr}`);
    }
    await sleep(50);
  }

  return {
    kind: o.kind,
    pid: child.pid ?? -1,
    logFile,
    memory(gc = false) {
      seq += 1;
      const id = seq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${o.kind}: no memory answer`));
        }, 10000);
        pending.set(id, (m) => {
          clearTimeout(timer);
          resolve({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, redisWrites: m.redisWrites });
        });
        child.send({ type: 'mem', id, gc });
      });
    },
    logLines() {
      // newline count of the log file, read in chunks
      let n = 0;
      const fd = fs.openSync(logFile, 'r');
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const got = fs.readSync(fd, buf, 0, buf.length, null);
        if (got <= 0) break;
        for (let i = 0; i < got; i += 1) if (buf[i] === 10) n += 1;
      }
      fs.closeSync(fd);
      return n;
    },
    async stop() {
      // the app's drain is not what is measured: calls still open after a failed step would hold it for
      // call.drainTimeoutMs, so SIGKILL follows after a second (Redis is flushed before the next step)
      const code = await killChild(child, 'SIGTERM', o.cpuProfDir || o.allocProfileAs ? 30000 : 1000);
      await exited;
      if (o.keepLogAs) fs.copyFileSync(logFile, o.keepLogAs);
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
