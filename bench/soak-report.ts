/**
 * `npm run soak`'s output: the terminal table and the Markdown + JSON report in bench/results/,
 * named `<UTC time>-soak-<real|emulator>.{md,json}`. Every figure comes from the result as measured.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { machine } from './procs';
import type { BackendCount, CallerCount, CallKind, Check, MemorySample, MemoryTrend, RedisState } from './soak-checks';

export interface SoakResult {
  version: 1;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  drachtio: 'real' | 'emulator';
  drachtioVersion: string;
  machine: ReturnType<typeof machine> & { node: string; redis: string; sipp: string; loadavgAtStart: number[] };
  git: string;
  options: { rate: number; rateSource: string; minutes: number; maxSlope: number; maxRssSlope: number; warmupS: number; sampleS: number };
  mix: { kind: CallKind; share: number; rate: number; domain: string; what: string; backends: string[] }[];
  health: Record<string, unknown>;
  callers: CallerCount[];
  backends: BackendCount[];
  redis: RedisState;
  memory: { trend: MemoryTrend; samples: MemorySample[]; finalAfterGcMb: { rss: number; heap: number } };
  app: {
    cpuS: number;
    corePct: number;
    cpuPer1kCallsS: number;
    logLines: number;
    /** by pino level (info, warn, error, ...) */
    logLinesByLevel: Record<string, number>;
    /** messages of warn and worse, with their counts */
    warnings: Record<string, number>;
  };
  /** back-ends that exited before the end, with their last output */
  deadBackends: { name: string; output: string }[];
  udpRcvbufErrors: number;
  /** seconds from the first call placed to the last caller's exit */
  windowS: number;
  checks: Check[];
  ok: boolean;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');
const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');

function mdTable(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function title(r: SoakResult): string {
  return r.drachtio === 'emulator' ? 'EMULATOR figures (drachtio-server emulator, not a real drachtio-server)' : `real drachtio-server ${r.drachtioVersion}`;
}

function memoryLine(r: SoakResult): string {
  const t = r.memory.trend;
  // a slope in MB per minute as bytes per call placed at the offered rate
  const perCall = (mbPerMin: number): number => (mbPerMin * 1024 * 1024) / (r.options.rate * 60);
  return (
    `heap after GC: slope ${f3(t.heapSlopeMbPerMin)} MB/min (${f0(perCall(t.heapSlopeMbPerMin))} B per call placed), first/last/max ${f1(t.heap.first)}/${f1(t.heap.last)}/${f1(t.heap.max)} MB; ` +
    `RSS: slope ${f3(t.rssSlopeMbPerMin)} MB/min (${f0(perCall(t.rssSlopeMbPerMin))} B per call), first/last/max ${f1(t.rss.first)}/${f1(t.rss.last)}/${f1(t.rss.max)} MB ` +
    `(${t.samples} samples every ${r.options.sampleS} s after a ${t.warmupS} s warm-up)`
  );
}

/** A real drachtio-server's RSS over the run (sampled with the app's; not checked). */
function drachtioLine(r: SoakResult): string {
  const d = r.memory.samples.map((s) => s.drachtioRssMb).filter((x): x is number => x !== undefined);
  if (d.length === 0) return '';
  return `drachtio-server RSS (not checked): first ${f1(d[0])} MB, last ${f1(d[d.length - 1])} MB, max ${f1(Math.max(...d))} MB.`;
}

function callerRows(r: SoakResult): (string | number)[][] {
  return r.callers.map((c) => [
    c.kind,
    `${c.rate}/s`,
    c.planned,
    c.placed,
    c.succeeded,
    c.failed,
    Object.entries(c.failureKinds)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '-',
    c.retransmissions,
    `${f0(c.setup.p50)}/${f0(c.setup.p99)}/${f0(c.setup.max)}`,
  ]);
}

function backendRows(r: SoakResult): (string | number)[][] {
  return r.backends.map((b) => {
    const c = r.redis.targets[b.targetId] ?? {};
    const counters = Object.entries(c)
      .filter(([k]) => k !== 'failureRun' && k !== 'failureRunLabels')
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return [b.name, b.role, b.targetId, b.received, b.succeeded, b.failed, counters || '-'];
  });
}

export function soakTable(r: SoakResult): string {
  const out: string[] = [];
  out.push(`soak ${r.startedAt}, ${title(r)}; ${r.options.rate} calls/s for ${r.options.minutes} min`);
  out.push('callers: kind, rate, planned, placed, completed as scripted, failed, set-up p50/p99/max ms');
  for (const row of callerRows(r)) out.push(`  ${row[0]}  ${row[1]}  ${row[2]}  ${row[3]}  ${row[4]}  ${row[5]}  ${row[8]}`);
  out.push('back-ends: name, INVITEs received, completed, failed | Redis counters of its target');
  for (const row of backendRows(r)) out.push(`  ${row[0]}  ${row[3]}  ${row[4]}  ${row[5]} | ${row[6]}`);
  out.push(`totals: ${JSON.stringify(r.redis.totals)}`);
  out.push(memoryLine(r));
  out.push(
    `app: ${f1(r.app.corePct)} % of a core, ${f2(r.app.cpuPer1kCallsS)} s CPU per 1k calls; log lines ${r.app.logLines} ${JSON.stringify(r.app.logLinesByLevel)}`,
  );
  for (const d of r.deadBackends) out.push(`back-end ${d.name} exited before the end; its last output:\n${d.output || '(none)'}`);
  out.push('checks:');
  for (const c of r.checks) out.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: expected ${c.expected}, got ${c.actual}`);
  return out.join('\n');
}

function markdown(r: SoakResult): string {
  const m = r.machine;
  const failed = r.checks.filter((c) => !c.ok);
  const parts = [
    `# sip-dispatcher soak — ${title(r)}`,
    '',
    `Started ${r.startedAt}, ${f0(r.durationS)} s in all (calls placed for ${r.options.minutes} min, ${f0(r.windowS)} s to the last caller's exit); commit ${r.git}.`,
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memGb} GB, Linux ${m.kernel}, load average at start ${m.loadavgAtStart.map((x) => x.toFixed(2)).join(' ')}; node ${m.node}, redis ${m.redis}, sipp ${m.sipp}.`,
    `Rate: ${r.options.rate} calls/s (${r.options.rateSource}). Dispatcher: compiled (dist/), info logs to a file, Redis, health ${JSON.stringify(r.health)}.`,
    '',
    `**Verdict: ${r.ok ? 'every check passed' : `${failed.length} check(s) failed`}.**`,
    '',
    '## Mix',
    '',
    mdTable(
      ['kind', 'share', 'rate', 'Request-URI domain', 'back-ends', 'what happens'],
      r.mix.map((x) => [x.kind, `${(x.share * 100).toFixed(0)} %`, `${x.rate}/s`, x.domain, x.backends.join(', '), x.what]),
    ),
    '',
    '## Callers',
    '',
    mdTable(
      ['kind', 'rate', 'planned', 'placed', 'completed as scripted', 'failed', 'failure kinds', 'retransmissions', 'set-up p50/p99/max ms'],
      callerRows(r),
    ),
    '',
    'Set-up: INVITE sent → 200 received (cancelled calls: → 487), sipp `-trace_rtt`, 1 ms resolution.',
    '',
    '## Back-ends and their targets’ Redis counters',
    '',
    mdTable(['back-end', 'role', 'target', 'INVITEs received', 'completed', 'failed', 'Redis counters at the end'], backendRows(r)),
    '',
    `Totals (\`bench:totals\`): ${Object.entries(r.redis.totals)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}. Call records left: ${r.redis.callRecords}; calls in the instance's set: ${r.redis.ownedCalls}; reservations left: ${r.redis.reservations}.`,
    '',
    '## Memory',
    '',
    memoryLine(r) + '.',
    `After the run (GC): heap ${f1(r.memory.finalAfterGcMb.heap)} MB, RSS ${f1(r.memory.finalAfterGcMb.rss)} MB.`,
    drachtioLine(r),
    '',
    mdTable(
      ['t (s)', 'RSS MB', 'heap MB (after GC)', 'calls up', 'drachtio-server RSS MB'],
      r.memory.samples.map((s) => [f0(s.t), f1(s.rssMb), f1(s.heapMb), s.callsUp, s.drachtioRssMb === undefined ? '-' : f1(s.drachtioRssMb)]),
    ),
    '',
    '## The app',
    '',
    `CPU ${f1(r.app.cpuS)} s (${f1(r.app.corePct)} % of a core, ${f2(r.app.cpuPer1kCallsS)} s per 1,000 calls). Log lines ${r.app.logLines}, by pino level ${JSON.stringify(r.app.logLinesByLevel)}. UDP receive-buffer drops (machine-wide): ${r.udpRcvbufErrors}.`,
    Object.keys(r.app.warnings).length > 0
      ? `Warnings and errors: ${Object.entries(r.app.warnings)
          .map(([k, v]) => `"${k}" × ${v}`)
          .join('; ')}.`
      : 'No warnings or errors logged.',
    '',
    ...r.deadBackends.flatMap((d) => [`Back-end ${d.name} exited before the end; its last output:`, '', '```', d.output || '(none)', '```', '']),
    '## Checks',
    '',
    mdTable(
      ['check', 'expected', 'got', ''],
      r.checks.map((c) => [c.what, c.expected, c.actual, c.ok ? 'ok' : '**FAIL**']),
    ),
    '',
  ];
  return parts.join('\n');
}

export function writeSoakReport(r: SoakResult, dir: string): { md: string; json: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = `${stamp}-soak-${r.drachtio}`;
  const files = { md: path.join(dir, `${base}.md`), json: path.join(dir, `${base}.json`) };
  fs.writeFileSync(files.json, `${JSON.stringify(r, null, 2)}\n`);
  fs.writeFileSync(files.md, markdown(r));
  return files;
}
