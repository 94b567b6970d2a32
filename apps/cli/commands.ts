/**
 * The read-only commands: status, calls, events. Each reads through the stores, formats with
 * lib/cli and writes through the context.
 */
import { callRows, renderCalls, type CallFilter } from '../../lib/cli/calls';
import { EXIT, type ExitCode } from '../../lib/cli/exit';
import { eventJson, formatEventLine } from '../../lib/cli/format';
import { buildStatus, renderStatus } from '../../lib/cli/status';
import type { StreamEvent } from '../../lib/store/cluster-store';
import { io, type CliContext } from './context';

export async function status(ctx: CliContext, json: boolean): Promise<ExitCode> {
  const views = await io(ctx.cluster.instances());
  const ids = await io(ctx.store.targetIds());
  const targets = await io(Promise.all(ids.map(async (id) => ({ id, ...(await ctx.store.targetCounters(id)) }))));
  const report = buildStatus(views, targets);
  ctx.out(json ? JSON.stringify(report, null, 2) : renderStatus(report, ctx.now(), ctx.colour));
  return EXIT.OK;
}

export async function calls(ctx: CliContext, filter: CallFilter, json: boolean): Promise<ExitCode> {
  const rows = callRows(await io(ctx.store.liveCalls()), filter, ctx.now());
  ctx.out(json ? JSON.stringify(rows, null, 2) : renderCalls(rows, ctx.colour));
  return EXIT.OK;
}

export interface EventsOptions {
  count: number;
  follow: boolean;
  json: boolean;
  /** --follow: how long each XREAD blocks (below the connection's command timeout) */
  blockMs: number;
}

/** The last `count` events; with `follow`, then every new one until the process is stopped. */
export async function events(ctx: CliContext, opts: EventsOptions): Promise<ExitCode> {
  const print = (ev: StreamEvent): void => ctx.out(opts.json ? JSON.stringify(eventJson(ev)) : formatEventLine(ev));
  const recent = await io(ctx.cluster.recentEvents(opts.count));
  recent.forEach(print);
  if (!opts.follow) {
    if (recent.length === 0 && !opts.json) ctx.err('no events');
    return EXIT.OK;
  }
  // from the newest event read (or the newest there is): what XREAD from "$" gives, without missing
  // an event added between the two reads
  let last = recent.at(-1)?.id ?? (await io(ctx.cluster.lastEventId()));
  for (;;) {
    for (const ev of await io(ctx.cluster.eventsAfter(last, opts.blockMs))) {
      print(ev);
      last = ev.id;
    }
  }
}
