/**
 * Child-process helpers: start the app under test (a .ts entry run with tsx), wait for its
 * ready log line, read its JSON logs, stop it. Every child started by the harness is tracked
 * and killed when the jest worker exits, whatever happened to the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

const tracked = new Set<ChildProcess>();
/** What each child is and which test file started it, to name leaks. */
const origins = new WeakMap<ChildProcess, string>();
/** Children spawned with `detached: true` (own process group, e.g. tsx and the node under it). */
const groups = new WeakSet<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of tracked) {
      // a child still running here was never stopped by its test: say so (stderr is
      // synchronous for pipes and files on Linux), then kill it
      process.stderr.write(`test harness: killing leftover pid ${String(child.pid)} (${origins.get(child) ?? '?'})\n`);
      signal(child, 'SIGKILL');
    }
  });
  // A signal ends node without 'exit' handlers running (jest's force-exit of a worker sends
  // SIGTERM): turn SIGTERM/SIGINT/SIGHUP into an ordinary exit so the children go too.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    if (process.listenerCount(sig) === 0) {
      process.once(sig, () => process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15)));
    }
  }
}

/** Signal a child, or its whole process group when it leads one. */
function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (groups.has(child)) process.kill(-child.pid, sig);
    else if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  } catch {
    /* already gone */
  }
}

/**
 * Register a child so it is SIGKILLed when this process exits. `group`: the child was spawned
 * with `detached: true`, so signals go to its whole process group.
 */
export function trackChild(child: ChildProcess, group = false): void {
  installExitHook();
  if (group) groups.add(child);
  origins.set(child, `${[child.spawnfile, ...child.spawnargs.slice(1, 3)].join(' ')} from ${currentTestFile()}`);
  tracked.add(child);
  // A child the test forgot to stop must not keep the test process alive (in-band jest would
  // hang after the last test): unref it and its pipes; the 'exit' hook above then kills it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }
  child.once('exit', () => {
    tracked.delete(child);
    // leftovers in its group (e.g. the node process under tsx) go too
    if (group) signal(child, 'SIGKILL');
  });
}

function currentTestFile(): string {
  const g = globalThis as { expect?: { getState?: () => { testPath?: string } } };
  const testPath = g.expect?.getState?.().testPath;
  return testPath ? path.relative(REPO_ROOT, testPath) : 'outside jest';
}

/** Resolves with the exit code (null when killed by a signal) once the child has exited. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Send `signal`, wait up to `graceMs` for the exit, then SIGKILL. Resolves with the exit code.
 */
export async function killChild(child: ChildProcess, sig: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<number | null> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  signal(child, sig);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  signal(child, 'SIGKILL');
  return exited;
}

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface StartAppOptions {
  /** The .ts entry point, absolute or relative to the repository root. */
  entry: string;
  args?: string[];
  /** Added to the environment of the test process. */
  env?: Record<string, string>;
  /** The line that says the app is ready; default: a JSON log line with msg "connected to drachtio". */
  readyLine?: (line: string) => boolean;
  /** How long to wait for the ready line (default 20 s). */
  timeoutMs?: number;
}

export interface AppProcess {
  pid: number;
  /** Every stdout line so far. */
  lines: string[];
  /** Every stderr line so far (for diagnostics). */
  stderr: string[];
  /** stdout lines that parse as a JSON object. */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the first line (already seen or to come) that satisfies `pred`. */
  waitFor(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Sends `signal`, SIGKILLs after `graceMs` (default 5 s); resolves with the exit code (null when killed). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export function parseJsonLine(line: string): Record<string, unknown> | null {
  const t = line.trim();
  if (!t.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(t);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export const connectedToDrachtio = (line: string): boolean => parseJsonLine(line)?.msg === 'connected to drachtio';

export async function startApp(opts: StartAppOptions): Promise<AppProcess> {
  const entry = path.isAbsolute(opts.entry) ? opts.entry : path.join(REPO_ROOT, opts.entry);
  // node with tsx's loader, not the tsx CLI: the CLI relays signals to its node child and SIGKILLs it (exit 143) when the
  // child does not acknowledge a SIGTERM within 60 ms, which happens on a loaded machine and made graceful-stop tests flaky
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...(opts.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  trackChild(child, true);
  const exited = exitOf(child);

  const lines: string[] = [];
  const stderr: string[] = [];
  type Waiter = { pred: (l: string) => boolean; resolve: (l: string) => void };
  const waiters = new Set<Waiter>();
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pred(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  readline.createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));

  const waitFor = (pred: (line: string) => boolean, timeoutMs = 10000): Promise<string> => {
    const seen = lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const w: Waiter = {
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.add(w);
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(
          new Error(`app ${entry}: no matching line within ${timeoutMs} ms\nstdout:\n${lines.slice(-30).join('\n')}\nstderr:\n${stderr.slice(-30).join('\n')}`),
        );
      }, timeoutMs);
      void exited.then((code) => {
        if (!waiters.has(w)) return;
        waiters.delete(w);
        clearTimeout(timer);
        reject(
          new Error(
            `app ${entry} exited (${String(code)}) before the expected line\nstdout:\n${lines.slice(-30).join('\n')}\nstderr:\n${stderr.slice(-30).join('\n')}`,
          ),
        );
      });
    });
  };

  const app: AppProcess = {
    pid: child.pid ?? -1,
    lines,
    stderr,
    logs: () => lines.map(parseJsonLine).filter((v): v is Record<string, unknown> => v !== null),
    waitFor,
    stop: (signal: NodeJS.Signals = 'SIGTERM', graceMs?: number) => killChild(child, signal, graceMs),
    exited,
  };

  try {
    await waitFor(opts.readyLine ?? connectedToDrachtio, opts.timeoutMs ?? 20000);
  } catch (err) {
    await app.stop('SIGKILL');
    throw err;
  }
  return app;
}
