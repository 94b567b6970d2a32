/**
 * `npm run bench`: what the dispatcher costs per call against a bare drachtio-srf B2BUA, in one run.
 *
 *   npm run bench [-- --quick] [-- --out <dir>]
 *   DRACHTIO_BIN=/path/to/drachtio npm run bench     (a real drachtio-server; the emulator otherwise)
 *
 * sipp caller -> drachtio-server -> app under test -> 3 sipp back-ends (answer), calls held 1 s.
 * The app under test is the dispatcher (compiled, dist/, with Redis and info logs, as shipped) or
 * the baseline (bench/baseline.js), alternating step for step; with --before <git-rev>, also that revision
 * of the dispatcher ("before", built in a temporary worktree, bench/before.ts), so gains show in one run. Every step has a fresh drachtio-server,
 * fresh back-ends and a fresh app process; one redis-server serves the run (flushed between steps).
 * See README "Benchmark" for what is measured and how to read it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Redis from 'ioredis';
import { startDrachtio, type DrachtioServer } from '../test/harness/drachtio';
import { startRedis, type RedisServer } from '../test/harness/redis';
import { startUas, type SippStats, type SippUas, type UasBehaviour } from '../test/harness/sipp';
import { isDispatcher, startAppUnderTest, type AppKind, type AppUnderTest } from './apps';
import { buildBefore, type BeforeBuild } from './before';
import { startLoad } from './load';
import { childPids, cpuSeconds, cpuTicks, stealShare, machine, memoryOf, treeCpuSeconds, udpCounters } from './procs';
import { redisDelta, redisSnapshot } from './redis-info';
import { gains, writeReport, terminalTable, type Gains } from './report';
import { chiSquare, percentile } from './stats';
import { drachtioVersionOf, gitDescribe, toolVersions } from './versions';

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

export interface Mode {
  name: 'full' | 'quick';
  ladder: number[];
  stepS: number;
  holdMs: number;
  /** sipp -recv_timeout: a call with no answer (or no 200 to its BYE) by then fails */
  recvTimeoutMs: number;
  /** the overload steps run the baseline too (full mode; --quick: the dispatcher only, and "before" when given) */
  overloadBaseline: boolean;
  distribution: { calls: number; rate: number; weights: number[] };
  failover: { calls: number; rate: number };
  memory: { calls: number; rate: number };
}

const FULL: Mode = {
  name: 'full',
  ladder: [100, 200, 400, 600, 800, 1000, 1200, 1500, 1800, 2200, 2600, 3000],
  stepS: 20,
  holdMs: 1000,
  recvTimeoutMs: 5000,
  overloadBaseline: true,
  distribution: { calls: 10000, rate: 500, weights: [60, 20, 10, 10] },
  failover: { calls: 2000, rate: 200 },
  memory: { calls: 2000, rate: 200 },
};

const QUICK: Mode = {
  name: 'quick',
  ladder: [100, 500],
  stepS: 4,
  holdMs: 1000,
  recvTimeoutMs: 3000,
  overloadBaseline: false,
  distribution: { calls: 1000, rate: 250, weights: [60, 20, 10, 10] },
  failover: { calls: 300, rate: 100 },
  memory: { calls: 200, rate: 100 },
};

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

export interface StepResult {
  app: AppKind;
  phase: 'ladder' | 'overload';
  rate: number;
  seconds: number;
  planned: number;
  attempted: number;
  succeeded: number;
  /** attempted - succeeded at the caller (sipp FailedCall plus calls that never finished) */
  failed: number;
  failedCaller: number;
  backends: { received: number; succeeded: number; failed: number; retransmissions: number };
  retransmissions: number;
  /** why calls failed at the caller: sipp's Failed* counters that are not zero */
  failureKinds: Record<string, number>;
  setup: { n: number; p50: number; p95: number; p99: number; max: number };
  /** answered and cleanly ended calls per second of offered load */
  goodput: number;
  windowS: number;
  cpu: { appS: number; redisS: number; drachtioS: number; sippS: number };
  appCpuPer1k: number;
  redisCpuPer1k: number;
  drachtioCpuPer1k: number;
  appCorePct: number;
  /**
   * per call: commands (commandstats), server read events (total_reads_processed) and the app's writes to
   * its Redis socket (counted by bench/probe.js: one per command, pipeline or MULTI/EXEC block sent)
   */
  redis: { commandsPerCall: number; readsPerCall: number; writesPerCall: number; byCommand: Record<string, number> };
  rssMaxMb: number;
  peakRssMb: number;
  heapMaxMb: number;
  logLinesPerCall: number;
  udp: { rcvbufErrors: number; inErrors: number };
  /** share of the machine's CPU time the hypervisor stole during the step (/proc/stat steal): high = a noisy neighbour */
  stealPct?: number;
  ok: boolean;
  /** wall time of the whole step, start-up and teardown included */
  tookS: number;
}

export interface DistributionResult {
  calls: number;
  rate: number;
  weights: number[];
  received: number[];
  shares: number[];
  chi2: number;
  df: number;
  p: number;
  callerSucceeded: number;
  callerAttempted: number;
}

export interface FailoverResult {
  calls: number;
  rate: number;
  weights: number[];
  /** index of the back-end answering 503 */
  failing: number;
  received: number[];
  attempted: number;
  succeeded: number;
  successShare: number;
  setup: { p50: number; p99: number };
}

export interface MemoryResult {
  app: AppKind;
  calls: number;
  /** calls up when measured (sipp's CurrentCall): the divisor of the per-call memory figures */
  activeAtPeak: number;
  /** calls placed when measured: the divisor of the set-up phase's Redis figures (the end phase's: all calls placed) */
  placedAtPeak: number;
  heapBeforeMb: number;
  heapPeakMb: number;
  heapAfterMb: number;
  heapPerCallKb: number;
  rssPerCallKb: number;
  redisBytesPerCall?: number;
  redisKeysAtPeak?: number;
  /** per call, background (heartbeats, health refresh) at the idle rate subtracted */
  setupCommandsPerCall?: number;
  setupRoundTripsPerCall?: number;
  endCommandsPerCall?: number;
  endRoundTripsPerCall?: number;
  /** the app's writes to Redis per call (bench/probe.js), background subtracted */
  setupWritesPerCall?: number;
  endWritesPerCall?: number;
  idleCommandsPerS?: number;
  idleReadsPerS?: number;
  failed: number;
}

export interface BenchResult {
  version: 1;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  mode: Mode;
  drachtio: 'real' | 'emulator';
  drachtioVersion: string;
  machine: ReturnType<typeof machine> & { node: string; redis: string; sipp: string; loadavgAtStart: number[] };
  git: string;
  steps: StepResult[];
  /** highest zero-failure rates; ratio = dispatcher ÷ baseline; beforeRatio = dispatcher ÷ before (--before) */
  headline: { dispatcher?: number; baseline?: number; ratio?: number; before?: number; beforeRatio?: number };
  overload: StepResult[];
  distribution?: DistributionResult;
  failover?: FailoverResult;
  memory: MemoryResult[];
  notes: string[];
  /** --set / --node-flag / a profiler on: the dispatcher ran with trial settings, so its figures are not those of its defaults */
  trial?: { set: Record<string, Record<string, unknown>>; nodeFlags: string[]; profiled?: Array<'cpu' | 'alloc'> };
  /** --before: the revision run as app "before" */
  before?: { rev: string; commit: string; subject: string; buildS: number };
  /** --before: dispatcher ÷ before, step for step and for the memory part */
  gains?: Gains;
}

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;
const tty = process.stdout.isTTY;

function progress(text: string): void {
  if (tty) process.stdout.write(`\r\x1b[K${text}`);
}
function line(text: string): void {
  if (tty) process.stdout.write('\r\x1b[K');
  process.stdout.write(`${text}\n`);
}

function drachtioNeedle(): string {
  return process.env.DRACHTIO_BIN ?? path.join('test', 'emulator', 'main.ts');
}

/** CPU seconds of the drachtio process(es) this bench started and that are still running. */
function drachtioCpu(roots: number[]): number {
  return roots.map((p) => treeCpuSeconds(p)).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
}

interface Bed {
  drachtio: DrachtioServer;
  drachtioRoots: number[];
  uas: SippUas[];
  app: AppUnderTest;
}

class Bench {
  redis!: RedisServer;
  client!: Redis;
  redisPid = 0;
  readonly notes: string[] = [];
  /** --profile: the dispatcher's CPU profiles go here; --keep-logs: its logs */
  profileDir?: string;
  /** --alloc-profile: every app's allocation profile, one file per step, goes here */
  allocDir?: string;
  /** --set section.field=value: the dispatcher's config changed for a trial (not before's) */
  overrides: Record<string, Record<string, unknown>> = {};
  /** --node-flag: node options for the dispatcher only (not before's, not the baseline's), e.g. V8 heap sizing */
  nodeFlags: string[] = [];
  logDir?: string;
  /** --before: the worktree of the earlier revision's build (app "before") */
  beforeDir?: string;
  constructor(readonly mode: Mode) {}

  async start(): Promise<void> {
    this.redis = await startRedis();
    this.client = this.redis.client();
    this.redisPid = (await redisSnapshot(this.client)).pid;
  }

  async bed(kind: AppKind, behaviours: UasBehaviour[], weights?: number[], stepNo = 0): Promise<Bed> {
    const before = new Set(childPids(drachtioNeedle()));
    const drachtio = await startDrachtio({ loglevel: 'error' });
    const drachtioRoots = childPids(drachtioNeedle()).filter((p) => !before.has(p));
    const uas = await Promise.all(behaviours.map((b) => startUas(b)));
    await this.client.flushall();
    const app = await startAppUnderTest({
      kind,
      drachtio,
      targets: uas.map((u, i) => ({ host: u.host, port: u.port, weight: weights?.[i] ?? 1 })),
      redisUrl: this.redis.url,
      instanceId: `bench-${stepNo}`,
      cpuProfDir: this.profileDir,
      allocProfileAs: this.allocDir ? path.join(this.allocDir, `step-${stepNo}-${kind}.heapprofile`) : undefined,
      keepLogAs: isDispatcher(kind) && this.logDir ? path.join(this.logDir, `step-${stepNo}.log`) : undefined,
      beforeDir: this.beforeDir,
      overrides: this.overrides,
      nodeFlags: this.nodeFlags,
    });
    // let the app settle (first heartbeat, health refresh, JIT of the start-up path)
    await sleep(this.mode.name === 'quick' ? 500 : 1000);
    return { drachtio, drachtioRoots, uas, app };
  }

  async teardown(bed: Bed): Promise<SippStats[]> {
    await bed.app.stop();
    const stats = await Promise.all(bed.uas.map((u) => u.stop(1000)));
    await bed.drachtio.stop();
    return stats;
  }

  async step(kind: AppKind, phase: StepResult['phase'], rate: number, seconds: number, stepNo: number): Promise<StepResult> {
    const label = `${phase === 'overload' ? 'overload ' : ''}${kind.padEnd(10)} ${String(rate).padStart(5)}/s`;
    progress(`${label}  starting`);
    const started = Date.now();
    const bed = await this.bed(kind, ['answer', 'answer', 'answer'], undefined, stepNo);
    const planned = Math.round(rate * seconds);
    const sippPids = bed.uas.map((u) => u.pid);
    const cpu0 = {
      app: cpuSeconds(bed.app.pid),
      redis: cpuSeconds(this.redisPid),
      drachtio: drachtioCpu(bed.drachtioRoots),
      sipp: sippPids.reduce((a, p) => a + cpuSeconds(p), 0),
    };
    const logs0 = bed.app.logLines();
    const udp0 = udpCounters();
    const ticks0 = cpuTicks();
    const r0 = await redisSnapshot(this.client);
    const w0 = (await bed.app.memory()).redisWrites;
    const t0 = Date.now();
    let rssMax = 0;
    let heapMax = 0;
    let callerCpu = 0;
    let callerPid = -1;
    const sample = (): void => {
      rssMax = Math.max(rssMax, memoryOf(bed.app.pid).rss || 0);
      bed.app.memory().then(
        (m) => (heapMax = Math.max(heapMax, m.heapUsed)),
        () => undefined,
      );
    };
    const load = await startLoad({
      target: { host: bed.drachtio.sipAddress, port: bed.drachtio.sipPort },
      rate,
      calls: planned,
      holdMs: this.mode.holdMs,
      recvTimeoutMs: this.mode.recvTimeoutMs,
      onTick: (s, el) => {
        if (callerPid > 0) callerCpu = cpuSeconds(callerPid) || callerCpu;
        sample();
        progress(
          `${label}  ${el.toFixed(0)}s  placed ${s.totalCalls}/${planned}  up ${s.currentCalls}  ok ${s.successfulCalls}  failed ${s.failedCalls}  retrans ${s.retransmissions}`,
        );
      },
    });
    callerPid = load.pid;
    const res = await load.done;
    // the app may still be finishing the last BYEs' transactions
    await sleep(300);
    sample();
    await sleep(100);
    const windowS = (Date.now() - t0) / 1000;
    const cpu1 = {
      app: cpuSeconds(bed.app.pid),
      redis: cpuSeconds(this.redisPid),
      drachtio: drachtioCpu(bed.drachtioRoots),
      sipp: sippPids.reduce((a, p) => a + cpuSeconds(p), 0),
    };
    const r1 = await redisSnapshot(this.client);
    const w1 = (await bed.app.memory()).redisWrites;
    const udp1 = udpCounters();
    const ticks1 = cpuTicks();
    const logs1 = bed.app.logLines();
    const peakRss = memoryOf(bed.app.pid).peakRss;
    const uasStats = await this.teardown(bed);

    const s = res.stats;
    const attempted = s.totalCalls;
    const succeeded = s.successfulCalls;
    const per1k = (x: number): number => (attempted > 0 ? (x / attempted) * 1000 : NaN);
    const rd = redisDelta(r0, r1);
    const byCommand: Record<string, number> = {};
    for (const [k, v] of Object.entries(rd.commands)) byCommand[k] = attempted > 0 ? v / attempted : NaN;
    const backends = {
      received: uasStats.reduce((a, u) => a + u.incomingCalls, 0),
      succeeded: uasStats.reduce((a, u) => a + u.successfulCalls, 0),
      failed: uasStats.reduce((a, u) => a + u.failedCalls, 0),
      retransmissions: uasStats.reduce((a, u) => a + u.retransmissions, 0),
    };
    const failureKinds: Record<string, number> = {};
    for (const [k, v] of Object.entries(s.raw)) {
      if (/^Failed.*\(C\)$/.test(k) && k !== 'FailedCall(C)' && Number(v) > 0) failureKinds[k.replace('(C)', '')] = Number(v);
    }
    const failed = Math.max(0, planned - succeeded);
    const appS = cpu1.app - cpu0.app;
    const result: StepResult = {
      app: kind,
      phase,
      rate,
      seconds,
      planned,
      attempted,
      succeeded,
      failed,
      failedCaller: s.failedCalls,
      backends,
      retransmissions: s.retransmissions,
      failureKinds,
      setup: {
        n: res.setupMs.length,
        p50: percentile(res.setupMs, 50),
        p95: percentile(res.setupMs, 95),
        p99: percentile(res.setupMs, 99),
        max: percentile(res.setupMs, 100),
      },
      goodput: succeeded / seconds,
      windowS,
      cpu: { appS, redisS: cpu1.redis - cpu0.redis, drachtioS: cpu1.drachtio - cpu0.drachtio, sippS: cpu1.sipp - cpu0.sipp + callerCpu },
      appCpuPer1k: per1k(appS),
      redisCpuPer1k: per1k(cpu1.redis - cpu0.redis),
      drachtioCpuPer1k: per1k(cpu1.drachtio - cpu0.drachtio),
      appCorePct: (appS / windowS) * 100,
      redis: {
        commandsPerCall: attempted > 0 ? rd.commandTotal / attempted : NaN,
        readsPerCall: attempted > 0 ? rd.reads / attempted : NaN,
        writesPerCall: attempted > 0 ? (w1 - w0) / attempted : NaN,
        byCommand,
      },
      rssMaxMb: rssMax / MB,
      peakRssMb: peakRss / MB,
      heapMaxMb: heapMax / MB,
      logLinesPerCall: attempted > 0 ? (logs1 - logs0) / attempted : NaN,
      stealPct: stealShare(ticks0, ticks1) * 100,
      udp: {
        rcvbufErrors: (udp1.RcvbufErrors ?? 0) - (udp0.RcvbufErrors ?? 0),
        inErrors: (udp1.InErrors ?? 0) - (udp0.InErrors ?? 0),
      },
      ok: attempted >= planned && succeeded === planned && backends.failed === 0,
      tookS: (Date.now() - started) / 1000,
    };
    line(stepLine(result));
    return result;
  }

  async distribution(): Promise<DistributionResult> {
    const { calls, rate, weights } = this.mode.distribution;
    progress(`distribution ${calls} calls at ${rate}/s, weights ${weights.join(':')}`);
    const bed = await this.bed('dispatcher', ['answer', 'answer', 'answer', 'answer'], weights, 900);
    const load = await startLoad({ target: { host: bed.drachtio.sipAddress, port: bed.drachtio.sipPort }, rate, calls, holdMs: this.mode.holdMs });
    const res = await load.done;
    const uas = await this.teardown(bed);
    const received = uas.map((u) => u.incomingCalls);
    const total = received.reduce((a, b) => a + b, 0);
    const sumW = weights.reduce((a, b) => a + b, 0);
    const chi = chiSquare(
      received,
      weights.map((w) => w / sumW),
    );
    const r: DistributionResult = {
      calls,
      rate,
      weights,
      received,
      shares: received.map((x) => x / total),
      ...chi,
      callerSucceeded: res.stats.successfulCalls,
      callerAttempted: res.stats.totalCalls,
    };
    line(
      `distribution  ${calls} calls, weights ${weights.join(':')}: shares ${r.shares.map((x) => (x * 100).toFixed(1)).join(':')} %, chi2 ${r.chi2.toFixed(2)} (df ${r.df}), p ${r.p.toFixed(3)}`,
    );
    return r;
  }

  async failover(): Promise<FailoverResult> {
    const { calls, rate } = this.mode.failover;
    const weights = this.mode.distribution.weights;
    progress(`failover ${calls} calls at ${rate}/s, back-end 1 (weight ${weights[0]}) answers 503`);
    const bed = await this.bed('dispatcher', ['unavailable-503', 'answer', 'answer', 'answer'], weights, 901);
    const load = await startLoad({ target: { host: bed.drachtio.sipAddress, port: bed.drachtio.sipPort }, rate, calls, holdMs: this.mode.holdMs });
    const res = await load.done;
    const uas = await this.teardown(bed);
    const r: FailoverResult = {
      calls,
      rate,
      weights,
      failing: 0,
      received: uas.map((u) => u.incomingCalls),
      attempted: res.stats.totalCalls,
      succeeded: res.stats.successfulCalls,
      successShare: res.stats.totalCalls > 0 ? res.stats.successfulCalls / res.stats.totalCalls : NaN,
      setup: { p50: percentile(res.setupMs, 50), p99: percentile(res.setupMs, 99) },
    };
    line(
      `failover      ${calls} calls, back-end 1 of 4 answers 503: ${(r.successShare * 100).toFixed(2)} % succeeded; INVITEs per back-end ${r.received.join(' / ')}; p99 set-up ${r.setup.p99} ms`,
    );
    return r;
  }

  async memory(kind: AppKind): Promise<MemoryResult> {
    const { calls, rate } = this.mode.memory;
    progress(`memory ${kind}: ${calls} calls held at once`);
    const bed = await this.bed(kind, ['answer', 'answer', 'answer'], undefined, { dispatcher: 902, baseline: 903, before: 904 }[kind]);
    const rampS = calls / rate;
    // measured 3 s after the last call was placed (or, if placing them falls behind, 1 s before the first
    // call's hold ends); the first call ends holdMs after it started
    const holdMs = Math.round((rampS * 1.5 + 6) * 1000);
    // idle: background Redis traffic of the app (heartbeats, health refresh), per second
    const i0 = await redisSnapshot(this.client);
    const iw0 = (await bed.app.memory()).redisWrites;
    const ti0 = Date.now();
    await sleep(2000);
    const i1 = await redisSnapshot(this.client);
    const iw1 = (await bed.app.memory()).redisWrites;
    const idleS = (Date.now() - ti0) / 1000;
    const idle = redisDelta(i0, i1);
    const idleCmdPerS = idle.commandTotal / idleS;
    const idleReadsPerS = idle.reads / idleS;
    const idleWritesPerS = (iw1 - iw0) / idleS;
    const before = await bed.app.memory(true);
    const rssBefore = memoryOf(bed.app.pid).rss;
    const s0 = await redisSnapshot(this.client);
    const t0 = Date.now();
    let current = 0;
    const load = await startLoad({
      target: { host: bed.drachtio.sipAddress, port: bed.drachtio.sipPort },
      rate,
      calls,
      holdMs,
      limit: calls + 10,
      onTick: (s) => {
        current = s.currentCalls;
        progress(`memory ${kind}: ${s.totalCalls}/${calls} placed, ${s.currentCalls} up`);
      },
    });
    // every call placed and answered, none ended yet
    const measureBy = t0 + holdMs - 1000;
    while (load.run.stats().totalCalls < calls && Date.now() < measureBy - 3000) await sleep(250);
    await sleep(Math.max(0, Math.min(3000, measureBy - Date.now())));
    const placedAtPeak = load.run.stats().totalCalls;
    current = load.run.stats().currentCalls;
    const s1 = await redisSnapshot(this.client);
    const t1 = Date.now();
    const peak = await bed.app.memory(true);
    const rssPeak = memoryOf(bed.app.pid).rss;
    const activeAtPeak = Math.max(1, current);
    const res = await load.done;
    await sleep(500);
    const s2 = await redisSnapshot(this.client);
    const t2 = Date.now();
    const after = await bed.app.memory(true);
    await this.teardown(bed);
    const n = res.stats.totalCalls || calls;
    const setup = redisDelta(s0, s1);
    const end = redisDelta(s1, s2);
    const setupS = (t1 - t0) / 1000;
    const endS = (t2 - t1) / 1000;
    const r: MemoryResult = {
      app: kind,
      calls,
      activeAtPeak,
      heapBeforeMb: before.heapUsed / MB,
      heapPeakMb: peak.heapUsed / MB,
      heapAfterMb: after.heapUsed / MB,
      placedAtPeak,
      heapPerCallKb: (peak.heapUsed - before.heapUsed) / activeAtPeak / 1024,
      rssPerCallKb: (rssPeak - rssBefore) / activeAtPeak / 1024,
      failed: Math.max(0, calls - res.stats.successfulCalls),
    };
    if (isDispatcher(kind)) {
      Object.assign(r, {
        redisBytesPerCall: (s1.usedMemory - s0.usedMemory) / activeAtPeak,
        redisKeysAtPeak: s1.keys - s0.keys,
        setupCommandsPerCall: (setup.commandTotal - idleCmdPerS * setupS) / Math.max(1, placedAtPeak),
        setupRoundTripsPerCall: (setup.reads - idleReadsPerS * setupS) / Math.max(1, placedAtPeak),
        setupWritesPerCall: (peak.redisWrites - before.redisWrites - idleWritesPerS * setupS) / Math.max(1, placedAtPeak),
        endWritesPerCall: (after.redisWrites - peak.redisWrites - idleWritesPerS * endS) / n,
        endCommandsPerCall: (end.commandTotal - idleCmdPerS * endS) / n,
        endRoundTripsPerCall: (end.reads - idleReadsPerS * endS) / n,
        idleCommandsPerS: idleCmdPerS,
        idleReadsPerS,
      });
    }
    line(
      `memory ${kind.padEnd(10)} ${calls} held calls (${activeAtPeak} up when measured): heap ${r.heapPerCallKb.toFixed(2)} KB/call, RSS ${r.rssPerCallKb.toFixed(2)} KB/call` +
        (r.redisBytesPerCall !== undefined
          ? `, Redis ${r.redisBytesPerCall.toFixed(0)} B/call; per call set-up ${r.setupCommandsPerCall?.toFixed(2)} cmds / ${r.setupRoundTripsPerCall?.toFixed(2)} reads / ${r.setupWritesPerCall?.toFixed(2)} requests, end ${r.endCommandsPerCall?.toFixed(2)} / ${r.endRoundTripsPerCall?.toFixed(2)} / ${r.endWritesPerCall?.toFixed(2)}`
          : ''),
    );
    return r;
  }

  async stop(): Promise<void> {
    await this.redis?.stop();
  }
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');

function stepLine(r: StepResult): string {
  const verdict = r.ok ? 'ok  ' : 'FAIL';
  return (
    `${verdict} ${r.phase === 'overload' ? 'overload ' : ''}${r.app.padEnd(10)} ${String(r.rate).padStart(5)}/s  ` +
    `${r.succeeded}/${r.planned} ok, failed ${r.failed} (back-ends ${r.backends.failed}), retrans ${r.retransmissions}+${r.backends.retransmissions}, ` +
    `set-up p50/p95/p99 ${f0(r.setup.p50)}/${f0(r.setup.p95)}/${f0(r.setup.p99)} ms, app ${f0(r.appCorePct)}% (${r.appCpuPer1k.toFixed(2)} s/1k), ` +
    `redis ${r.redisCpuPer1k.toFixed(2)} s/1k, ${r.redis.commandsPerCall.toFixed(1)} cmds ${r.redis.writesPerCall.toFixed(1)} requests ${r.redis.readsPerCall.toFixed(1)} reads/call, RSS ${f0(r.rssMaxMb)} MB, heap ${f1(r.heapMaxMb)} MB, UDP drops ${r.udp.rcvbufErrors}, CPU stolen ${f0(r.stealPct ?? NaN)}% [${r.tookS.toFixed(0)} s]`
  );
}

function usage(message: string): Error {
  const err = new Error(message);
  err.name = 'UsageError';
  return err;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

/** The result's `trial` field, when the dispatcher did not run as shipped (soak-rate.ts leaves such runs out). */
function trialOf(bench: Bench): Pick<BenchResult, 'trial'> {
  const profiled: Array<'cpu' | 'alloc'> = [...(bench.profileDir ? (['cpu'] as const) : []), ...(bench.allocDir ? (['alloc'] as const) : [])];
  if (Object.keys(bench.overrides).length === 0 && bench.nodeFlags.length === 0 && profiled.length === 0) return {};
  return { trial: { set: bench.overrides, nodeFlags: bench.nodeFlags, ...(profiled.length > 0 ? { profiled } : {}) } };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'usage: npm run bench -- [--quick] [--out <dir>] [--only ladder,overload,distribution,memory] [--top <calls/s>]\n' +
        '                        [--rates 300,400] [--apps dispatcher,baseline,before] [--before <git-rev>] [--profile] [--alloc-profile] [--keep-logs]\n' +
        '  DRACHTIO_BIN=<drachtio binary> for a real drachtio-server (the emulator otherwise)\n' +
        "  --only: run these parts only (for development); --top: the dispatcher's zero-failure rate to assume when the ladder is not run\n" +
        '  --rates: the ladder to climb; --apps: the apps to run; --profile: node --cpu-prof the apps (bench/results/profiles/);\n' +
        '  --alloc-profile: every allocation of each app, sampled, collected objects included (bench/results/profiles/;\n' +
        "    open in a browser's developer tools, Memory); --keep-logs: keep the dispatcher's log of each step (bench/results/logs/)\n" +
        '  --set section.field=<JSON>: a trial config for the dispatcher; --node-flag <--option=value>: a node option for it\n' +
        '  --before <git-rev>: also run that revision of the dispatcher as app "before" (built in a temporary git worktree\n' +
        '    outside the repo, removed at the end), step for step with the others, in the ladder, overload and memory parts;\n' +
        "    the report adds its figures beside the dispatcher's and a Gains section (dispatcher ÷ before)\n",
    );
    return;
  }
  const mode = { ...(argv.includes('--quick') ? QUICK : FULL) };
  const ratesIdx = argv.indexOf('--rates');
  if (ratesIdx >= 0) mode.ladder = argv[ratesIdx + 1].split(',').map(Number);
  const beforeIdx = argv.indexOf('--before');
  const beforeRev = beforeIdx >= 0 ? argv[beforeIdx + 1] : undefined;
  if (beforeIdx >= 0 && (!beforeRev || beforeRev.startsWith('--'))) throw usage('--before needs a git revision (e.g. --before HEAD~1)');
  const appsIdx = argv.indexOf('--apps');
  const defaultApps: AppKind[] = beforeRev ? ['dispatcher', 'baseline', 'before'] : ['dispatcher', 'baseline'];
  const apps = new Set<AppKind>(appsIdx >= 0 ? (argv[appsIdx + 1].split(',') as AppKind[]) : defaultApps);
  for (const a of apps) {
    if (!['dispatcher', 'baseline', 'before'].includes(a)) throw usage(`--apps: unknown app ${a} (dispatcher, baseline, before)`);
  }
  if (apps.has('before') && !beforeRev) throw usage('--apps before needs --before <git-rev>');
  const onlyIdx = argv.indexOf('--only');
  const parts = new Set(onlyIdx >= 0 ? argv[onlyIdx + 1].split(',') : ['ladder', 'overload', 'distribution', 'memory']);
  const bench0Notes: string[] = [];
  const topIdx = argv.indexOf('--top');
  const assumedTop = topIdx >= 0 ? Number(argv[topIdx + 1]) : undefined;
  const outIdx = argv.indexOf('--out');
  const outDir = outIdx >= 0 ? path.resolve(argv[outIdx + 1]) : path.join(__dirname, 'results');
  const kind: 'real' | 'emulator' = process.env.DRACHTIO_BIN ? 'real' : 'emulator';
  const started = new Date();
  // the commit measured: dist/ was built from it just before (npm run bench); read now, not after the run
  const commit = gitDescribe();
  if (parts.size < 4) bench0Notes.push(`parts run: ${[...parts].join(', ')} (--only)`);
  if (ratesIdx >= 0) bench0Notes.push(`ladder: ${mode.ladder.join(', ')} calls/s (--rates)`);
  if (appsIdx >= 0 && [...apps].sort().join() !== [...defaultApps].sort().join()) bench0Notes.push(`apps run: ${[...apps].join(', ')} (--apps)`);
  if (beforeRev && !apps.has('before')) bench0Notes.push(`--before ${beforeRev} given but "before" not in --apps: not built, not run`);
  const label = kind === 'emulator' ? ' — EMULATOR figures (drachtio-server emulator, not a real drachtio-server)' : '';
  line(`sip-dispatcher bench (${mode.name})${label}`);
  line(
    `${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; steps of ${mode.stepS} s, calls held ${mode.holdMs} ms`,
  );

  // --before: build that revision first (a failed build ends the run before anything is measured)
  let before: BeforeBuild | undefined;
  if (beforeRev && apps.has('before')) {
    before = await buildBefore(beforeRev, line);
    line(`--before ${beforeRev}: ${before.commit.slice(0, 7)} "${before.subject}" built in ${before.buildS.toFixed(0)} s`);
    bench0Notes.push(`"before" is ${beforeRev} = ${before.commit.slice(0, 7)} "${before.subject}", built in a temporary worktree (--before)`);
  }

  const bench = new Bench(mode);
  bench.notes.push(...bench0Notes);
  bench.beforeDir = before?.dir;
  argv.forEach((a, i) => {
    if (a !== '--set') return;
    const m = /^(\w+)\.(\w+)=(.*)$/.exec(argv[i + 1] ?? '');
    if (!m) throw usage(`--set wants section.field=value (a JSON value), got ${String(argv[i + 1])}`);
    let value: unknown = m[3];
    try {
      value = JSON.parse(m[3]);
    } catch {
      // a bare string
    }
    (bench.overrides[m[1]] ??= {})[m[2]] = value;
    bench.notes.push(`the dispatcher ran with ${m[1]}.${m[2]} = ${JSON.stringify(value)} (--set)`);
  });
  argv.forEach((a, i) => {
    if (a !== '--node-flag') return;
    const flag = argv[i + 1] ?? '';
    if (!flag.startsWith('--')) throw usage(`--node-flag wants a node option such as --max-semi-space-size=32, got ${flag}`);
    bench.nodeFlags.push(flag);
    bench.notes.push(`the dispatcher ran with node ${flag} (--node-flag)`);
  });
  if (argv.includes('--profile')) bench.profileDir = path.join(outDir, 'profiles', started.toISOString().replace(/[:.]/g, ''));
  if (argv.includes('--alloc-profile')) {
    bench.allocDir = path.join(outDir, 'profiles', `${started.toISOString().replace(/[:.]/g, '')}-alloc`);
    fs.mkdirSync(bench.allocDir, { recursive: true });
    bench.notes.push('the apps ran with the allocation sampler on (--alloc-profile): their CPU figures are not to be quoted');
  }
  if (argv.includes('--keep-logs')) {
    bench.logDir = path.join(outDir, 'logs', started.toISOString().replace(/[:.]/g, ''));
    fs.mkdirSync(bench.logDir, { recursive: true });
  }
  await bench.start();
  const steps: StepResult[] = [];
  const overload: StepResult[] = [];
  const memory: MemoryResult[] = [];
  let distribution: DistributionResult | undefined;
  let failover: FailoverResult | undefined;
  const fails: Record<AppKind, number> = { dispatcher: 0, baseline: 0, before: 0 };
  let stepNo = 0;
  let failure: string | undefined;
  try {
    // the ladder: the apps take turns at each rate (dispatcher, baseline[, before]), and which goes first
    // rotates from rate to rate; the time budget grows with the number of apps
    const kinds = (['dispatcher', 'baseline', 'before'] as AppKind[]).filter((k) => apps.has(k));
    const rotated = (list: AppKind[], i: number): AppKind[] => list.map((_, j) => list[(i + j) % list.length]);
    const ladderBudgetS = ((mode.name === 'quick' ? 90 : 480) * Math.max(2, kinds.length)) / 2;
    for (const [i, rate] of parts.has('ladder') ? mode.ladder.entries() : []) {
      if ((Date.now() - started.getTime()) / 1000 > ladderBudgetS) {
        bench.notes.push(`the ladder stopped before ${rate}/s: its time budget (${ladderBudgetS} s) was spent`);
        break;
      }
      const live = rotated(kinds, i).filter((k) => fails[k] < 2);
      if (live.length === 0) break;
      for (const k of live) {
        stepNo += 1;
        const r = await bench.step(k, 'ladder', rate, mode.stepS, stepNo);
        steps.push(r);
        fails[k] = r.ok ? 0 : fails[k] + 1;
      }
    }
    const top = (k: AppKind): number | undefined => {
      const ok = steps.filter((s) => s.app === k && s.ok).map((s) => s.rate);
      return ok.length > 0 ? Math.max(...ok) : k === 'dispatcher' ? assumedTop : undefined;
    };
    // overload: 1.5x and 2x the dispatcher's own top zero-failure rate: the dispatcher, the baseline (full mode)
    // and "before" (--before), which goes first rotating as in the ladder
    const base = top('dispatcher') ?? mode.ladder[0];
    const overloadKinds: AppKind[] = ['dispatcher'];
    if (mode.overloadBaseline) overloadKinds.push('baseline');
    if (before) overloadKinds.push('before');
    for (const [j, factor] of parts.has('overload') ? [1.5, 2].entries() : []) {
      const rate = Math.round(base * factor);
      for (const k of rotated(overloadKinds, j)) {
        stepNo += 1;
        overload.push(await bench.step(k, 'overload', rate, mode.stepS, stepNo));
      }
    }
    // distribution, failover and memory: at or below the dispatcher's own zero-failure rate, so they measure
    // selection and memory, not overload: half of it; the distribution's sample is cut to what 40 s at that rate places
    const ceiling = top('dispatcher') ?? mode.ladder[0];
    const cap = (what: string, cfg: { rate: number; calls: number }, rate: number, maxS?: number): void => {
      if (cfg.rate > rate) {
        bench.notes.push(`${what}: ${rate} calls/s instead of ${cfg.rate} (half the dispatcher's top zero-failure rate in this run)`);
        cfg.rate = rate;
      }
      if (maxS !== undefined && cfg.calls > cfg.rate * maxS) {
        bench.notes.push(`${what}: ${cfg.rate * maxS} calls instead of ${cfg.calls} (${maxS} s at ${cfg.rate} calls/s)`);
        cfg.calls = cfg.rate * maxS;
      }
    };
    cap('distribution', mode.distribution, Math.max(50, Math.floor(ceiling / 2)), mode.name === 'quick' ? 5 : 40);
    cap('failover', mode.failover, Math.max(50, Math.floor(ceiling / 2)));
    cap('memory', mode.memory, Math.max(50, Math.floor(ceiling / 2)));
    if (parts.has('distribution')) {
      distribution = await bench.distribution();
      failover = await bench.failover();
    }
    if (parts.has('memory')) {
      memory.push(await bench.memory('dispatcher'));
      memory.push(await bench.memory('baseline'));
      if (before) memory.push(await bench.memory('before'));
    }
  } catch (err) {
    // a part that could not run (an app that did not start, a sipp that would not bind): report what was measured
    failure = err instanceof Error ? err.message.split('\n')[0] : String(err);
    bench.notes.push(`the run stopped early: ${failure}`);
    line(`bench stopped early: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await bench.stop();
    before?.remove();
  }

  const finished = new Date();
  const topOf = (k: AppKind): number | undefined => {
    const ok = steps.filter((s) => s.app === k && s.ok).map((s) => s.rate);
    return ok.length > 0 ? Math.max(...ok) : undefined;
  };
  const hd = topOf('dispatcher');
  const hb = topOf('baseline');
  const hbf = before ? topOf('before') : undefined;
  const result: BenchResult = {
    version: 1,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: (finished.getTime() - started.getTime()) / 1000,
    mode,
    drachtio: kind,
    drachtioVersion: drachtioVersionOf(kind),
    machine: {
      ...machine(),
      ...toolVersions(),
      loadavgAtStart: os.loadavg(),
    },
    git: commit,
    steps,
    headline: {
      dispatcher: hd,
      baseline: hb,
      ratio: hd !== undefined && hb !== undefined ? hd / hb : undefined,
      ...(before ? { before: hbf, beforeRatio: hd !== undefined && hbf !== undefined ? hd / hbf : undefined } : {}),
    },
    overload,
    distribution,
    failover,
    memory,
    notes: bench.notes,
    ...trialOf(bench),
  };
  if (before) {
    result.before = { rev: before.rev, commit: before.commit, subject: before.subject, buildS: before.buildS };
    result.gains = gains(result);
  }
  line('');
  line(terminalTable(result));
  const files = writeReport(result, outDir);
  line('');
  line(`report: ${path.relative(process.cwd(), files.md)}`);
  line(`json:   ${path.relative(process.cwd(), files.json)}`);
  line(`chart:  ${path.relative(process.cwd(), files.svg)}`);
  line(`took ${result.durationS.toFixed(0)} s`);
  // the harness' children (sipp, drachtio, redis) are gone; ioredis' timers must not hold the exit
  process.exit(failure === undefined ? 0 : 1);
}

main().catch((err: unknown) => {
  // a wrong argument or revision: the message says it all
  const plain = err instanceof Error && (err.name === 'UsageError' || err.message.startsWith('--before'));
  line(`bench failed: ${err instanceof Error ? (plain ? err.message : (err.stack ?? err.message)) : String(err)}`);
  process.exit(1);
});
