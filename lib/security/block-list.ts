import type { Logger } from '../logger';
import type { BlockStore } from '../store/block-store';
import { Refresher } from '../store/refresher';

/**
 * This instance's view of the cluster's source block list, in memory so admission never waits on
 * Redis: read every `refreshMs` (and blocks that ran out released, once for the cluster), and updated
 * at once when this instance blocks a source itself. With Redis away, local blocks still apply.
 */
export class BlockList {
  private view = new Map<string, number>();
  private readonly refresher = new Refresher(
    () => this.store.available,
    (err) => this.logger.debug({ err }, 'could not refresh the source block list from redis; keeping the current one'),
  );

  constructor(
    private readonly store: BlockStore,
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.refresher.start(this.refreshMs, () => this.read(Date.now()));
  }

  stop(): void {
    this.refresher.stop();
  }

  /** Whether `address` is blocked now (a block whose end has passed no longer counts). */
  isBlocked(address: string, now = Date.now()): boolean {
    const until = this.view.get(address);
    return until !== undefined && until > now;
  }

  /** Blocks `address` for the cluster until `until`; logs once when the block is new. Never throws. */
  block(address: string, until: number, cause: string): void {
    if ((this.view.get(address) ?? 0) >= until) return;
    this.view.set(address, until);
    this.logger.warn(
      { code: 'B2B_WARN_SOURCE_BLOCKED', source: address, until: new Date(until).toISOString(), cause },
      'source blocked: its calls are refused',
    );
    this.store.block(address, until, cause).catch((err: unknown) => {
      this.logger.debug({ err, source: address }, 'could not write the block to redis; it applies on this instance only');
    });
  }

  refresh(now = Date.now()): Promise<void> {
    return this.refresher.run(() => this.read(now));
  }

  private async read(now: number): Promise<void> {
    for (const address of await this.store.releaseExpired(now)) this.logger.info({ source: address }, 'source block ended');
    const next = await this.store.list(now);
    // a block written here after the read began is kept
    for (const [address, until] of this.view) if (until > now && (next.get(address) ?? 0) < until) next.set(address, until);
    this.view = next;
  }
}
