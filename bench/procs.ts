/**
 * What the bench reads from /proc: CPU time of a process (or a process tree), its resident memory,
 * and the kernel's UDP counters. Nothing here samples or attaches to a process: CPU is the
 * utime + stime the kernel accounts to it (so nothing is undercounted between samples), read
 * before and after a measured interval.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

let clockTicks: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on Linux almost everywhere). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, in seconds */
  cpuS: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name (field 2) is in parentheses and may contain spaces: split after the last ')'
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15
  const ppid = Number(rest[1]);
  const ticks = Number(rest[11]) + Number(rest[12]);
  return { pid, ppid, cpuS: ticks / ticksPerSecond() };
}

/** CPU seconds (user + system) a process has used so far; NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  return readStat(pid)?.cpuS ?? NaN;
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** CPU seconds of a process and every live descendant (a tsx launcher and the node under it). */
export function treeCpuSeconds(root: number): number {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(s);
    children.set(s.ppid, list);
  }
  let total = 0;
  const self = stats.find((s) => s.pid === root);
  if (!self) return NaN;
  const stack = [self];
  while (stack.length > 0) {
    const s = stack.pop() as ProcStat;
    total += s.cpuS;
    stack.push(...(children.get(s.pid) ?? []));
  }
  return total;
}

/** Direct children of this process whose command line contains `needle`. */
export function childPids(needle: string): number[] {
  const out: number[] = [];
  for (const s of allStats()) {
    if (s.ppid !== process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').includes(needle)) out.push(s.pid);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** VmRSS and VmHWM (peak RSS) in bytes; NaN when the process is gone. */
export function memoryOf(pid: number): { rss: number; peakRss: number } {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(text);
      return m ? Number(m[1]) * 1024 : NaN;
    };
    return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
  } catch {
    return { rss: NaN, peakRss: NaN };
  }
}

/** The Udp counters of /proc/net/snmp (InDatagrams, RcvbufErrors, ...), machine-wide. */
export function udpCounters(): Record<string, number> {
  const lines = fs
    .readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return {};
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  const out: Record<string, number> = {};
  names.forEach((n, i) => {
    out[n] = values[i];
  });
  return out;
}

/** The machine's CPU time so far, in clock ticks, from /proc/stat's `cpu` line: all of it and what the hypervisor stole. */
export function cpuTicks(): { total: number; steal: number } {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
    const total = f.slice(0, 8).reduce((a, x) => a + (Number.isFinite(x) ? x : 0), 0);
    return { total, steal: f[7] ?? 0 };
  } catch {
    return { total: 0, steal: 0 };
  }
}

/** Share of the machine's CPU time the hypervisor stole between two readings (0..1; NaN when unknown). */
export function stealShare(a: { total: number; steal: number }, b: { total: number; steal: number }): number {
  const total = b.total - a.total;
  return total > 0 ? (b.steal - a.steal) / total : NaN;
}

/** The machine, for the report's header. */
export function machine(): { cpus: number; cpuModel: string; memGb: number; kernel: string } {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? 'unknown';
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  let kernel = 'unknown';
  try {
    kernel = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  const cpus = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  return { cpus, cpuModel: model, memGb: Math.round((memKb / 1024 / 1024) * 10) / 10, kernel };
}
