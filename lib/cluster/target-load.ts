import type { Logger } from '../logger';
import type { CapacityStore } from '../store/capacity-store';
import { Refresher } from '../store/refresher';

/**
 * One instance's view of every target's load (`active` + reservations, cluster-wide), for the
 * least-loaded strategy: read from Redis in the background every `refreshMs`, never on the call path.
 * When Redis is unreachable the last view is kept.
 */
export class TargetLoad {
  private view: ReadonlyMap<string, number> = new Map();
  private readonly refresher = new Refresher(
    () => this.store.available,
    (err) => this.logger.debug({ err }, 'could not refresh target loads from redis; keeping the current view'),
  );

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
    this.refresher.start(this.refreshMs, () => this.read());
  }

  stop(): void {
    this.refresher.stop();
  }

  refresh(): Promise<void> {
    return this.refresher.run(() => this.read());
  }

  private async read(): Promise<void> {
    this.view = await this.store.loads(this.targetIds());
  }
}
