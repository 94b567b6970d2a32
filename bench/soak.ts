/**
 * `npm run soak`: the dispatcher under steady load for a long time, with a mix of call kinds;
 * memory must stay flat, no call may fail, and its Redis counters must be exact at the end.
 *
 *   npm run soak [-- --rate <calls/s>] [-- --minutes <m>] [-- --out <dir>] [-- --max-slope <MB/min>]
 *   DRACHTIO_BIN=/path/to/drachtio npm run soak     (a real drachtio-server; the emulator otherwise)
 *
 * 4 sipp callers (one per kind of call, each at a fixed rate) -> drachtio-server -> the dispatcher
 * (compiled, dist/, with Redis and info logs to a file, as `npm run bench` runs it) -> 6 sipp back-ends,
 * one route per kind (chosen by the Request-URI's domain). See README "Soak".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type Redis from 'ioredis';
import { startDrachtio, type DrachtioServer } from '../test/harness/drachtio';
import { startRedis, type RedisServer } from '../test/harness/redis';
import { startUas, type SippStats, type SippUas, type UasBehaviour } from '../test/harness/sipp';
import { startAppUnderTest, type AppUnderTest } from './apps';
import { LOAD_SCENARIO, startLoad, type LoadResult } from './load';
import { childPids, cpuSeconds, machine, memoryOf, udpCounters } from './procs';
import {
  backendChecks,
  callerChecks,
  memoryChecks,
  memoryTrend,
  pathChecks,
  targetChecks,
  totalChecks,
  type BackendCount,
  type BackendRole,
  type CallKind,
  type CallerCount,
  type Check,
  type Counters,
  type MemorySample,
  type RedisState,
} from './soak-checks';
import { writeSoakReport, soakTable, type SoakResult } from './soak-report';
import { percentile } from './stats';
import { drachtioVersionOf, gitDescribe, toolVersions } from './versions';
import { defaultRate } from './soak-rate';

// ---------------------------------------------------------------------------------------------
// The mix
// ---------------------------------------------------------------------------------------------

interface KindSpec {
  share: number;
  /** the caller's scenario: bench/scenarios/uac-load.xml or a name in test/scenarios */
  scenario: string;
  /** sipp -d of the caller: the hold before its BYE, or the ringing before its CANCEL */
  holdMs: number;
  what: string;
}

export const MIX: Record<CallKind, KindSpec> = {
  answered: { share: 0.7, scenario: LOAD_SCENARIO, holdMs: 1000, what: 'answered, held 1 s, ended by the caller (BYE)' },
  failover: {
    share: 0.1,
    scenario: LOAD_SCENARIO,
    holdMs: 1000,
    what: 'the first-priority target answers 503 (no Retry-After), the call fails over to its backup; held 1 s, caller BYE',
  },
  canceled: {
    share: 0.1,
    scenario: 'uac-cancel-after-ringing-expect-487.xml',
    holdMs: 500,
    what: 'the target rings (180) and never answers; the caller sends CANCEL after 0.5 s and gets 487',
  },
  'callee-ended': { share: 0.1, scenario: 'uac-callee-bye.xml', holdMs: 1000, what: 'answered; the back-end sends BYE after 1 s' },
};

const KINDS = Object.keys(MIX) as CallKind[];

interface BackendSpec {
  name: string;
  role: BackendRole;
  behaviour: UasBehaviour;
  route: CallKind;
  priority: number;
  delayMs?: number;
}

export const BACKENDS: BackendSpec[] = [
  { name: 'answer-1', role: 'answer', behaviour: 'answer', route: 'answered', priority: 10 },
  { name: 'answer-2', role: 'answer', behaviour: 'answer', route: 'answered', priority: 10 },
  { name: 'fail-503', role: 'answer-503', behaviour: 'unavailable-503', route: 'failover', priority: 10 },
  { name: 'backup', role: 'answer', behaviour: 'answer', route: 'failover', priority: 20 },
  { name: 'ring', role: 'ring', behaviour: 'no-answer', route: 'canceled', priority: 10 },
  { name: 'bye', role: 'answer-then-bye', behaviour: 'answer-then-bye-plain', route: 'callee-ended', priority: 10, delayMs: 1000 },
];

/** Per kind, the groups of back-ends that each get one INVITE per call. */
const GROUPS: Record<CallKind, string[][]> = {
  answered: [['answer-1', 'answer-2']],
  failover: [['fail-503'], ['backup']],
  canceled: [['ring']],
  'callee-ended': [['bye']],
};

const domainOf = (kind: CallKind): string => `${kind}.soak`;
const PREFIX = 'bench:';
const INSTANCE_ID = 'soak-1';
/** passive health off: the 503 back-end must stay in selection, so that every failover call fails over */
const HEALTH = { passiveFailures: 0 };

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

interface Options {
  rate: number;
  rateSource: string;
  minutes: number;
  outDir: string;
  maxSlope: number;
  maxRssSlope: number;
  warmupS: number;
  sampleS: number;
}

const RESULTS_DIR = path.join(__dirname, 'results');

function parseOptions(argv: string[], kind: 'real' | 'emulator'): Options {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, dflt: number): number => {
    const v = arg(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} ${v}: expected a positive number`);
    return n;
  };
  const rateArg = arg('--rate');
  const dflt = defaultRate(kind, [RESULTS_DIR, path.join(RESULTS_DIR, 'reference')]);
  return {
    rate: num('--rate', dflt.rate),
    rateSource: rateArg === undefined ? dflt.source : '--rate',
    minutes: num('--minutes', 10),
    outDir: arg('--out') !== undefined ? path.resolve(arg('--out') as string) : RESULTS_DIR,
    maxSlope: num('--max-slope', 1),
    maxRssSlope: num('--max-rss-slope', 2),
    warmupS: num('--warmup', 60),
    sampleS: num('--sample', 10),
  };
}

/** Each kind's own rate: its share of the total, at least 1/s. */
export function ratesOf(total: number): Record<CallKind, number> {
  const out = {} as Record<CallKind, number>;
  for (const k of KINDS) out[k] = Math.max(1, Math.round(total * MIX[k].share));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

interface Bed {
  /** a real drachtio-server's pid (undefined with the emulator) */
  drachtioPid?: number;
  redis: RedisServer;
  client: Redis;
  drachtio: DrachtioServer;
  backends: { spec: BackendSpec; uas: SippUas; targetId: string }[];
  app: AppUnderTest;
}

function routesOf(backends: Bed['backends']): unknown[] {
  return KINDS.map((kind) => ({
    name: kind,
    match: { domains: [domainOf(kind)] },
    targets: backends.filter((b) => b.spec.route === kind).map((b) => ({ host: b.uas.host, port: b.uas.port, priority: b.spec.priority, weight: 1 })),
  }));
}

async function startBed(): Promise<Bed> {
  const redis = await startRedis();
  const client = redis.client();
  const bin = process.env.DRACHTIO_BIN;
  const before = new Set(bin ? childPids(bin) : []);
  const drachtio = await startDrachtio({ loglevel: 'error' });
  const drachtioPid = bin ? childPids(bin).find((p) => !before.has(p)) : undefined;
  const backends = await Promise.all(
    BACKENDS.map(async (spec) => {
      const uas = await startUas(spec.behaviour, spec.delayMs !== undefined ? { delayMs: spec.delayMs } : {});
      return { spec, uas, targetId: `udp:${uas.host}:${uas.port}` };
    }),
  );
  await client.flushall();
  const app = await startAppUnderTest({
    kind: 'dispatcher',
    drachtio,
    targets: [],
    routes: routesOf(backends),
    health: HEALTH,
    redisUrl: redis.url,
    instanceId: INSTANCE_ID,
  });
  // the first heartbeat, health refresh and probes
  await sleep(2000);
  return { drachtioPid, redis, client, drachtio, backends, app };
}

interface Callers {
  runs: { kind: CallKind; rate: number; planned: number; load: Awaited<ReturnType<typeof startLoad>> }[];
}

async function startCallers(bed: Bed, rates: Record<CallKind, number>, seconds: number): Promise<Callers> {
  const runs: Callers['runs'] = [];
  for (const kind of KINDS) {
    const planned = Math.round(rates[kind] * seconds);
    const load = await startLoad({
      target: { host: bed.drachtio.sipAddress, port: bed.drachtio.sipPort },
      scenario: MIX[kind].scenario,
      domain: domainOf(kind),
      rate: rates[kind],
      calls: planned,
      holdMs: MIX[kind].holdMs,
    });
    runs.push({ kind, rate: rates[kind], planned, load });
  }
  return { runs };
}

/** Samples the app's memory (after a full GC) every `sampleS` until every caller is done. */
async function sampleUntilDone(bed: Bed, callers: Callers, o: Options, t0: number): Promise<{ samples: MemorySample[]; results: LoadResult[] }> {
  const samples: MemorySample[] = [];
  let done = false;
  const all = Promise.all(callers.runs.map((r) => r.load.done)).finally(() => (done = true));
  let next = t0;
  while (!done) {
    next += o.sampleS * 1000;
    while (!done && Date.now() < next) await sleep(Math.min(250, next - Date.now()));
    if (done) break;
    const m = await bed.app.memory(true);
    const stats = callers.runs.map((r) => r.load.run.stats());
    const s: MemorySample = {
      t: Math.round((Date.now() - t0) / 100) / 10,
      rssMb: m.rss / MB,
      heapMb: m.heapUsed / MB,
      callsUp: stats.reduce((a, x) => a + x.currentCalls, 0),
      ...(bed.drachtioPid !== undefined && { drachtioRssMb: memoryOf(bed.drachtioPid).rss / MB }),
    };
    samples.push(s);
    const placed = stats.reduce((a, x) => a + x.totalCalls, 0);
    const failed = stats.reduce((a, x) => a + x.failedCalls, 0);
    line(
      `${s.t.toFixed(0).padStart(5)} s  placed ${placed}  up ${s.callsUp}  failed ${failed}  RSS ${s.rssMb.toFixed(1)} MB  heap ${s.heapMb.toFixed(1)} MB (after GC)` +
        (s.drachtioRssMb !== undefined ? `  drachtio-server RSS ${s.drachtioRssMb.toFixed(1)} MB` : ''),
    );
  }
  return { samples, results: await all };
}

function callerCount(kind: CallKind, rate: number, planned: number, res: LoadResult): CallerCount {
  const s = res.stats;
  const failureKinds: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.raw)) {
    if (/^Failed.*\(C\)$/.test(k) && k !== 'FailedCall(C)' && Number(v) > 0) failureKinds[k.replace('(C)', '')] = Number(v);
  }
  return {
    kind,
    rate,
    planned,
    placed: s.totalCalls,
    succeeded: s.successfulCalls,
    failed: s.failedCalls,
    failureKinds,
    retransmissions: s.retransmissions,
    setup: {
      n: res.setupMs.length,
      p50: percentile(res.setupMs, 50),
      p99: percentile(res.setupMs, 99),
      max: percentile(res.setupMs, 100),
    },
  };
}

const alive = (pid: number): boolean => pid > 0 && fs.existsSync(`/proc/${pid}`);

function backendCount(b: Bed['backends'][number], s: SippStats, aliveAtEnd: boolean): BackendCount {
  return {
    name: b.spec.name,
    role: b.spec.role,
    targetId: b.targetId,
    received: s.incomingCalls,
    succeeded: s.successfulCalls,
    failed: s.failedCalls,
    retransmissions: s.retransmissions,
    aliveAtEnd,
  };
}

const numbers = (h: Record<string, string>): Counters => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)]));

async function countKeys(client: Redis, pattern: string): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [c, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = c;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

async function readRedis(client: Redis, targetIds: string[]): Promise<RedisState> {
  const targets: Record<string, Counters> = {};
  for (const id of targetIds) targets[id] = numbers(await client.hgetall(`${PREFIX}target:${id}`));
  return {
    totals: numbers(await client.hgetall(`${PREFIX}totals`)),
    targets,
    callRecords: await countKeys(client, `${PREFIX}call:*`),
    ownedCalls: await client.scard(`${PREFIX}instance:${INSTANCE_ID}:calls`),
    reservations: await countKeys(client, `${PREFIX}target:*:reserved`),
  };
}

/** Waits (at most `ms`) for the cluster's `active` to reach 0: the last BYEs' scripts may still be running. */
async function settle(client: Redis, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (Number((await client.hget(`${PREFIX}totals`, 'active')) ?? 0) === 0) return;
    await sleep(250);
  }
}

/** pino's levels of warn and worse, as labels (the dispatcher's formatter) or numbers */
const WARN_LEVELS = new Set(['warn', 'error', 'fatal', '40', '50', '60']);

/** The app's log lines by pino level, and the messages of its warnings and errors with their counts. */
async function logSummary(file: string): Promise<{ lines: number; byLevel: Record<string, number>; warnings: Record<string, number> }> {
  const byLevel: Record<string, number> = {};
  const warnings: Record<string, number> = {};
  let lines = 0;
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const text of rl) {
    lines += 1;
    const level = /"level":"?(\w+)/.exec(text)?.[1] ?? '?';
    byLevel[level] = (byLevel[level] ?? 0) + 1;
    if (WARN_LEVELS.has(level)) {
      const msg = /"msg":"([^"]*)"/.exec(text)?.[1] ?? text.slice(0, 120);
      warnings[msg] = (warnings[msg] ?? 0) + 1;
    }
  }
  return { lines, byLevel, warnings };
}

async function stopBed(bed: Bed): Promise<void> {
  await bed.app.stop();
  await Promise.all(bed.backends.map((b) => b.uas.stop(1000)));
  await bed.drachtio.stop();
  bed.client.disconnect();
  await bed.redis.stop();
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

const HELP =
  'usage: npm run soak -- [--rate <calls/s>] [--minutes <m>] [--out <dir>] [--max-slope <MB/min>] [--max-rss-slope <MB/min>]\n' +
  '                       [--warmup <s>] [--sample <s>]\n' +
  '  DRACHTIO_BIN=<drachtio binary> for a real drachtio-server (the emulator otherwise)\n' +
  "  --rate: total offered calls/s (default 80 % of the dispatcher's top zero-failure rate in the newest full bench result, else 160)\n" +
  '  --minutes: how long calls are placed (default 10); --max-slope, --max-rss-slope: the heap and RSS slopes that still count as flat (default 1 and 2 MB/min)\n' +
  '  --warmup: seconds left out of the slopes (default 60); --sample: seconds between memory samples (default 10)\n';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  const kind: 'real' | 'emulator' = process.env.DRACHTIO_BIN ? 'real' : 'emulator';
  const o = parseOptions(argv, kind);
  const rates = ratesOf(o.rate);
  const seconds = Math.round(o.minutes * 60);
  const started = new Date();
  const loadavgAtStart = os.loadavg();
  const git = gitDescribe();
  const label = kind === 'emulator' ? ' — EMULATOR figures (drachtio-server emulator, not a real drachtio-server)' : '';
  line(`sip-dispatcher soak${label}`);
  line(
    `${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  line(`${o.rate} calls/s (${o.rateSource}) for ${o.minutes} min; per kind: ${KINDS.map((k) => `${k} ${rates[k]}/s`).join(', ')}`);

  const bed = await startBed();
  let result: SoakResult;
  try {
    const cpu0 = cpuSeconds(bed.app.pid);
    const udp0 = udpCounters();
    const t0 = Date.now();
    const callers = await startCallers(bed, rates, seconds);
    const { samples, results } = await sampleUntilDone(bed, callers, o, t0);
    const windowS = (Date.now() - t0) / 1000;
    const appCpuS = cpuSeconds(bed.app.pid) - cpu0;
    const udp1 = udpCounters();
    await sleep(1500);
    await settle(bed.client, 15000);
    const redisState = await readRedis(
      bed.client,
      bed.backends.map((b) => b.targetId),
    );
    const final = await bed.app.memory(true);
    const logs = await logSummary(bed.app.logFile);
    const aliveAtEnd = bed.backends.map((b) => alive(b.uas.pid));
    // what a back-end that died said last (sipp's stdout/stderr and error log)
    const deadBackends = bed.backends.filter((_, i) => !aliveAtEnd[i]).map((b) => ({ name: b.spec.name, output: b.uas.output().trim() }));
    const uasStats = await Promise.all(bed.backends.map((b) => b.uas.stop(3000)));
    const callerCounts = callers.runs.map((r, i) => callerCount(r.kind, r.rate, r.planned, results[i]));
    const backendCounts = bed.backends.map((b, i) => backendCount(b, uasStats[i], aliveAtEnd[i]));
    const trend = memoryTrend(samples, o.warmupS);
    const checks: Check[] = [
      ...callerChecks(callerCounts),
      ...backendChecks(backendCounts),
      ...pathChecks(callerCounts, backendCounts, GROUPS),
      ...targetChecks(backendCounts, redisState),
      ...totalChecks(backendCounts, callerCounts, redisState),
      ...memoryChecks(trend, o.maxSlope, o.maxRssSlope),
    ];
    const callsPlaced = callerCounts.reduce((a, c) => a + c.placed, 0);
    const finished = new Date();
    result = {
      version: 1,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationS: (finished.getTime() - started.getTime()) / 1000,
      drachtio: kind,
      drachtioVersion: drachtioVersionOf(kind),
      machine: {
        ...machine(),
        ...toolVersions(),
        loadavgAtStart,
      },
      git,
      options: {
        rate: o.rate,
        rateSource: o.rateSource,
        minutes: o.minutes,
        maxSlope: o.maxSlope,
        maxRssSlope: o.maxRssSlope,
        warmupS: o.warmupS,
        sampleS: o.sampleS,
      },
      mix: KINDS.map((k) => ({ kind: k, share: MIX[k].share, rate: rates[k], domain: domainOf(k), what: MIX[k].what, backends: GROUPS[k].flat() })),
      health: HEALTH,
      callers: callerCounts,
      backends: backendCounts,
      redis: redisState,
      memory: { trend, samples, finalAfterGcMb: { rss: final.rss / MB, heap: final.heapUsed / MB } },
      app: {
        cpuS: appCpuS,
        corePct: (appCpuS / windowS) * 100,
        cpuPer1kCallsS: callsPlaced > 0 ? (appCpuS / callsPlaced) * 1000 : NaN,
        logLines: logs.lines,
        logLinesByLevel: logs.byLevel,
        warnings: logs.warnings,
      },
      deadBackends,
      udpRcvbufErrors: (udp1.RcvbufErrors ?? 0) - (udp0.RcvbufErrors ?? 0),
      windowS,
      checks,
      ok: checks.every((c) => c.ok),
    };
  } finally {
    await stopBed(bed);
  }
  line('');
  line(soakTable(result));
  const files = writeSoakReport(result, o.outDir);
  line('');
  line(`report: ${path.relative(process.cwd(), files.md)}`);
  line(`json:   ${path.relative(process.cwd(), files.json)}`);
  line(result.ok ? 'soak: every check passed' : `soak: ${result.checks.filter((c) => !c.ok).length} check(s) FAILED`);
  process.exit(result.ok ? 0 : 1);
}

main().catch((err: unknown) => {
  line(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
