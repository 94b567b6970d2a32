/**
 * `sip-dispatcher status`: the cluster's instances, the per-target counters and the totals. Pure:
 * built from what ClusterStore.instances() and CallStore.targetCounters() read.
 */
import type { TargetCounters } from '../store/call-store';
import type { InstanceView } from '../store/cluster-store';
import { formatDuration, formatFailed, formatTime, sumFailed } from './format';
import { formatTable, type Column } from './table';

/** One instance; the facts are null when its registry key has expired (dead). */
export interface InstanceStatus {
  id: string;
  alive: boolean;
  host: string | null;
  pid: number | null;
  version: string | null;
  /** drachtio-servers it is connected to now */
  servers: string[];
  /** calls it holds in memory (setting up, answered, adopted), from its last heartbeat */
  calls: number | null;
  /** answered calls recorded under it in Redis (`<prefix>instance:<id>:calls`) */
  ownedCalls: number;
  /** epoch ms */
  startedAt: number | null;
  draining: boolean | null;
}

/** A target out of selection (`<prefix>target:<id>:health`), as status shows it. */
export interface TargetStateStatus {
  state: 'quarantined' | 'down' | 'draining';
  /** epoch ms; null: no end (down until probes bring it back, or drained until undrained) */
  until: number | null;
  cause: string;
  /** the instance that set it */
  instance: string;
  /** epoch ms */
  since: number;
}

export interface TargetStatus extends TargetCounters {
  id: string;
  /** null: up (no state, or one whose `until` has passed) */
  state?: TargetStateStatus | null;
}

export interface ClusterTotals {
  instances: number;
  aliveInstances: number;
  /** the sum of the targets' `active` */
  activeCalls: number;
  attempts: number;
  answered: number;
  canceled: number;
  /** the sum of every `failed:*` counter */
  failed: number;
}

export interface StatusReport {
  instances: InstanceStatus[];
  targets: TargetStatus[];
  totals: ClusterTotals;
}

export function buildStatus(views: readonly InstanceView[], targets: readonly TargetStatus[]): StatusReport {
  const instances = views.map((v): InstanceStatus => ({
    id: v.id,
    alive: v.alive,
    host: v.facts?.host ?? null,
    pid: v.facts?.pid ?? null,
    version: v.facts?.version ?? null,
    servers: v.facts?.servers ?? [],
    calls: v.facts?.calls ?? null,
    ownedCalls: v.ownedCalls,
    startedAt: v.facts?.startedAt ?? null,
    draining: v.facts?.draining ?? null,
  }));
  const sorted = [...targets].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const sum = (f: (t: TargetStatus) => number): number => sorted.reduce((n, t) => n + f(t), 0);
  return {
    instances,
    targets: sorted,
    totals: {
      instances: instances.length,
      aliveInstances: instances.filter((i) => i.alive).length,
      activeCalls: sum((t) => t.active),
      attempts: sum((t) => t.attempts),
      answered: sum((t) => t.answered),
      canceled: sum((t) => t.canceled),
      failed: sum((t) => sumFailed(t.failed)),
    },
  };
}

const INSTANCE_COLUMNS: Column[] = [
  { header: 'ID' },
  { header: 'STATE' },
  { header: 'HOST' },
  { header: 'PID', align: 'right' },
  { header: 'VERSION' },
  { header: 'DRACHTIO' },
  { header: 'CALLS', align: 'right' },
  { header: 'OWNED', align: 'right' },
  { header: 'STARTED' },
  { header: 'UP', align: 'right' },
  { header: 'DRAINING' },
];

const TARGET_COLUMNS: Column[] = [
  { header: 'TARGET' },
  { header: 'ACTIVE', align: 'right' },
  { header: 'ATTEMPTS', align: 'right' },
  { header: 'ANSWERED', align: 'right' },
  { header: 'CANCELED', align: 'right' },
  { header: 'FAILED' },
  { header: 'STATE' },
];

const STATE_COLOUR = { down: 'red', quarantined: 'yellow', draining: 'yellow' } as const;

/** `up`, or `down: 3 probe failures (timeout,timeout,503)`, `quarantined until 2025-…Z: 503 Retry-After 60`. */
function stateCell(s: TargetStateStatus | null | undefined): string | { text: string; colour: 'red' | 'yellow' } {
  if (!s) return 'up';
  const until = s.until === null ? '' : ` until ${formatTime(s.until)}`;
  return { text: `${s.state}${until}: ${s.cause}`, colour: STATE_COLOUR[s.state] };
}

const dash = (v: string | number | null): string => (v === null || v === '' ? '-' : String(v));

export function renderStatus(report: StatusReport, now: number, colour = false): string {
  const instances = report.instances.map((i) => [
    i.id,
    { text: i.alive ? 'alive' : 'dead', colour: i.alive ? ('green' as const) : ('red' as const) },
    dash(i.host),
    dash(i.pid),
    dash(i.version),
    i.servers.length > 0 ? i.servers.join(',') : '-',
    dash(i.calls),
    i.ownedCalls,
    i.startedAt === null ? '-' : formatTime(i.startedAt),
    i.startedAt === null ? '-' : formatDuration(now - i.startedAt),
    i.draining === null ? '-' : i.draining ? { text: 'yes', colour: 'yellow' as const } : 'no',
  ]);
  const targets = report.targets.map((t) => [t.id, t.active, t.attempts, t.answered, t.canceled, formatFailed(t.failed), stateCell(t.state)]);
  const t = report.totals;
  return [
    'Instances',
    instances.length > 0 ? formatTable(INSTANCE_COLUMNS, instances, colour) : '(none registered)',
    '',
    'Targets',
    targets.length > 0 ? formatTable(TARGET_COLUMNS, targets, colour) : '(no counters yet)',
    '',
    `Cluster: ${t.instances} instance(s), ${t.aliveInstances} alive; ${t.activeCalls} active call(s); ` +
      `${t.attempts} attempts: ${t.answered} answered, ${t.canceled} canceled, ${t.failed} failed`,
  ].join('\n');
}
