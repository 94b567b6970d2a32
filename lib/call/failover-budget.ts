/**
 * A failover budget (pure; the clock is passed in): failovers, the attempts after a call's first,
 * may be at most `percent` of this instance's new calls over the last `windowS` seconds, and never
 * fewer than `minPerS` a second on average (so a quiet instance can still fail over). It is the retry
 * budget of Envoy, Finagle and gRPC: when every target is slow because the whole pool (or this
 * machine) is overloaded, each failed attempt would otherwise become up to `maxAttempts` INVITEs and
 * the overload several times worse. A dead target among live ones costs a few failovers before health
 * takes it out, well inside the budget.
 */
export interface FailoverBudgetConfig {
  /** failovers allowed, as a percentage of new calls in the window */
  readonly percent: number;
  /** failovers always allowed per second of the window, whatever the call count */
  readonly minPerS: number;
}

/** The window the budget is counted over, in one-second buckets. */
export const BUDGET_WINDOW_S = 10;

export class FailoverBudget {
  private readonly calls = new Array<number>(BUDGET_WINDOW_S).fill(0);
  private readonly failovers = new Array<number>(BUDGET_WINDOW_S).fill(0);
  /** the second (epoch s) the bucket at `second % BUDGET_WINDOW_S` was last used for */
  private readonly secondOf = new Array<number>(BUDGET_WINDOW_S).fill(-1);
  /** refused since the last failover allowed: an episode, reported once at each end */
  private spent = 0;

  constructor(
    private config: FailoverBudgetConfig,
    /** an episode of refused failovers began (`refused` 1) or ended (`refused`: how many it refused) */
    private readonly onEpisode: (state: 'spent' | 'recovered', refused: number) => void = () => undefined,
  ) {}

  /** New settings (a reload); the counts so far are kept. */
  configure(config: FailoverBudgetConfig): void {
    this.config = config;
  }

  /** A new call reached target selection. */
  noteCall(nowMs: number): void {
    this.calls[this.bucket(nowMs)] += 1;
  }

  /** Whether one more failover fits the budget now; counts it when it does. */
  tryFailover(nowMs: number): boolean {
    const b = this.bucket(nowMs);
    const sum = (xs: number[]): number => xs.reduce((a, x) => a + x, 0);
    const allowed = Math.max(this.config.minPerS * BUDGET_WINDOW_S, (sum(this.calls) * this.config.percent) / 100);
    if (sum(this.failovers) + 1 > allowed) {
      this.spent += 1;
      if (this.spent === 1) this.onEpisode('spent', 1);
      return false;
    }
    if (this.spent > 0) this.onEpisode('recovered', this.spent);
    this.spent = 0;
    this.failovers[b] += 1;
    return true;
  }

  /** The bucket of `nowMs`, emptied first when it last held an older second. */
  private bucket(nowMs: number): number {
    const second = Math.floor(nowMs / 1000);
    const b = second % BUDGET_WINDOW_S;
    if (this.secondOf[b] !== second) {
      // buckets of seconds that passed without a call or failover are stale as well
      for (let i = 0; i < BUDGET_WINDOW_S; i += 1) {
        if (this.secondOf[i] !== -1 && second - this.secondOf[i] >= BUDGET_WINDOW_S) {
          this.calls[i] = 0;
          this.failovers[i] = 0;
          this.secondOf[i] = -1;
        }
      }
      this.calls[b] = 0;
      this.failovers[b] = 0;
      this.secondOf[b] = second;
    }
    return b;
  }
}
