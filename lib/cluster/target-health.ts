import type { Config } from '../config/schema';
import type { Logger } from '../logger';
import type { AttemptOutcome } from '../call/failover';
import { healthSignal, isUsable, NO_END, type TargetState } from '../routing/health';
import type { HealthStore } from '../store/health-store';
import { Refresher } from '../store/refresher';

/**
 * One instance's view of the target states (quarantined, down), kept in memory so a call never waits
 * on Redis to pick its targets: refreshed from Redis every `health.refreshMs`, and updated at once when
 * this instance itself changes a state. Attempt outcomes are reported here after the fact; the Redis
 * writes they cause run in the background.
 */
export class TargetHealth {
  private view = new Map<string, TargetState>();
  /** when this instance last set each target's state itself (epoch ms) */
  private readonly localAt = new Map<string, number>();
  private readonly refresher = new Refresher(
    () => this.store.available,
    (err) => this.logger.debug({ err }, 'could not refresh target states from redis; keeping the current view'),
  );
  /** routes whose last call found them in panic (lib/routing/health.ts selectableTargets) */
  private readonly panicking = new Set<string>();

  constructor(
    private readonly store: HealthStore,
    private health: Omit<Config['health'], 'probe'>,
    /** every configured target id, the ones whose state is read (a function: a reload or DNS may change them) */
    private readonly targetIds: () => readonly string[],
    private readonly logger: Logger,
    /** whether probes watch this target now (health.probe): a passive down then lasts until they bring it back */
    private readonly probed: (targetId: string) => boolean = () => false,
    /** whether this instance is the one that logs an operator's drain/undrain of the target (it holds its probe lease) */
    private readonly leads: (targetId: string) => boolean = () => false,
  ) {}

  /** The states this instance knows; a state whose `until` has passed no longer counts (see isUsable). */
  get states(): ReadonlyMap<string, TargetState> {
    return this.view;
  }

  /** One warning when a route enters panic mode and one line when it leaves it (seen by its calls). */
  notePanic(route: string, panic: boolean, targets: readonly { readonly id: string }[]): void {
    if (panic === this.panicking.has(route)) return;
    if (panic) {
      this.panicking.add(route);
      this.logger.warn(
        { code: 'B2B_WARN_ROUTE_PANIC', route, targets: targets.map((t) => t.id), belowPercent: this.health.panicBelowPercent },
        'route in panic: too few targets up, so the ones marked down are tried as well',
      );
    } else {
      this.panicking.delete(route);
      this.logger.info({ route }, 'route out of panic: enough targets up again');
    }
  }

  start(): void {
    this.refresher.start(this.health.refreshMs, () => this.read(Date.now()));
  }

  stop(): void {
    this.refresher.stop();
  }

  /** New health settings (a config reload): used from the next attempt report and refresh on. */
  configure(health: Config['health']): void {
    const restart = this.refresher.started && health.refreshMs !== this.health.refreshMs;
    this.health = health;
    if (restart) this.start();
  }

  /** Reads every target's state from Redis into the view, and announces (once for the cluster) the targets whose state ran out. */
  refresh(now = Date.now()): Promise<void> {
    return this.refresher.run(() => this.read(now));
  }

  private async read(now: number): Promise<void> {
    const stored = await this.store.states(this.targetIds());
    const next = new Map<string, TargetState>();
    for (const [id, s] of stored) {
      next.set(id, { state: s.state, until: s.until, cause: s.cause });
      if (s.until <= now && !s.up) {
        const left = await this.store.announceUp(id, now);
        if (left) this.logger.info({ target: id, was: left.was, cause: left.cause }, 'target back up: in selection again');
      }
    }
    this.logDrains(next);
    // a state this instance wrote may not be readable yet (written after the read began): keep the later one
    // (a state with no end only for a while: it ends in Redis, by probes or an operator, not here)
    for (const [id, s] of this.view) {
      if (isUsable(s, now) || (next.get(id)?.until ?? 0) >= s.until) continue;
      if (s.until >= NO_END && now - (this.localAt.get(id) ?? 0) > 2 * this.health.refreshMs) continue;
      next.set(id, s);
    }
    this.view = next;
  }

  /** What one attempt said about its target; `retryAfter` is its final response's Retry-After, if any. Never throws. */
  report(targetId: string, outcome: AttemptOutcome, retryAfter: string | undefined): void {
    const signal = healthSignal(outcome, retryAfter, this.health.maxQuarantineS);
    const now = Date.now();
    switch (signal.kind) {
      case 'quarantine': {
        const until = now + signal.seconds * 1000;
        this.setLocal(targetId, { state: 'quarantined', until, cause: signal.cause });
        this.store
          .setState(targetId, 'quarantined', until, signal.cause, now)
          .then((changed) => {
            if (changed)
              this.logger.warn(
                { code: 'B2B_WARN_TARGET_QUARANTINED', target: targetId, until: new Date(until).toISOString(), cause: signal.cause },
                'target quarantined: out of selection until it asked',
              );
          })
          .catch((err: unknown) => this.redisFailed(err, targetId));
        return;
      }
      case 'failure': {
        if (this.health.passiveFailures === 0) return;
        // a probed target stays down until the probes bring it back (-1: no end); otherwise for downS
        const probed = this.probed(targetId);
        this.store
          .countFailure(targetId, signal.label, this.health.passiveFailures, probed ? -1 : this.health.downS * 1000, now)
          .then((r) => {
            if (r.kind !== 'down') return;
            this.setLocal(targetId, { state: 'down', until: r.until, cause: r.cause });
            this.logger.warn(
              { code: 'B2B_WARN_TARGET_DOWN', target: targetId, until: r.until >= NO_END ? null : new Date(r.until).toISOString(), cause: r.cause },
              probed ? 'target marked down: out of selection until probes bring it back' : 'target marked down: out of selection for health.downS',
            );
          })
          .catch((err: unknown) => this.redisFailed(err, targetId));
        return;
      }
      case 'success':
        if (this.health.passiveFailures === 0) return;
        this.store.countSuccess(targetId).catch((err: unknown) => this.redisFailed(err, targetId));
        return;
      case 'none':
        return;
    }
  }

  /** One line per operator drain or undrain, from the instance that leads the target (its prober). */
  private logDrains(next: ReadonlyMap<string, TargetState>): void {
    for (const id of new Set([...this.view.keys(), ...next.keys()])) {
      const was = this.view.get(id)?.state === 'draining';
      const is = next.get(id)?.state === 'draining';
      if (was === is || !this.leads(id)) continue;
      if (is) this.logger.warn({ code: 'B2B_WARN_TARGET_DRAINED', target: id, cause: next.get(id)?.cause }, 'target drained: no new calls until undrained');
      else this.logger.info({ target: id, was: 'draining' }, 'target undrained: in selection again');
    }
  }

  private setLocal(targetId: string, state: TargetState): void {
    const cur = this.view.get(targetId);
    if (cur && cur.until >= state.until) return;
    this.localAt.set(targetId, Date.now());
    const next = new Map(this.view);
    next.set(targetId, state);
    this.view = next;
  }

  private redisFailed(err: unknown, targetId: string): void {
    if (this.store.available) this.logger.warn({ err, target: targetId }, 'could not write target health to redis');
    else this.logger.debug({ err, target: targetId }, 'could not write target health to redis');
  }
}
