/**
 * The read-only commands: status, calls, events. Each reads through the stores, formats with
 * lib/cli and writes through the context.
 */
import { callRows, renderCalls, type CallFilter } from '../../lib/cli/calls';
import { EXIT, type ExitCode } from '../../lib/cli/exit';
import { eventJson, formatEventLine } from '../../lib/cli/format';
import { buildStatus, renderStatus, type TargetStateStatus } from '../../lib/cli/status';
import { NO_END } from '../../lib/routing/health';
import type { StreamEvent } from '../../lib/store/cluster-store';
import { io, type CliContext } from './context';

export async function status(ctx: CliContext, json: boolean): Promise<ExitCode> {
  const views = await io(ctx.cluster.instances());
  // targets with counters, and any with a state (e.g. drained before it took a call)
  const ids = [...new Set([...(await io(ctx.store.targetIds())), ...(await io(ctx.health.targetIdsWithState()))])];
  const states = await io(ctx.health.states(ids));
  const now = ctx.now();
  const targets = await io(
    Promise.all(
      ids.map(async (id) => {
        const s = states.get(id);
        const state: TargetStateStatus | null =
          s && s.until > now ? { state: s.state, until: s.until >= NO_END ? null : s.until, cause: s.cause, instance: s.instance, since: s.since } : null;
        return { id, ...(await ctx.store.targetCounters(id)), state };
      }),
    ),
  );
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

/** `drain-target <id>`: no new calls to the target, cluster-wide, until `undrain-target`; calls in progress go on. */
export async function drainTarget(ctx: CliContext, target: string): Promise<ExitCode> {
  const drained = await io(ctx.probe.drain(target));
  ctx.out(drained ? `${target}: drained (no new calls, cluster-wide; calls in progress go on)` : `${target}: already drained`);
  return EXIT.OK;
}

/** `undrain-target <id>`: the target is in selection again. */
export async function undrainTarget(ctx: CliContext, target: string): Promise<ExitCode> {
  const undrained = await io(ctx.probe.undrain(target));
  ctx.out(undrained ? `${target}: undrained (in selection again)` : `${target}: was not drained`);
  return EXIT.OK;
}
