/**
 * `sip-dispatcher calls`: the live (answered) calls from their Redis records. Pure.
 */
import type { LiveCall } from '../store/call-store';
import { formatDuration, formatTime } from './format';
import { formatTable, type Column } from './table';

export interface CallFilter {
  /** owner instance id */
  instance?: string;
  /** target id, e.g. `udp:10.0.0.1:5060` */
  target?: string;
}

/** A call for --json: its whole record, how long it has been up, and `adoptedFrom` (null unless adopted). */
export interface CallRow extends Omit<LiveCall, 'adoptedFrom'> {
  durationMs: number;
  /** the dead instance this call was adopted from, or null */
  adoptedFrom: string | null;
}

/** The calls that pass the filter, oldest answer first, with their duration at `now`. */
export function callRows(calls: readonly LiveCall[], filter: CallFilter, now: number): CallRow[] {
  return calls
    .filter((c) => (filter.instance === undefined || c.instance === filter.instance) && (filter.target === undefined || c.target === filter.target))
    .sort((a, b) => a.answeredAt - b.answeredAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((c) => ({ ...c, adoptedFrom: c.adoptedFrom ?? null, durationMs: Math.max(0, now - c.answeredAt) }));
}

const COLUMNS: Column[] = [
  { header: 'CALL-ID' },
  { header: 'KEY' },
  { header: 'ROUTE' },
  { header: 'TARGET' },
  { header: 'OWNER' },
  { header: 'SERVER' },
  { header: 'ANSWERED' },
  { header: 'DURATION', align: 'right' },
  { header: 'ADOPTED-FROM' },
];

export function renderCalls(rows: readonly CallRow[], colour = false): string {
  if (rows.length === 0) return 'no live calls';
  const table = rows.map((c) => [
    c.callId,
    c.key,
    c.route,
    c.target,
    c.instance,
    c.server || '-',
    formatTime(c.answeredAt),
    formatDuration(c.durationMs),
    c.adoptedFrom === null ? '-' : { text: c.adoptedFrom, colour: 'yellow' as const },
  ]);
  return `${formatTable(COLUMNS, table, colour)}\n${rows.length} call(s)`;
}
