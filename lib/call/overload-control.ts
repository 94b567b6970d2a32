import type { Config } from '../config/schema';
import type { Logger } from '../logger';
import { EventLoopMonitor, OverloadGuard, type OverloadChange } from './overload';

/** Where the refused count goes, once a second (lib/store/call-store.ts). */
interface Totals {
  readonly available: boolean;
  addToTotal(field: string, n: number): Promise<void>;
}

export interface OverloadControl {
  readonly guard: OverloadGuard;
  stop(): void;
}

/**
 * The I/O around the pure OverloadGuard: the event-loop sampler, the one log line per episode, and the
 * refused count added to the cluster totals once a second (one round trip, only when there is one).
 */
export function startOverloadControl(limits: Config['overload'], totals: Totals, logger: Logger): OverloadControl {
  const onChange = (c: OverloadChange): void => {
    if (c.overloaded) {
      const limit = { 'setting-up': limits.maxSettingUp, cps: limits.maxCps, 'event-loop': limits.maxEventLoopDelayMs }[c.cause];
      logger.warn({ code: 'B2B_WARN_ADMISSION_OVERLOAD', cause: c.cause, limit }, 'overloaded: refusing new calls with 503 until load drops');
    } else {
      logger.info({ cause: c.cause, refused: c.refused }, 'overload over: taking new calls again');
    }
  };
  const guard = new OverloadGuard(limits, onChange);
  const monitor = limits.maxEventLoopDelayMs > 0 ? new EventLoopMonitor(limits.sampleMs, (ms) => guard.sampleEventLoop(ms)) : undefined;
  monitor?.start();

  let flushed = 0;
  const flush = setInterval(() => {
    const total = guard.refused['setting-up'] + guard.refused.cps + guard.refused['event-loop'];
    if (total === flushed || !totals.available) return;
    const n = total - flushed;
    flushed = total;
    totals.addToTotal('refused:overload', n).catch((err: unknown) => {
      flushed -= n;
      logger.debug({ err }, 'could not add the overload count to redis; retrying next second');
    });
  }, 1000);
  flush.unref();

  return {
    guard,
    stop(): void {
      monitor?.stop();
      clearInterval(flush);
    },
  };
}
