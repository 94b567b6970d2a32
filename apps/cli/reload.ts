/**
 * `sip-dispatcher reload`: asks live instances, over their control channels, to re-read their config
 * file, then reads each one's answer from the event stream (`config-reloaded` / `config-refused`,
 * tagged with this request's id) until every one answered or --wait ran out.
 */
import { randomUUID } from 'node:crypto';
import { CliError, EXIT, type ExitCode } from '../../lib/cli/exit';
import { reloadAnswer, reloadExitCode, renderReload, type ReloadOutcome } from '../../lib/cli/reload';
import { io, type CliContext } from './context';

export interface ReloadOptions {
  instance?: string;
  waitMs: number;
  json: boolean;
  /** the longest one XREAD blocks (below the connection's command timeout) */
  blockMs: number;
}

export async function reload(ctx: CliContext, opts: ReloadOptions): Promise<ExitCode> {
  const alive = (await io(ctx.cluster.instances())).filter((v) => v.alive).map((v) => v.id);
  const ids = opts.instance === undefined ? alive : alive.filter((id) => id === opts.instance);
  if (ids.length === 0) {
    throw new CliError(opts.instance === undefined ? 'reload: no live instance' : `reload: no live instance "${opts.instance}"`, EXIT.NOT_FOUND);
  }
  const request = randomUUID();
  let last = await io(ctx.cluster.lastEventId());
  const outcomes = new Map<string, ReloadOutcome>();
  for (const id of ids) {
    if ((await io(ctx.cluster.publish(id, { action: 'reload', request }))) === 0) outcomes.set(id, { instance: id, result: 'not listening' });
  }
  const deadline = ctx.now() + opts.waitMs;
  while (ids.some((id) => !outcomes.has(id))) {
    const left = deadline - ctx.now();
    if (left <= 0) break;
    for (const ev of await io(ctx.cluster.eventsAfter(last, Math.max(1, Math.min(left, opts.blockMs))))) {
      last = ev.id;
      const answer = reloadAnswer(ev, request);
      if (answer && ids.includes(answer.instance)) outcomes.set(answer.instance, answer);
    }
  }
  const all = ids.map((id): ReloadOutcome => outcomes.get(id) ?? { instance: id, result: 'no answer' });
  ctx.out(opts.json ? JSON.stringify(all, null, 2) : renderReload(all));
  return reloadExitCode(all);
}
