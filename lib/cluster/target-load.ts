import type { Logger } from '../logger';
import type { CapacityStore } from '../store/capacity-store';

/**
 * One instance's view of every target's load (`active` + reservations, cluster-wide), for the
 * least-loaded strategy: read from Redis in the background every `refreshMs`, never on the call path.
 * When Redis is unreachable the last view is kept.
 */
export class TargetLoad {
  private view: ReadonlyMap<string, number> = new Map();
  private timer?: NodeJS.Timeout;
  private refreshing = false;

  constructor(
    private readonly store: CapacityStore,
    private readonly refreshMs: number,
    /** the target ids whose load is read (a function: a reload or DNS may change them) */
    private readonly targetIds: () => readonly string[],
    private readonly logger: Logger,
  ) {}

  /** Load per target id as last read; a target not in it counts as 0. */
  get loads(): ReadonlyMap<string, number> {
    return this.view;
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    if (this.refreshing || !this.store.available) return;
    this.refreshing = true;
    try {
      this.view = await this.store.loads(this.targetIds());
    } catch (err) {
      this.logger.debug({ err }, 'could not refresh target loads from redis; keeping the current view');
    } finally {
      this.refreshing = false;
    }
  }
}
