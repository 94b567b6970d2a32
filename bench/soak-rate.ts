/**
 * The soak's default rate (npm run soak): 80 % of the dispatcher's top zero-failure rate in the newest
 * full bench result for the same drachtio kind. A run that tried the dispatcher with a trial setting
 * (`--set`, `--node-flag`) or with a profiler on does not count: its top is not the dispatcher as it ships.
 */
import fs from 'node:fs';
import path from 'node:path';

export const FALLBACK_RATE = 160;

interface BenchResultHead {
  startedAt?: string;
  drachtio?: string;
  mode?: { name?: string };
  headline?: { dispatcher?: number };
  notes?: string[];
  trial?: unknown;
}

/** Whether a bench result's top zero-failure rate speaks for the dispatcher as it ships. */
export function countsForSoak(r: BenchResultHead, kind: 'real' | 'emulator'): boolean {
  // `trial` since it was added; a result written before that says so only in its notes
  const trial = r.trial !== undefined || (r.notes ?? []).some((n) => /\((--set|--node-flag)\)$/.test(n));
  return r.mode?.name === 'full' && r.drachtio === kind && typeof r.headline?.dispatcher === 'number' && !!r.startedAt && !trial;
}

export function defaultRate(kind: 'real' | 'emulator', dirs: readonly string[]): { rate: number; source: string } {
  const found: { startedAt: string; top: number; file: string }[] = [];
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json') && !n.includes('-soak-'))) {
      try {
        const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as BenchResultHead;
        if (countsForSoak(r, kind))
          found.push({ startedAt: r.startedAt as string, top: r.headline?.dispatcher as number, file: path.relative(process.cwd(), path.join(dir, f)) });
      } catch {
        /* not a bench result */
      }
    }
  }
  found.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const newest = found.at(-1);
  if (!newest) return { rate: FALLBACK_RATE, source: `no full ${kind} bench result in bench/results: ${FALLBACK_RATE}/s` };
  return { rate: Math.floor(newest.top * 0.8), source: `80 % of ${newest.top}/s, the dispatcher's top zero-failure rate in ${newest.file}` };
}
