import { EventEmitter } from 'node:events';

/** Something the registry can ask to end: an answered or setting-up call. */
export interface Endable {
  readonly callId: string;
  end(reason: string): Promise<void>;
}

/**
 * The calls this instance is handling, for drain on SIGTERM. Emits 'empty' when the last one leaves.
 */
export class CallRegistry extends EventEmitter {
  private readonly calls = new Map<string, Endable>();
  private draining = false;

  get size(): number {
    return this.calls.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  add(call: Endable): void {
    this.calls.set(call.callId, call);
  }

  remove(call: Endable): void {
    if (this.calls.get(call.callId) === call && this.calls.delete(call.callId) && this.calls.size === 0) this.emit('empty');
  }

  /** Stops admitting calls; resolves when none is left or after timeoutMs, with the number still active. */
  async drain(timeoutMs: number): Promise<number> {
    this.draining = true;
    if (this.calls.size === 0) return 0;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.removeListener('empty', onEmpty);
        resolve(this.calls.size);
      }, timeoutMs);
      const onEmpty = (): void => {
        clearTimeout(timer);
        resolve(0);
      };
      this.once('empty', onEmpty);
    });
  }

  all(): Endable[] {
    return [...this.calls.values()];
  }
}
