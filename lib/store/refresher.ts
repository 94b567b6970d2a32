/**
 * The background half of an in-memory view of Redis (target health, target loads, the source block
 * list): reads now and every `intervalMs`, never two reads at once, none while the store is away, and
 * a failed read keeps the view as it was (reported to `onError`). The call path reads only the view.
 */
export class Refresher {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly available: () => boolean,
    private readonly onError: (err: unknown) => void,
  ) {}

  get started(): boolean {
    return this.timer !== undefined;
  }

  /** Reads now, then every `intervalMs` (the timer does not keep the process alive); a second start replaces the first. */
  start(intervalMs: number, read: () => Promise<void>): void {
    this.stop();
    void this.run(read);
    this.timer = setInterval(() => void this.run(read), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One read, unless one is still running or the store is away. Never rejects. */
  async run(read: () => Promise<void>): Promise<void> {
    if (this.running || !this.available()) return;
    this.running = true;
    try {
      await read();
    } catch (err) {
      this.onError(err);
    } finally {
      this.running = false;
    }
  }
}
