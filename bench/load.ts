/**
 * The load caller: one sipp UAC placing `calls` calls at `rate` calls/s (sipp -r, -m, -l), each
 * held `holdMs` (-d) and ended with a BYE, through the test harness' sipp launcher. Set-up time is
 * sipp's response time 1 (INVITE sent -> 200 received, ms resolution), per call from -trace_rtt.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freeUdpPort, LOOPBACK } from '../test/harness/ports';
import { freeMediaPort, launchSipp, quitSipp, removeDir, type SippRun, type SippStats } from '../test/harness/sipp';

export const LOAD_SCENARIO = path.join(__dirname, 'scenarios', 'uac-load.xml');

export interface LoadOptions {
  target: { host: string; port: number };
  /** the caller's scenario (default bench/scenarios/uac-load.xml; a name in test/scenarios or a path) */
  scenario?: string;
  /** the Request-URI's host (default the target's host:port) */
  domain?: string;
  rate: number;
  calls: number;
  holdMs: number;
  /** sipp -l (default 10 × rate, at least 100: room for calls that wait for their answer under overload) */
  limit?: number;
  /** sipp -recv_timeout: a call with no answer by then fails (default 5 s) */
  recvTimeoutMs?: number;
  /** called about once a second with sipp's latest statistics */
  onTick?: (s: SippStats, elapsedS: number) => void;
}

export interface LoadResult {
  exitCode: number;
  stats: SippStats;
  /** set-up time of every answered call, ms, in order of answer */
  setupMs: number[];
  wallS: number;
  pid: number;
  output: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readRtt(dir: string): number[] {
  const name = fs.readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  if (name === undefined) return [];
  const out: number[] = [];
  for (const line of fs.readFileSync(path.join(dir, name), 'utf8').split('\n').slice(1)) {
    const cells = line.split(';');
    if (cells.length >= 3 && cells[2].trim() === '1') out.push(Number(cells[1]));
  }
  return out;
}

/** Starts the caller; `done` resolves when sipp has exited (all calls placed and ended, or the watchdog). */
export async function startLoad(opts: LoadOptions): Promise<{ pid: number; run: SippRun; done: Promise<LoadResult> }> {
  const port = await freeUdpPort();
  const recvTimeout = opts.recvTimeoutMs ?? 5000;
  const limit = opts.limit ?? Math.max(100, opts.rate * 10);
  const args = [
    '-p',
    String(port),
    '-s',
    'bench',
    '-key',
    'ruri',
    `sip:bench@${opts.domain ?? `${opts.target.host}:${opts.target.port}`}`,
    '-m',
    String(opts.calls),
    '-r',
    String(opts.rate),
    '-l',
    String(limit),
    '-d',
    String(opts.holdMs),
    '-recv_timeout',
    String(recvTimeout),
    '-trace_rtt',
    // sipp writes response times in batches of -rtt_freq and drops the last partial batch at exit: 1 keeps every call
    '-rtt_freq',
    '1',
  ];
  const run = launchSipp(
    opts.scenario ?? LOAD_SCENARIO,
    args,
    await freeMediaPort(),
    `${opts.target.host === LOOPBACK ? LOOPBACK : opts.target.host}:${opts.target.port}`,
  );
  const t0 = Date.now();
  const budgetMs = (opts.calls / opts.rate) * 1000 + opts.holdMs + recvTimeout * 3 + 20000;
  const done = (async (): Promise<LoadResult> => {
    let code: number | null | undefined;
    void run.exited.then(
      (c) => (code = c),
      () => (code = -1),
    );
    while (code === undefined && Date.now() - t0 < budgetMs) {
      await sleep(1000);
      if (code === undefined) opts.onTick?.(run.stats(), (Date.now() - t0) / 1000);
    }
    if (code === undefined) code = await quitSipp(run, 2000);
    const result: LoadResult = {
      exitCode: code ?? -1,
      stats: run.stats(),
      setupMs: readRtt(run.dir),
      wallS: (Date.now() - t0) / 1000,
      pid: run.child.pid ?? -1,
      output: run.output(),
    };
    removeDir(run.dir);
    return result;
  })();
  return { pid: run.child.pid ?? -1, run, done };
}
