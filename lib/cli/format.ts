/**
 * Pure formatting for the operator CLI: durations, times, failure counters, event lines.
 */
import type { StreamEvent } from '../store/cluster-store';

/** A duration as an operator reads it: `45s`, `3m05s`, `1h02m03s`, `2d03h04m`; negative counts as 0. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${two(h)}h${two(m)}m`;
  if (h > 0) return `${h}h${two(m)}m${two(s)}s`;
  if (m > 0) return `${m}m${two(s)}s`;
  return `${s}s`;
}

/** Epoch ms as UTC ISO 8601 to the second (`2025-03-01T12:00:05Z`), or `-` when unknown. */
export function formatTime(epochMs: number | undefined): string {
  if (epochMs === undefined || !Number.isFinite(epochMs) || epochMs <= 0) return '-';
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The time a stream entry was added: the milliseconds part of its id (`1700000000123-0`). */
export function streamIdTime(id: string): number {
  return Number(id.split('-')[0]);
}

/** Sort order of failure labels: SIP statuses ascending, then the named causes (error, no-answer, timeout) by name. */
function labelOrder(a: string, b: string): number {
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(b);
  if (na && nb) return Number(a) - Number(b);
  if (na !== nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `failed:<label>` counters as `503=2 timeout=1`, or `-` when there are none. */
export function formatFailed(failed: Readonly<Record<string, number>>): string {
  const labels = Object.keys(failed)
    .filter((k) => failed[k] !== 0)
    .sort(labelOrder);
  return labels.length === 0 ? '-' : labels.map((k) => `${k}=${failed[k]}`).join(' ');
}

export function sumFailed(failed: Readonly<Record<string, number>>): number {
  return Object.values(failed).reduce((a, b) => a + b, 0);
}

/** A field value as it can be read back: bare when it has no blank, quote or `=`, else JSON-quoted. */
function fieldValue(v: string): string {
  return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
}

/** Width of the type column: the longest event type the dispatcher writes (`answered`, `released`). */
const TYPE_WIDTH = 8;

/** One event per line: `2025-03-01T12:00:05.123Z  answered  call=abc;1 target=udp:10.0.0.1:5060 …`. */
export function formatEventLine(ev: StreamEvent): string {
  const time = new Date(streamIdTime(ev.id)).toISOString();
  const fields = Object.entries(ev.fields).map(([k, v]) => `${k}=${fieldValue(v)}`);
  return `${time}  ${ev.type.padEnd(TYPE_WIDTH)}  ${fields.join(' ')}`.trimEnd();
}

export interface EventJson {
  id: string;
  /** from the stream id, UTC ISO 8601 with milliseconds */
  time: string;
  type: string;
  fields: Record<string, string>;
}

/** An event for --json (one JSON object per line). */
export function eventJson(ev: StreamEvent): EventJson {
  return { id: ev.id, time: new Date(streamIdTime(ev.id)).toISOString(), type: ev.type, fields: ev.fields };
}
