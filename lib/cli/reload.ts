/**
 * `sip-dispatcher reload`, the pure part: each instance's answer (its `config-reloaded` or
 * `config-refused` event) turned into one report line, and the exit code of the whole.
 */
import type { StreamEvent } from '../store/cluster-store';
import { EXIT, type ExitCode } from './exit';

export type ReloadOutcome =
  | { instance: string; result: 'reloaded'; applied: string[]; ignored: string[] }
  | { instance: string; result: 'refused'; code: string; error: string }
  | { instance: string; result: 'no answer' | 'not listening' };

const list = (text: string | undefined): string[] => (text ? text.split(',').filter(Boolean) : []);

/** The answer an event gives for `request`, or undefined when the event is not one. */
export function reloadAnswer(ev: StreamEvent, request: string): ReloadOutcome | undefined {
  if (ev.fields.request !== request || !ev.fields.instance) return undefined;
  if (ev.type === 'config-reloaded')
    return { instance: ev.fields.instance, result: 'reloaded', applied: list(ev.fields.applied), ignored: list(ev.fields.ignored) };
  if (ev.type === 'config-refused') return { instance: ev.fields.instance, result: 'refused', code: ev.fields.code ?? '', error: ev.fields.error ?? '' };
  return undefined;
}

/** One block per instance: `node-a: reloaded (applied: routes, call; ignored until restart: redis)`, or the refusal with its errors. */
export function renderReload(outcomes: readonly ReloadOutcome[]): string {
  return outcomes
    .map((o) => {
      switch (o.result) {
        case 'reloaded': {
          const applied = o.applied.length > 0 ? `applied: ${o.applied.join(', ')}` : 'nothing changed';
          const ignored = o.ignored.length > 0 ? `; ignored until restart: ${o.ignored.join(', ')}` : '';
          return `${o.instance}: reloaded (${applied}${ignored})`;
        }
        case 'refused':
          return `${o.instance}: refused, the running config keeps serving: ${o.code}\n${o.error
            .split('\n')
            .map((l) => `  ${l}`)
            .join('\n')}`;
        case 'no answer':
          return `${o.instance}: no answer in time (is it overloaded, or an older version without reload?)`;
        case 'not listening':
          return `${o.instance}: not listening (dead?)`;
      }
    })
    .join('\n');
}

/** 0 every instance reloaded; 3 one refused the new config; 2 one did not answer in time (or was not listening). */
export function reloadExitCode(outcomes: readonly ReloadOutcome[]): ExitCode {
  if (outcomes.some((o) => o.result === 'refused')) return EXIT.REFUSED;
  if (outcomes.some((o) => o.result === 'no answer' || o.result === 'not listening')) return EXIT.TIMEOUT;
  return EXIT.OK;
}
