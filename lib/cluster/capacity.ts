import type { Logger } from '../logger';
import type { CapacityLimit, CapacityLimits, CapacityStore } from '../store/capacity-store';

/** A target as the capacity check needs it: its id and its configured limits. */
export interface LimitedTarget extends CapacityLimits {
  readonly id: string;
}

/** Room taken at one target for one attempt: released if the attempt does not become the call, or turned into its `active` slot. */
export interface Reservation {
  readonly targetId: string;
  /** the member in `<prefix>target:<id>:reserved`; '' when it was taken by this instance alone (Redis unreachable) */
  readonly id: string;
  /** whether this instance's own count holds it (targets with a limit) */
  readonly local: boolean;
}

/** Added to the ring timeout for how long a reservation lives in Redis if its instance dies mid-setup. */
export const RESERVATION_MARGIN_MS = 30000;
/** The ring time a reservation covers when `ringTimeoutS` is 0 (no limit: the INVITE ends at Timer C, about 3 minutes). */
export const UNLIMITED_RING_MS = 180000;

/** Whether a target has a limit, and so needs a reservation (a Redis round trip) before its INVITE. */
export function isLimited(t: CapacityLimits): boolean {
  return (t.maxCalls ?? 0) > 0 || (t.maxCps ?? 0) > 0;
}

/** How long a reservation lives in Redis: the longest its attempt can ring, plus a margin. */
export function reservationHoldMs(ringTimeoutS: number): number {
  return (ringTimeoutS > 0 ? ringTimeoutS * 1000 : UNLIMITED_RING_MS) + RESERVATION_MARGIN_MS;
}

/**
 * Capacity per target (`maxCalls`, `maxCps`), counted for the whole cluster in Redis: a reservation is
 * taken by one script just before each INVITE to a limited target, released when the attempt fails, and
 * turned into the call's `active` slot when it is answered (RECORD_ANSWERED). Targets without limits
 * cost nothing here.
 *
 * Redis unreachable (not connected, or the script failed): fail open. The decision is made against this
 * instance's own count of its calls and attempts at the target (kept at all times, so it is right when
 * Redis goes), so calls go on and each instance alone stays within the limits; the cluster as a whole
 * may then exceed them up to the number of instances times. One warning when this starts, one line
 * when Redis takes over again.
 */
export class Capacity {
  /** this instance's calls being set up or answered, per limited target */
  private readonly held = new Map<string, number>();
  /** this instance's INVITE send times (epoch ms) of the last second, per target with maxCps */
  private readonly starts = new Map<string, number[]>();
  private localMode = false;

  constructor(
    private readonly store: CapacityStore,
    private readonly logger: Logger,
  ) {}

  /**
   * Room for one INVITE at `target`, or `{ full }` with the limit that refused it (skip the target).
   * `reservationId` must be unique per attempt. Never rejects.
   */
  async reserve(target: LimitedTarget, reservationId: string, holdMs: number, log: Logger = this.logger): Promise<Reservation | { full: CapacityLimit }> {
    if (!isLimited(target)) return { targetId: target.id, id: '', local: false };
    if (this.store.available) {
      try {
        const r = await this.store.reserve(target.id, reservationId, target, holdMs);
        this.redisBack();
        if (r.kind === 'full') {
          if (r.transition === 'full')
            log.warn(
              { code: 'B2B_WARN_TARGET_FULL', target: target.id, limit: r.limit, max: r.limit === 'calls' ? target.maxCalls : target.maxCps, load: r.load },
              'target full: skipped by new calls until it has room',
            );
          return { full: r.limit };
        }
        if (r.transition === 'free') this.logFree(target.id, r.load, log);
        this.take(target);
        return { targetId: target.id, id: reservationId, local: true };
      } catch (err) {
        this.toLocal(err);
      }
    } else this.toLocal(undefined);
    const limit = this.localRefusal(target);
    if (limit) {
      log.debug({ target: target.id, limit }, 'target full by this instance alone (redis unreachable); skipped');
      return { full: limit };
    }
    this.take(target);
    return { targetId: target.id, id: '', local: true };
  }

  /** The attempt did not become the call (failed, cancelled, timed out, or its caller leg could not be answered). Never rejects. */
  release(r: Reservation, log: Logger = this.logger): void {
    if (!r.local) return;
    this.drop(r.targetId);
    this.releaseInRedis(r.targetId, r.id, log);
  }

  /** An answered call at a limited target ended (its `active` slot went with END_CALL). Never rejects. */
  ended(target: LimitedTarget, log: Logger = this.logger): void {
    if (!isLimited(target)) return;
    this.drop(target.id);
    if ((target.maxCalls ?? 0) > 0) this.releaseInRedis(target.id, '', log);
  }

  /** This instance's own count of calls at a target (being set up or answered). */
  heldHere(targetId: string): number {
    return this.held.get(targetId) ?? 0;
  }

  private releaseInRedis(targetId: string, id: string, log: Logger): void {
    if (!this.store.available) return; // a reservation left in Redis expires on its own
    this.store
      .release(targetId, id)
      .then(({ freed }) => {
        if (freed) this.logFree(targetId, undefined, log);
      })
      .catch((err: unknown) => log.debug({ err, target: targetId }, 'could not release a capacity reservation in redis; it expires on its own'));
  }

  private logFree(targetId: string, load: number | undefined, log: Logger): void {
    log.info({ target: targetId, load }, 'target has room again: back in selection');
  }

  private take(target: LimitedTarget): void {
    this.held.set(target.id, this.heldHere(target.id) + 1);
    if ((target.maxCps ?? 0) > 0) {
      const list = this.recentStarts(target.id, Date.now());
      list.push(Date.now());
    }
  }

  private drop(targetId: string): void {
    const n = this.heldHere(targetId) - 1;
    if (n > 0) this.held.set(targetId, n);
    else this.held.delete(targetId);
  }

  private recentStarts(targetId: string, now: number): number[] {
    const list = (this.starts.get(targetId) ?? []).filter((t) => t > now - 1000);
    this.starts.set(targetId, list);
    return list;
  }

  private localRefusal(target: LimitedTarget): CapacityLimit | undefined {
    if ((target.maxCalls ?? 0) > 0 && this.heldHere(target.id) >= (target.maxCalls ?? 0)) return 'calls';
    if ((target.maxCps ?? 0) > 0 && this.recentStarts(target.id, Date.now()).length >= (target.maxCps ?? 0)) return 'cps';
    return undefined;
  }

  private toLocal(err: unknown): void {
    if (this.localMode) return;
    this.localMode = true;
    this.logger.warn(
      { code: 'B2B_WARN_CAPACITY_LOCAL', err },
      'redis unreachable: target capacity is counted by this instance alone (each instance keeps within maxCalls/maxCps; the cluster may exceed them) until it is back',
    );
  }

  private redisBack(): void {
    if (!this.localMode) return;
    this.localMode = false;
    this.logger.info('redis reachable again: target capacity is counted for the whole cluster again');
  }
}
