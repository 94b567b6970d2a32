import { EventEmitter } from 'node:events';
import type { CallRecord } from '../store/call-store';

/** Something the registry can ask to end: an answered or setting-up call. */
export interface Endable {
  /** what identifies the call: the caller's Call-ID and From tag (call-record.ts `callKey`) */
  readonly key: string;
  /** the call's Redis record once it is answered (written back after a Redis outage) */
  readonly record?: CallRecord;
  /** shutdown: BYE if answered, else 503 to the caller; operator: BYE if answered (false when not answered) */
  end(reason: 'shutdown' | 'operator'): Promise<boolean>;
}

/**
 * The calls this instance is handling, by call key, for merged-request detection and for drain on
 * SIGTERM. Emits 'empty' when the last one leaves.
 */
export class CallRegistry extends EventEmitter {
  private readonly calls = new Map<string, Endable>();
  private readonly answeredCalls = new Set<Endable>();
  /** calls being set up whose target has sent a provisional response (100 Trying, 18x) */
  private readonly heardCalls = new Set<Endable>();
  private draining = false;

  get size(): number {
    return this.calls.size;
  }

  /** Calls here that are not answered yet: being set up (admission's overload limit counts these). */
  get settingUp(): number {
    return this.calls.size - this.answeredCalls.size;
  }

  /**
   * Calls being set up that no target has answered yet, not even provisionally: the work piling up
   * when targets (or this machine) fall behind. Ringing calls are not among them: a call can ring for
   * a minute at no cost, so a limit on them would refuse calls for being slow to be picked up.
   */
  get waiting(): number {
    // heardCalls never holds an answered call (answered() takes it out)
    return this.calls.size - this.answeredCalls.size - this.heardCalls.size;
  }

  /** Marks a call answered (it no longer counts as being set up). */
  answered(call: Endable): void {
    if (this.calls.get(call.key) === call) this.answeredCalls.add(call);
    this.heardCalls.delete(call);
  }

  /** A target sent this call a provisional response: it no longer counts as waiting. */
  heard(call: Endable): void {
    if (this.calls.get(call.key) === call && !this.answeredCalls.has(call)) this.heardCalls.add(call);
  }

  get isDraining(): boolean {
    return this.draining;
  }

  has(key: string): boolean {
    return this.calls.has(key);
  }

  get(key: string): Endable | undefined {
    return this.calls.get(key);
  }

  /** Adds a call; false (and nothing added) when a call with the same key is already here. */
  add(call: Endable): boolean {
    if (this.calls.has(call.key)) return false;
    this.calls.set(call.key, call);
    return true;
  }

  remove(call: Endable): void {
    this.answeredCalls.delete(call);
    this.heardCalls.delete(call);
    if (this.calls.get(call.key) === call && this.calls.delete(call.key) && this.calls.size === 0) this.emit('empty');
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
