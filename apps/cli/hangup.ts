/**
 * `sip-dispatcher hangup`: ask the owner of a call to end it, over its control channel, and wait for
 * the record to go. The owner can change meanwhile (a survivor adopts a dead owner's calls), so the
 * record is read again on every round and the request follows it.
 */
import { CliError, EXIT, type ExitCode } from '../../lib/cli/exit';
import { io, type CliContext } from './context';

export interface HangupOptions {
  /** how long to wait for the record to disappear */
  waitMs: number;
  /** hang up every call whose Call-ID matches, rather than refuse an ambiguous Call-ID */
  all: boolean;
  /** how often the record is read again (default 200 ms) */
  pollMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The call keys `call` names: itself when it is a recorded call key, else the calls with that Call-ID. */
async function resolveKeys(ctx: CliContext, call: string, all: boolean): Promise<string[]> {
  if (await io(ctx.store.getLiveCall(call))) return [call];
  const keys = await io(ctx.store.keysOfCallId(call));
  if (keys.length === 0) throw new CliError(`hangup: no live call with Call-ID or call key "${call}"`, EXIT.NOT_FOUND);
  if (keys.length > 1 && !all) {
    throw new CliError(
      `hangup: Call-ID "${call}" matches ${keys.length} calls:\n${keys.map((k) => `  ${k}`).join('\n')}\n` +
        'give one call key (sip-dispatcher hangup "<key>"), or --all to hang up every one',
      EXIT.USAGE,
    );
  }
  return keys;
}

/** Whether the call's record is gone by the deadline. */
async function hangupOne(ctx: CliContext, key: string, opts: HangupOptions): Promise<boolean> {
  const deadline = ctx.now() + opts.waitMs;
  const pollMs = opts.pollMs ?? 200;
  let deliveredTo: string | undefined;
  let warned = false;
  for (;;) {
    const rec = await io(ctx.store.getLiveCall(key));
    if (!rec) {
      ctx.out(`hung up ${key}${deliveredTo ? ` (by ${deliveredTo})` : ' (it had ended)'}`);
      return true;
    }
    // once per owner: a survivor that adopts the call (a new owner) gets the request again
    if (deliveredTo !== rec.instance) {
      const receivers = await io(ctx.cluster.publish(rec.instance, { action: 'hangup', key }));
      if (receivers > 0) deliveredTo = rec.instance;
      else if (!warned) {
        warned = true;
        ctx.err(`${key}: owner ${rec.instance} is not listening (dead, and its calls not adopted yet?); retrying for up to ${opts.waitMs / 1000} s`);
      }
    }
    const left = deadline - ctx.now();
    if (left <= 0) {
      ctx.err(
        deliveredTo === rec.instance
          ? `${key}: ${rec.instance} got the hangup but the call is still recorded after ${opts.waitMs / 1000} s`
          : `${key}: not hung up within ${opts.waitMs / 1000} s: its owner ${rec.instance} is not listening (dead, and no survivor has adopted its calls)`,
      );
      return false;
    }
    await sleep(Math.min(pollMs, left));
  }
}

/** Exit 0 when every matching call is gone, 1 none found, 2 one still up at the deadline, 64 ambiguous Call-ID. */
export async function hangup(ctx: CliContext, call: string, opts: HangupOptions): Promise<ExitCode> {
  const keys = await resolveKeys(ctx, call, opts.all);
  const gone = await Promise.all(keys.map((key) => hangupOne(ctx, key, opts)));
  return gone.every(Boolean) ? EXIT.OK : EXIT.TIMEOUT;
}
