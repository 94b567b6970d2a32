/**
 * The bench's outputs: the terminal table, the Markdown report, the JSON file and the SVG chart
 * (failed calls and p99 set-up time against offered rate, dispatcher against baseline, and against
 * "before" with --before, whose gains get their own section), all from one BenchResult. The chart is drawn here, a few lines of SVG, no plotting library.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDispatcher, type AppKind } from './apps';
import type { BenchResult, StepResult } from './run';

const f = (x: number | undefined, digits = 1): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined, digits = 2): string =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '–' : `${(a / b).toFixed(digits)}×`;

/** the steps of each rate: d = dispatcher, b = baseline, a = before (--before) */
function pairs(r: BenchResult, steps: StepResult[]): Array<{ rate: number; d?: StepResult; b?: StepResult; a?: StepResult }> {
  const rates = [...new Set(steps.map((s) => s.rate))].sort((a, b) => a - b);
  return rates.map((rate) => ({
    rate,
    d: steps.find((s) => s.rate === rate && s.app === 'dispatcher'),
    b: steps.find((s) => s.rate === rate && s.app === 'baseline'),
    a: steps.find((s) => s.rate === rate && s.app === 'before'),
  }));
}

// ---------------------------------------------------------------------------------------------
// Gains (--before): dispatcher ÷ before
// ---------------------------------------------------------------------------------------------

/** dispatcher ÷ before; below 1 is a gain for every figure here (null: not measured, or before's is 0) */
export interface GainFigures {
  appCpuPer1k: number | null;
  setupP99: number | null;
  redisCommandsPerCall: number | null;
  redisRequestsPerCall: number | null;
  logLinesPerCall: number | null;
  rssMaxMb: number | null;
  heapMaxMb: number | null;
}

export interface GainStep extends GainFigures {
  phase: StepResult['phase'];
  rate: number;
  failed: { dispatcher: number; before: number };
}

export interface Gains {
  /** the highest rate with zero failed calls of each; ratio = dispatcher ÷ before (above 1 is a gain) */
  headline: { dispatcher?: number; before?: number; ratio?: number };
  steps: GainStep[];
  /** the memory part (held calls), dispatcher ÷ before; below 1 is a gain */
  memory?: {
    heapPerCallKb: number | null;
    rssPerCallKb: number | null;
    redisBytesPerCall: number | null;
    setupCommandsPerCall: number | null;
    setupRequestsPerCall: number | null;
    endCommandsPerCall: number | null;
    endRequestsPerCall: number | null;
  };
}

const div = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : a / b;

export function gains(r: BenchResult): Gains {
  const steps: GainStep[] = [];
  for (const phase of ['ladder', 'overload'] as const) {
    for (const { rate, d, a } of pairs(
      r,
      [...r.steps, ...r.overload].filter((s) => s.phase === phase),
    )) {
      if (!d || !a) continue;
      steps.push({
        phase,
        rate,
        failed: { dispatcher: d.failed, before: a.failed },
        appCpuPer1k: div(d.appCpuPer1k, a.appCpuPer1k),
        setupP99: div(d.setup.p99, a.setup.p99),
        redisCommandsPerCall: div(d.redis.commandsPerCall, a.redis.commandsPerCall),
        redisRequestsPerCall: div(d.redis.writesPerCall, a.redis.writesPerCall),
        logLinesPerCall: div(d.logLinesPerCall, a.logLinesPerCall),
        rssMaxMb: div(d.rssMaxMb, a.rssMaxMb),
        heapMaxMb: div(d.heapMaxMb, a.heapMaxMb),
      });
    }
  }
  const md = r.memory.find((m) => m.app === 'dispatcher');
  const ma = r.memory.find((m) => m.app === 'before');
  const g: Gains = {
    headline: { dispatcher: r.headline.dispatcher, before: r.headline.before, ratio: r.headline.beforeRatio },
    steps,
  };
  if (md && ma) {
    g.memory = {
      heapPerCallKb: div(md.heapPerCallKb, ma.heapPerCallKb),
      rssPerCallKb: div(md.rssPerCallKb, ma.rssPerCallKb),
      redisBytesPerCall: div(md.redisBytesPerCall, ma.redisBytesPerCall),
      setupCommandsPerCall: div(md.setupCommandsPerCall, ma.setupCommandsPerCall),
      setupRequestsPerCall: div(md.setupWritesPerCall, ma.setupWritesPerCall),
      endCommandsPerCall: div(md.endCommandsPerCall, ma.endCommandsPerCall),
      endRequestsPerCall: div(md.endWritesPerCall, ma.endWritesPerCall),
    };
  }
  return g;
}

/** a ratio from Gains: "0.82×", or "–" */
const gx = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '–' : `${x.toFixed(digits)}×`);

function beforeLabel(r: BenchResult): string {
  const b = r.before;
  return b ? `${b.rev} = ${b.commit.slice(0, 7)} "${b.subject}"` : '';
}

function kindLabel(r: BenchResult): string {
  return r.drachtio === 'emulator'
    ? 'EMULATOR figures (drachtio-server emulator, test/emulator — not a real drachtio-server)'
    : `real drachtio-server ${r.drachtioVersion}`;
}

// ---------------------------------------------------------------------------------------------
// Terminal
// ---------------------------------------------------------------------------------------------

function pad(cells: string[][]): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

export function terminalTable(r: BenchResult): string {
  // with --before, "before"'s figures (b4) sit right after the dispatcher's
  const withA = r.before !== undefined;
  type Col = { head: string; cell: (p: { d?: StepResult; b?: StepResult; a?: StepResult }) => string; a?: boolean };
  const all: Col[] = [
    { head: 'failed D', cell: ({ d }) => (d ? String(d.failed) : '') },
    { head: 'failed b4', cell: ({ a }) => (a ? String(a.failed) : ''), a: true },
    { head: 'failed B', cell: ({ b }) => (b ? String(b.failed) : '') },
    { head: 'p99 D', cell: ({ d }) => (d ? f(d.setup.p99, 0) : '') },
    { head: 'p99 b4', cell: ({ a }) => (a ? f(a.setup.p99, 0) : ''), a: true },
    { head: 'p99 B', cell: ({ b }) => (b ? f(b.setup.p99, 0) : '') },
    { head: 'CPU/1k D', cell: ({ d }) => (d ? f(d.appCpuPer1k, 2) : '') },
    { head: 'CPU/1k b4', cell: ({ a }) => (a ? f(a.appCpuPer1k, 2) : ''), a: true },
    { head: 'CPU/1k B', cell: ({ b }) => (b ? f(b.appCpuPer1k, 2) : '') },
    { head: 'CPU ×', cell: ({ d, b }) => ratio(d?.appCpuPer1k, b?.appCpuPer1k) },
    { head: 'CPU ÷b4', cell: ({ d, a }) => ratio(d?.appCpuPer1k, a?.appCpuPer1k), a: true },
    { head: 'redis/1k', cell: ({ d }) => (d ? f(d.redisCpuPer1k, 2) : '') },
    { head: 'redis/1k b4', cell: ({ a }) => (a ? f(a.redisCpuPer1k, 2) : ''), a: true },
    { head: 'cmds', cell: ({ d }) => (d ? f(d.redis.commandsPerCall, 1) : '') },
    { head: 'cmds b4', cell: ({ a }) => (a ? f(a.redis.commandsPerCall, 1) : ''), a: true },
    { head: 'reqs', cell: ({ d }) => (d ? f(d.redis.writesPerCall, 1) : '') },
    { head: 'reqs b4', cell: ({ a }) => (a ? f(a.redis.writesPerCall, 1) : ''), a: true },
    { head: 'RSS D', cell: ({ d }) => (d ? f(d.rssMaxMb, 0) : '') },
    { head: 'RSS b4', cell: ({ a }) => (a ? f(a.rssMaxMb, 0) : ''), a: true },
    { head: 'RSS B', cell: ({ b }) => (b ? f(b.rssMaxMb, 0) : '') },
    { head: 'drops D', cell: ({ d }) => (d ? String(d.udp.rcvbufErrors) : '') },
    { head: 'drops b4', cell: ({ a }) => (a ? String(a.udp.rcvbufErrors) : ''), a: true },
    { head: 'drops B', cell: ({ b }) => (b ? String(b.udp.rcvbufErrors) : '') },
    { head: 'stolen %', cell: ({ d }) => (d?.stealPct === undefined ? '' : f(d.stealPct, 0)) },
  ];
  const cols = all.filter((c) => withA || !c.a);
  const rows = [['rate/s', ...cols.map((c) => c.head)]];
  for (const p of pairs(r, [...r.steps, ...r.overload])) {
    const ov = p.d?.phase === 'overload' || p.b?.phase === 'overload' || p.a?.phase === 'overload' ? '*' : '';
    rows.push([`${p.rate}${ov}`, ...cols.map((c) => c.cell(p))]);
  }
  const h = r.headline;
  const lines = [
    `${kindLabel(r)}; D = dispatcher, B = baseline${withA ? `, b4 = before (${beforeLabel(r)})` : ''}; p99 set-up ms; CPU s per 1,000 calls; cmds / reqs = Redis commands / requests per call; RSS MB; drops = UDP rcvbuf; * = overload step`,
    pad(rows),
    '',
    `headline: highest rate with zero failed calls: dispatcher ${h.dispatcher ?? 'none'}/s, baseline ${h.baseline ?? 'none'}/s` +
      (h.ratio !== undefined ? ` (dispatcher at ${(h.ratio * 100).toFixed(0)} % of baseline)` : '') +
      (withA ? `, before ${h.before ?? 'none'}/s` + (h.beforeRatio !== undefined ? ` (dispatcher ÷ before ${gx(h.beforeRatio)})` : '') : ''),
  ];
  if (r.gains && r.gains.steps.length > 0) {
    const g = [['gains D ÷ b4', 'CPU/1k', 'p99', 'cmds', 'reqs', 'logs', 'RSS', 'heap', 'failed D / b4']];
    for (const x of r.gains.steps) {
      g.push([
        `${x.rate}${x.phase === 'overload' ? '*' : ''}`,
        gx(x.appCpuPer1k),
        gx(x.setupP99),
        gx(x.redisCommandsPerCall),
        gx(x.redisRequestsPerCall),
        gx(x.logLinesPerCall),
        gx(x.rssMaxMb),
        gx(x.heapMaxMb),
        `${x.failed.dispatcher} / ${x.failed.before}`,
      ]);
    }
    lines.push('', `gains, dispatcher ÷ before (below 1× = cheaper now): per call (CPU, Redis, log lines) and per step (p99 set-up, RSS, heap)`, pad(g));
  }
  if (r.gains?.memory) {
    const m = r.gains.memory;
    lines.push(
      `gains, held calls (memory part), dispatcher ÷ before: heap per call ${gx(m.heapPerCallKb)}, RSS per call ${gx(m.rssPerCallKb)}, Redis bytes per call ${gx(m.redisBytesPerCall)}, ` +
        `set-up cmds / requests ${gx(m.setupCommandsPerCall)} / ${gx(m.setupRequestsPerCall)}, end ${gx(m.endCommandsPerCall)} / ${gx(m.endRequestsPerCall)}`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

function stepCells(s: StepResult): string[] {
  return [
    `${s.attempted} / ${s.succeeded}`,
    `${s.failed} / ${s.backends.failed}`,
    `${s.retransmissions} + ${s.backends.retransmissions}`,
    `${f(s.setup.p50, 0)} / ${f(s.setup.p95, 0)} / ${f(s.setup.p99, 0)}`,
    f(s.appCpuPer1k, 2),
    f(s.appCorePct, 0),
    isDispatcher(s.app) ? f(s.redisCpuPer1k, 2) : '–',
    f(s.drachtioCpuPer1k, 2),
    `${f((s.cpu.drachtioS / s.windowS) * 100, 0)} / ${f((s.cpu.sippS / s.windowS) * 100, 0)}`,
    isDispatcher(s.app) ? `${f(s.redis.commandsPerCall, 2)} / ${f(s.redis.writesPerCall, 2)} / ${f(s.redis.readsPerCall, 2)}` : '–',
    f(s.logLinesPerCall, 1),
    `${f(s.rssMaxMb, 0)} / ${f(s.peakRssMb, 0)}`,
    f(s.heapMaxMb, 1),
    String(s.udp.rcvbufErrors),
    s.stealPct === undefined ? '–' : f(s.stealPct, 0),
  ];
}

function ladderSection(r: BenchResult, steps: StepResult[]): string {
  const head = [
    'offered/s',
    'app',
    'calls attempted / ok',
    'failed caller / back-ends',
    'retrans caller + back-ends',
    'set-up p50 / p95 / p99 ms',
    'app CPU s / 1k calls',
    'app % of a core',
    'redis CPU s / 1k',
    'drachtio CPU s / 1k',
    'drachtio / sipp % of a core',
    'Redis cmds / requests / reads per call',
    'log lines / call',
    'RSS max / peak MB',
    'heap max MB',
    'UDP rcvbuf drops',
    'CPU stolen %',
  ];
  const rows: string[][] = [];
  const p99Of = (x: StepResult, y: StepResult): string =>
    Number.isFinite(x.setup.p99) && Number.isFinite(y.setup.p99)
      ? `p99 ${ratio(x.setup.p99, y.setup.p99)} (${x.setup.p99 - y.setup.p99 >= 0 ? '+' : ''}${x.setup.p99 - y.setup.p99} ms)`
      : '–';
  for (const { rate, d, b, a } of pairs(r, steps)) {
    let first = true;
    const rateCell = (): string => {
      const c = first ? `**${rate}**` : '';
      first = false;
      return c;
    };
    if (d) rows.push([rateCell(), `dispatcher ${d.ok ? '' : '✗'}`, ...stepCells(d)]);
    if (a) rows.push([rateCell(), `before ${a.ok ? '' : '✗'}`, ...stepCells(a)]);
    if (b) rows.push([rateCell(), `baseline ${b.ok ? '' : '✗'}`, ...stepCells(b)]);
    if (d && b) {
      rows.push([
        '',
        '*dispatcher ÷ baseline*',
        '',
        '',
        '',
        p99Of(d, b),
        ratio(d.appCpuPer1k, b.appCpuPer1k),
        ratio(d.appCorePct, b.appCorePct),
        '',
        ratio(d.drachtioCpuPer1k, b.drachtioCpuPer1k),
        '',
        '',
        '',
        ratio(d.rssMaxMb, b.rssMaxMb),
        ratio(d.heapMaxMb, b.heapMaxMb),
        '',
      ]);
    }
    if (d && a) {
      rows.push([
        '',
        '*dispatcher ÷ before*',
        '',
        '',
        '',
        p99Of(d, a),
        ratio(d.appCpuPer1k, a.appCpuPer1k),
        ratio(d.appCorePct, a.appCorePct),
        ratio(d.redisCpuPer1k, a.redisCpuPer1k),
        ratio(d.drachtioCpuPer1k, a.drachtioCpuPer1k),
        '',
        `${ratio(d.redis.commandsPerCall, a.redis.commandsPerCall)} / ${ratio(d.redis.writesPerCall, a.redis.writesPerCall)} / ${ratio(d.redis.readsPerCall, a.redis.readsPerCall)}`,
        ratio(d.logLinesPerCall, a.logLinesPerCall),
        ratio(d.rssMaxMb, a.rssMaxMb),
        ratio(d.heapMaxMb, a.heapMaxMb),
        '',
      ]);
    }
  }
  return mdTable(
    head,
    rows.map((row) => [...row, ...Array<string>(Math.max(0, head.length - row.length)).fill('')]),
  );
}

function commandsSection(r: BenchResult): string {
  const ok = r.steps.filter((s) => s.app === 'dispatcher' && s.ok);
  const s = ok[0] ?? r.steps.find((x) => x.app === 'dispatcher');
  if (!s) return '';
  // --before: the same step of "before", by name beside the dispatcher's
  const a = r.before ? r.steps.find((x) => x.app === 'before' && x.rate === s.rate) : undefined;
  const names = [...new Set([...Object.keys(s.redis.byCommand), ...Object.keys(a?.redis.byCommand ?? {})])];
  const rows = names
    .sort((x, y) => (s.redis.byCommand[y] ?? 0) - (s.redis.byCommand[x] ?? 0) || (a?.redis.byCommand[y] ?? 0) - (a?.redis.byCommand[x] ?? 0))
    .map((k) => [`\`${k}\``, f(s.redis.byCommand[k] ?? 0, 3), ...(a ? [f(a.redis.byCommand[k] ?? 0, 3)] : [])]);
  return [
    `Redis commands per call by name (commandstats \`calls\` deltas over the ${s.rate}/s step, divided by its ${s.attempted} calls` +
      (a ? `; before: its own ${s.rate}/s step, ${a.attempted} calls` : '') +
      '; ' +
      "commands run inside a Lua script are counted under their own names as well as the EVALSHA; the app's background work — heartbeat, health refresh — is included):",
    '',
    mdTable(['command', 'calls per call', ...(a ? ['before'] : [])], rows),
  ].join('\n');
}

function gainsSection(r: BenchResult): string {
  const g = r.gains as Gains;
  const out: string[] = [];
  out.push('## Gains');
  out.push('');
  out.push(
    `The dispatcher as built now ÷ **before**, ${beforeLabel(r)}, step for step in this run: below 1× the dispatcher is cheaper (or faster) than it was. ` +
      'CPU, Redis commands and requests and log lines are per call; p99 set-up time, RSS (max sampled) and heap (max sampled) per step.',
  );
  out.push('');
  out.push(
    `Highest rate with zero failed calls: dispatcher ${g.headline.dispatcher ?? 'none'}/s, before ${g.headline.before ?? 'none'}/s` +
      (g.headline.ratio !== undefined ? ` (${gx(g.headline.ratio)}; above 1× is a gain).` : '.'),
  );
  out.push('');
  if (g.steps.length > 0) {
    out.push(
      mdTable(
        [
          'offered/s',
          'failed dispatcher / before',
          'app CPU / 1k calls',
          'p99 set-up',
          'Redis commands / call',
          'Redis requests / call',
          'log lines / call',
          'RSS max',
          'heap max',
        ],
        g.steps.map((x) => [
          `${x.rate}${x.phase === 'overload' ? ' (overload)' : ''}`,
          `${x.failed.dispatcher} / ${x.failed.before}`,
          gx(x.appCpuPer1k),
          gx(x.setupP99),
          gx(x.redisCommandsPerCall),
          gx(x.redisRequestsPerCall),
          gx(x.logLinesPerCall),
          gx(x.rssMaxMb),
          gx(x.heapMaxMb),
        ]),
      ),
    );
  } else {
    out.push('No step ran both the dispatcher and before.');
  }
  if (g.memory) {
    const m = g.memory;
    out.push('');
    out.push(
      `Held calls (the memory part), dispatcher ÷ before: heap per call **${gx(m.heapPerCallKb)}**, RSS per call ${gx(m.rssPerCallKb)}, ` +
        `Redis bytes per call record ${gx(m.redisBytesPerCall)}; Redis commands / requests per call to set up ${gx(m.setupCommandsPerCall)} / ${gx(m.setupRequestsPerCall)}, ` +
        `to end ${gx(m.endCommandsPerCall)} / ${gx(m.endRequestsPerCall)}.`,
    );
  }
  return out.join('\n');
}

export function markdown(r: BenchResult, svgName: string): string {
  const h = r.headline;
  const m = r.machine;
  const out: string[] = [];
  out.push(`# sip-dispatcher benchmark, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC (${r.mode.name})`);
  out.push('');
  if (r.drachtio === 'emulator') {
    out.push('> **EMULATOR figures.** drachtio-server was the test emulator (`test/emulator`, a Node.js process), not a real drachtio-server: its');
    out.push("> limits and costs are not drachtio-server's. Only ratios between dispatcher and baseline in this run mean anything, and even they");
    out.push('> are bounded by the emulator. Run with `DRACHTIO_BIN=<drachtio binary>` for real figures.');
    out.push('');
  }
  if (r.mode.name === 'quick') {
    out.push(`> **--quick run**: ${r.mode.stepS} s steps and small samples, a smoke test; not figures to quote.`);
    out.push('');
  }
  out.push(
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memGb} GB, Linux ${m.kernel}; Node.js ${m.node}, redis-server ${m.redis}, sipp ${m.sipp}, ` +
      `drachtio: ${kindLabel(r)}. Commit ${r.git}. Load average at start ${m.loadavgAtStart.map((x) => x.toFixed(2)).join(' ')}. Took ${r.durationS.toFixed(0)} s.`,
  );
  out.push('');
  out.push(
    `Set-up: sipp caller → drachtio-server → app under test → 3 sipp back-ends (answer); calls held ${r.mode.holdMs} ms; ${r.mode.stepS} s per step; ` +
      `a fresh drachtio-server, back-ends and app process per step; ${r.before ? 'dispatcher, baseline and before take turns' : 'dispatcher and baseline alternate'} step for step. The dispatcher runs compiled ` +
      '(`dist/`, as `npm start`) with info logs (to a file) and Redis, one weighted route over the 3 back-ends; the baseline is `bench/baseline.js` ' +
      '(drachtio-srf `createB2BUA`, round robin, no Redis, no logs).' +
      (r.before
        ? ` **before** is the dispatcher at ${beforeLabel(r)}, built in a temporary worktree and started exactly as the dispatcher (same config, flags and probe), ` +
          'taking its turn at every step (which app goes first rotates from step to step).'
        : '') +
      ' Reproduce: `npm run bench' +
      (r.mode.name === 'quick' || r.before ? ' --' : '') +
      (r.mode.name === 'quick' ? ' --quick' : '') +
      (r.before ? ` --before ${r.before.commit.slice(0, 7)}` : '') +
      '`' +
      (r.drachtio === 'real' ? ' with `DRACHTIO_BIN` set' : '') +
      '.',
  );
  out.push('');
  out.push('## Headline');
  out.push('');
  out.push(
    `Highest offered rate with zero failed calls: **dispatcher ${h.dispatcher ?? 'none'} calls/s, baseline ${h.baseline ?? 'none'} calls/s**` +
      (h.ratio !== undefined ? ` — the dispatcher holds **${(h.ratio * 100).toFixed(0)} %** of the baseline's rate.` : '.'),
  );
  if (r.before) {
    out.push('');
    out.push(
      `Before (${beforeLabel(r)}): **${h.before ?? 'none'} calls/s**` +
        (h.beforeRatio !== undefined ? ` — the dispatcher now takes **${gx(h.beforeRatio)}** the rate before took.` : '.'),
    );
  }
  // ratios at the highest rate both passed
  const both = pairs(r, r.steps).filter((p) => p.d?.ok && p.b?.ok);
  const at = both[both.length - 1];
  if (at?.d && at.b) {
    out.push('');
    out.push(
      `At ${at.rate}/s (the highest rate where both had zero failures): app CPU per call ${ratio(at.d.appCpuPer1k, at.b.appCpuPer1k)} the baseline's ` +
        `(${f(at.d.appCpuPer1k, 2)} vs ${f(at.b.appCpuPer1k, 2)} s per 1,000 calls), plus redis-server ${f(at.d.redisCpuPer1k, 2)} s per 1,000 calls; ` +
        `p99 set-up ${f(at.d.setup.p99, 0)} vs ${f(at.b.setup.p99, 0)} ms; RSS ${f(at.d.rssMaxMb, 0)} vs ${f(at.b.rssMaxMb, 0)} MB; ` +
        `${f(at.d.redis.commandsPerCall, 2)} Redis commands in ${f(at.d.redis.writesPerCall, 2)} requests (round trips) per call.`,
    );
  }
  out.push('');
  out.push(`![failed calls and p99 set-up time against offered rate](${svgName})`);
  out.push('');
  if (r.gains) out.push(gainsSection(r), '');
  out.push('## Steps');
  out.push('');
  out.push(
    '✗ = the step failed (a call not completed at the caller, or a failure at a back-end). CPU from /proc utime+stime over the step ' +
      "(calls placed, held and ended). Redis per call: commands (commandstats), requests (the app's writes to its Redis socket, counted by `bench/probe.js`: " +
      'one per command, pipeline or MULTI/EXEC block, i.e. round trips when each waits for its answer) and reads (redis-server read events, `total_reads_processed`: ' +
      "fewer than requests when several calls' requests arrive in one read). " +
      "UDP rcvbuf drops = /proc/net/snmp `RcvbufErrors`, machine-wide. CPU stolen = the share of the machine's CPU time the hypervisor " +
      'gave other guests during the step (/proc/stat `steal`): when it is high the machine was not ours, and the step says little.',
  );
  out.push('');
  out.push(ladderSection(r, r.steps));
  out.push('');
  out.push(commandsSection(r));
  out.push('');
  out.push('## Overload');
  out.push('');
  const top = h.dispatcher;
  out.push(
    `Offered at 1.5× and 2× the dispatcher's own top zero-failure rate (${top ?? `none; ${r.mode.ladder[0]}/s used`}). Goodput = calls answered and ended cleanly per second of offered load; set-up times are of the calls that were answered.`,
  );
  out.push('');
  out.push(
    mdTable(
      [
        'offered/s',
        'app',
        'goodput calls/s',
        'goodput ÷ dispatcher top',
        'failed caller / back-ends',
        'set-up p50 / p95 / p99 ms',
        'app % of a core',
        'UDP drops',
        'caller failures',
      ],
      r.overload.map((s) => [
        String(s.rate),
        s.app,
        f(s.goodput, 0),
        top ? `${((s.goodput / top) * 100).toFixed(0)} %` : '–',
        `${s.failed} / ${s.backends.failed}`,
        `${f(s.setup.p50, 0)} / ${f(s.setup.p95, 0)} / ${f(s.setup.p99, 0)}`,
        f(s.appCorePct, 0),
        String(s.udp.rcvbufErrors),
        Object.entries(s.failureKinds)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || '–',
      ]),
    ),
  );
  out.push('');
  if (r.distribution) {
    const d = r.distribution;
    const sumW = d.weights.reduce((a, b) => a + b, 0);
    out.push('## Distribution');
    out.push('');
    out.push(
      `${d.calls} calls at ${d.rate}/s over 4 back-ends weighted ${d.weights.join(':')} (one priority): ${d.callerSucceeded} of ${d.callerAttempted} succeeded. ` +
        `Pearson's chi-square against the weights: **χ² = ${d.chi2.toFixed(2)}, ${d.df} degrees of freedom, p = ${d.p.toFixed(3)}** ` +
        '(p below 0.01 would say the shares do not follow the weights).',
    );
    if (d.callerSucceeded < d.callerAttempted * 0.99) {
      out.push('');
      out.push(
        `**Warning:** ${d.callerAttempted - d.callerSucceeded} calls failed during this test: passive health and failover then move calls between ` +
          'back-ends, so the shares measure more than the weighted selection.',
      );
    }
    out.push('');
    out.push(
      mdTable(
        ['back-end', 'weight', 'expected share', 'calls received', 'observed share'],
        d.received.map((n, i) => [
          String(i + 1),
          String(d.weights[i]),
          `${((d.weights[i] / sumW) * 100).toFixed(1)} %`,
          String(n),
          `${(d.shares[i] * 100).toFixed(2)} %`,
        ]),
      ),
    );
    out.push('');
  }
  if (r.failover) {
    const x = r.failover;
    out.push('## One back-end answering 503');
    out.push('');
    out.push(
      `${x.calls} calls at ${x.rate}/s, same weights, back-end 1 (weight ${x.weights[0]}) answers every INVITE with 503 (no Retry-After; passive health as shipped): ` +
        `**${(x.successShare * 100).toFixed(2)} %** of calls succeeded (${x.succeeded} of ${x.attempted}); INVITEs received per back-end ${x.received.join(' / ')}; ` +
        `set-up p50 / p99 ${f(x.setup.p50, 0)} / ${f(x.setup.p99, 0)} ms.`,
    );
    out.push('');
  }
  if (r.memory.length > 0) {
    out.push('## Memory and Redis work per call');
    out.push('');
    out.push(
      'Calls placed and held all at once, then ended; heap after a full GC (node --expose-gc, asked over IPC by `bench/probe.js`) before the calls, ' +
        'with all calls up, and after they ended; per call = delta / calls up when measured. Redis bytes per call record: `used_memory` delta / calls up. ' +
        "Commands, requests (round trips) and reads per call: commandstats, the app's Redis socket writes and `total_reads_processed` deltas over the set-up phase (divided by the calls placed by then) " +
        'and the end phase (all BYEs; divided by all calls placed), ' +
        "the app's idle background traffic (measured for 2 s before) subtracted.",
    );
    out.push('');
    out.push(
      mdTable(
        [
          'app',
          'calls held',
          'placed / up when measured',
          'heap before / all up / after MB',
          'heap per call KB',
          'RSS per call KB',
          'Redis bytes per call',
          'set-up: cmds / requests / reads per call',
          'end: cmds / requests / reads per call',
          'idle cmds/s',
          'failed',
        ],
        r.memory.map((m) => [
          m.app,
          String(m.calls),
          `${m.placedAtPeak} / ${m.activeAtPeak}`,
          `${f(m.heapBeforeMb)} / ${f(m.heapPeakMb)} / ${f(m.heapAfterMb)}`,
          f(m.heapPerCallKb, 2),
          f(m.rssPerCallKb, 2),
          m.redisBytesPerCall !== undefined ? f(m.redisBytesPerCall, 0) : '–',
          m.setupCommandsPerCall !== undefined ? `${f(m.setupCommandsPerCall, 2)} / ${f(m.setupWritesPerCall, 2)} / ${f(m.setupRoundTripsPerCall, 2)}` : '–',
          m.endCommandsPerCall !== undefined ? `${f(m.endCommandsPerCall, 2)} / ${f(m.endWritesPerCall, 2)} / ${f(m.endRoundTripsPerCall, 2)}` : '–',
          m.idleCommandsPerS !== undefined ? f(m.idleCommandsPerS, 1) : '–',
          String(m.failed),
        ]),
      ),
    );
    out.push('');
  }
  out.push('## Caveats');
  out.push('');
  out.push(
    [
      '- Everything (sipp caller and back-ends, drachtio-server, redis-server, the app, the bench) shares this machine: the load generators take CPU the app under test would otherwise have. Ratios within one run are what count; absolute rates move from run to run.',
      "- Set-up times are sipp response times, millisecond resolution (INVITE sent → 200 received; a retransmitted INVITE's call counts from the first send).",
      "- Redis round trips are counted as the app's requests (socket writes, counted inside the app by `bench/probe.js`; a pipeline is one) and cross-checked with redis-server's read events, which coalesce concurrent calls' requests and so read low under load.",
      '- UDP receive-buffer drops are machine-wide (other processes on the machine count too).',
      '- Back-ends can receive more calls than the caller placed: the dispatcher fails a call over to another back-end when the first gives no provisional response within `call.provisionalTimeoutMs` (the late one then fails at that back-end).',
      '- "sipp % of a core" is the load generators (caller and back-ends) together: when it nears 100 %, the generators, not the app, may set the limit.',
      ...r.notes.map((n) => `- ${n}`),
    ].join('\n'),
  );
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG chart
// ---------------------------------------------------------------------------------------------

const COLOURS: Record<AppKind, string> = { dispatcher: '#d62728', baseline: '#1f77b4', before: '#ff7f0e' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Panel {
  x: number;
  title: string;
  yLabel: string;
  value: (s: StepResult) => number | undefined;
}

export function chart(r: BenchResult): string {
  const W = 980;
  const H = 420;
  const pw = 400;
  const ph = 280;
  const top = 70;
  const all = [...r.steps, ...r.overload];
  const maxRate = Math.max(100, ...all.map((s) => s.rate));
  const xOf = (x0: number, rate: number): number => x0 + (rate / maxRate) * pw;
  // both panels: log scale, 0 drawn on the bottom line
  const logY = (v: number, maxV: number): number => {
    const lmax = Math.log10(Math.max(10, maxV));
    const t = v <= 0 ? 0 : (Math.log10(v) + 1) / (lmax + 1); // 0.1 -> bottom, maxV -> top
    return top + ph - Math.max(0, Math.min(1, t)) * ph;
  };
  const panels: Panel[] = [
    { x: 70, title: 'Failed calls per step (log scale; 0 at the bottom)', yLabel: 'failed calls', value: (s) => s.failed },
    {
      x: 560,
      title: 'p99 set-up time, INVITE → 200 (ms, log scale)',
      yLabel: 'ms',
      value: (s) => (Number.isFinite(s.setup.p99) ? Math.max(s.setup.p99, 0.1) : undefined),
    },
  ];
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  const title = `sip-dispatcher${r.before ? ' (now and before)' : ''} vs bare drachtio-srf B2BUA, ${r.startedAt.slice(0, 10)} (${r.mode.name})${r.drachtio === 'emulator' ? ' — EMULATOR figures' : ''}`;
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  parts.push(
    `<text x="${W / 2}" y="42" text-anchor="middle" fill="#555">offered calls/s (× = overload step); top zero-failure rate: dispatcher ${r.headline.dispatcher ?? 'none'}, baseline ${r.headline.baseline ?? 'none'}${r.before ? `, before ${r.headline.before ?? 'none'}` : ''}</text>`,
  );
  for (const p of panels) {
    const values = all.map(p.value).filter((v): v is number => v !== undefined);
    const maxV = Math.max(10, ...values);
    const x0 = p.x;
    parts.push(`<text x="${x0 + pw / 2}" y="${top - 10}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
    parts.push(`<rect x="${x0}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
    // y grid: decades
    for (let e = 0; 10 ** e <= maxV * 1.0001; e += 1) {
      const y = Math.round(logY(10 ** e, maxV) * 10) / 10;
      parts.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`);
      parts.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${10 ** e}</text>`);
    }
    parts.push(`<text x="${x0 - 6}" y="${top + ph + 4}" text-anchor="end">0</text>`);
    parts.push(`<text transform="translate(${x0 - 48},${top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#555">${esc(p.yLabel)}</text>`);
    // x ticks
    const step = maxRate > 2000 ? 500 : maxRate > 800 ? 200 : 100;
    for (let x = 0; x <= maxRate; x += step) {
      const px = xOf(x0, x);
      parts.push(`<line x1="${px}" x2="${px}" y1="${top + ph}" y2="${top + ph + 4}" stroke="#999"/>`);
      parts.push(`<text x="${px}" y="${top + ph + 18}" text-anchor="middle">${x}</text>`);
    }
    parts.push(`<text x="${x0 + pw / 2}" y="${top + ph + 36}" text-anchor="middle" fill="#555">offered calls/s</text>`);
    for (const app of ['baseline', 'before', 'dispatcher'] as AppKind[]) {
      const pts = all
        .filter((s) => s.app === app)
        .sort((a, b) => a.rate - b.rate)
        .map((s) => ({ s, v: p.value(s) }))
        .filter((q): q is { s: StepResult; v: number } => q.v !== undefined);
      if (pts.length === 0) continue;
      // the line joins the ladder's steps; overload steps are crosses of their own
      const d = pts
        .filter((q) => q.s.phase === 'ladder')
        .map((q, i) => `${i === 0 ? 'M' : 'L'}${xOf(x0, q.s.rate).toFixed(1)},${logY(q.v, maxV).toFixed(1)}`)
        .join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${COLOURS[app]}" stroke-width="2"/>`);
      for (const q of pts) {
        const cx = Math.round(xOf(x0, q.s.rate) * 10) / 10;
        const cy = Math.round(logY(q.v, maxV) * 10) / 10;
        if (q.s.phase === 'overload') {
          parts.push(
            `<path d="M${cx - 4},${cy - 4} L${cx + 4},${cy + 4} M${cx - 4},${cy + 4} L${cx + 4},${cy - 4}" stroke="${COLOURS[app]}" stroke-width="2"/>`,
          );
        } else {
          parts.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${q.s.ok ? COLOURS[app] : '#fff'}" stroke="${COLOURS[app]}" stroke-width="1.5"/>`);
        }
      }
      const topRate = r.headline[app];
      if (topRate !== undefined) {
        const px = xOf(x0, topRate);
        parts.push(`<line x1="${px}" x2="${px}" y1="${top}" y2="${top + ph}" stroke="${COLOURS[app]}" stroke-dasharray="4,3" opacity="0.6"/>`);
      }
    }
  }
  // legend (with --before, three entries, shifted left)
  const ly = H - 22;
  const lx = r.before ? 110 : 250;
  parts.push(`<line x1="${lx}" x2="${lx + 30}" y1="${ly}" y2="${ly}" stroke="${COLOURS.dispatcher}" stroke-width="2"/>`);
  parts.push(`<text x="${lx + 36}" y="${ly + 4}">dispatcher (compiled, Redis, info logs)</text>`);
  parts.push(`<line x1="${lx + 290}" x2="${lx + 320}" y1="${ly}" y2="${ly}" stroke="${COLOURS.baseline}" stroke-width="2"/>`);
  parts.push(`<text x="${lx + 326}" y="${ly + 4}">baseline (bare createB2BUA)</text>`);
  if (r.before) {
    const b = r.before;
    // the rev and commit (the subject is in the report): ~40 characters fit
    const text = `before: ${b.rev}${b.commit.startsWith(b.rev) ? '' : ` (${b.commit.slice(0, 7)})`}`;
    parts.push(`<line x1="${lx + 530}" x2="${lx + 560}" y1="${ly}" y2="${ly}" stroke="${COLOURS.before}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 566}" y="${ly + 4}">${esc(text.length > 42 ? `${text.slice(0, 41)}…` : text)}</text>`);
  }
  parts.push(
    `<text x="${W / 2}" y="${H - 4}" text-anchor="middle" fill="#777" font-size="11">filled dot: zero failures; open dot: failures; dashed line: top zero-failure rate</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

export function writeReport(r: BenchResult, dir: string): { md: string; json: string; svg: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = `${stamp}-${r.mode.name}-${r.drachtio}`;
  const files = { md: path.join(dir, `${base}.md`), json: path.join(dir, `${base}.json`), svg: path.join(dir, `${base}.svg`) };
  fs.writeFileSync(files.json, `${JSON.stringify(r, null, 2)}\n`);
  fs.writeFileSync(files.svg, chart(r));
  fs.writeFileSync(files.md, markdown(r, path.basename(files.svg)));
  return files;
}
