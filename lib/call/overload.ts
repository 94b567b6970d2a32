/**
 * Overload control: whether this instance takes one more call, decided before any work is spent on it
 * (no Redis, no target tried), so that the calls it does accept keep normal set-up times. Three signals,
 * each with its own limit (0 = off):
 *
 * - calls being set up at once on this instance that no target has answered yet, not even with a
 *   provisional response (`maxSettingUp`; ringing calls do not count: CallRegistry.waiting);
 * - new calls per second on this instance (`maxCps`, a token bucket of one second's worth);
 * - the event loop falling behind (`maxEventLoopDelayMs`, the p99 delay of the last sample window;
 *   overloaded from above the limit until a window below half of it, so it does not flap).
 *
 * The decision is pure given its inputs (`now`, the counts, the sampled delay); the sampling of the
 * event loop lives in `EventLoopMonitor`, the only part that touches the runtime.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export type OverloadCause = 'setting-up' | 'cps' | 'event-loop';

export interface OverloadLimits {
  /** calls being set up at once on this instance; 0 = no limit */
  maxSettingUp: number;
  /** new calls per second on this instance; 0 = no limit */
  maxCps: number;
  /** p99 event-loop delay (ms) over the last sample window above which new calls are refused; 0 = off */
  maxEventLoopDelayMs: number;
}

/** A token bucket holding up to `rate` tokens, refilled at `rate` per second: at most `rate` calls in any second, bursts included. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.last = now;
  }

  /** Takes a token if there is one. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.rate, this.tokens + (elapsed * this.rate) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * The event-loop part of the state, with hysteresis: overloaded once a window's delay is above the
 * limit, and again admitting once a window's delay is below half of it.
 */
export function eventLoopOverloaded(wasOverloaded: boolean, delayMs: number, limitMs: number): boolean {
  if (limitMs <= 0) return false;
  return wasOverloaded ? delayMs >= limitMs / 2 : delayMs > limitMs;
}

/** What the guard reports when its state changes: one log line and one count per episode, not per call. */
export interface OverloadChange {
  overloaded: boolean;
  cause: OverloadCause;
  /** calls refused during the episode that just ended (on the way back only) */
  refused?: number;
}

/**
 * An episode ends at the first call taken this long after its last refusal: a limit hovering at its
 * threshold (every other call refused) stays one episode, one warning and one "over" line, not one pair
 * per refusal.
 */
export const EPISODE_QUIET_MS = 1000;

/**
 * The admission decision. `admit()` is called once per new INVITE; it returns undefined to take the
 * call, or the cause of refusing it. `onChange` is called when the guard starts refusing (with the
 * first cause) and when it takes calls again (with the number refused meanwhile).
 */
export class OverloadGuard {
  private readonly bucket?: TokenBucket;
  private loopOverloaded = false;
  private episode?: { cause: OverloadCause; refused: number; lastRefusedAt: number };
  /** calls refused since start, by cause */
  readonly refused: Record<OverloadCause, number> = { 'setting-up': 0, cps: 0, 'event-loop': 0 };

  constructor(
    private readonly limits: OverloadLimits,
    private readonly onChange: (change: OverloadChange) => void,
    now = Date.now(),
  ) {
    if (limits.maxCps > 0) this.bucket = new TokenBucket(limits.maxCps, now);
  }

  get overloaded(): boolean {
    return this.episode !== undefined;
  }

  /**
   * Whether the instance is under sustained pressure now (event loop behind, or maxSettingUp reached),
   * read without taking a call: what readiness reports. The cps limit is a rate, not a state, so it is
   * left out; an episode that saw no INVITE since does not count either.
   */
  underPressure(settingUp: number): boolean {
    return this.loopOverloaded || (this.limits.maxSettingUp > 0 && settingUp >= this.limits.maxSettingUp);
  }

  /** Feeds one event-loop delay sample (the p99 of a window, in ms). */
  sampleEventLoop(delayMs: number): void {
    this.loopOverloaded = eventLoopOverloaded(this.loopOverloaded, delayMs, this.limits.maxEventLoopDelayMs);
  }

  admit(settingUp: number, now = Date.now()): OverloadCause | undefined {
    const cause = this.cause(settingUp, now);
    if (cause === undefined) {
      if (this.episode && now - this.episode.lastRefusedAt >= EPISODE_QUIET_MS) {
        const { cause: was, refused } = this.episode;
        this.episode = undefined;
        this.onChange({ overloaded: false, cause: was, refused });
      }
      return undefined;
    }
    this.refused[cause] += 1;
    if (this.episode) {
      this.episode.refused += 1;
      this.episode.lastRefusedAt = now;
    } else {
      this.episode = { cause, refused: 1, lastRefusedAt: now };
      this.onChange({ overloaded: true, cause });
    }
    return cause;
  }

  private cause(settingUp: number, now: number): OverloadCause | undefined {
    if (this.loopOverloaded) return 'event-loop';
    if (this.limits.maxSettingUp > 0 && settingUp >= this.limits.maxSettingUp) return 'setting-up';
    // last, so a call refused for another reason does not spend a token
    if (this.bucket && !this.bucket.take(now)) return 'cps';
    return undefined;
  }
}

/** Samples the event loop's delay every `windowMs` and hands the window's p99 (ms) to `onSample`. */
export class EventLoopMonitor {
  private readonly histogram: IntervalHistogram;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly windowMs: number,
    private readonly onSample: (p99Ms: number) => void,
  ) {
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
  }

  start(): void {
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.onSample(this.histogram.percentile(99) / 1e6);
      this.histogram.reset();
    }, this.windowMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
