/**
 * New calls per source address, like Kamailio's pike module: each source gets a window of one second;
 * more than `maxPerSecond` INVITEs in a window and the source is over its limit. Pure: `now` is passed
 * in. Memory is bounded by the sources seen in the last window (`prune` drops older ones).
 */
export class SourceRate {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly maxPerSecond: number) {}

  /** Counts one new call from `source`; true when that makes the source exceed its limit. */
  hit(source: string, now: number): boolean {
    if (this.maxPerSecond <= 0) return false;
    const w = this.windows.get(source);
    if (!w || now - w.start >= 1000) {
      this.windows.set(source, { start: now, count: 1 });
      return 1 > this.maxPerSecond;
    }
    w.count += 1;
    return w.count > this.maxPerSecond;
  }

  /** Forgets sources whose window ended before `now`. */
  prune(now: number): void {
    for (const [source, w] of this.windows) if (now - w.start >= 1000) this.windows.delete(source);
  }

  get size(): number {
    return this.windows.size;
  }
}
