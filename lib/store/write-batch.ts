import type { Redis } from 'ioredis';

/**
 * Gathers the call path's bookkeeping writes (call records, their end, attempt counters) for up to
 * `windowMs` and sends them to Redis in one socket write. None of them is awaited before the caller
 * hears anything, so the delay costs no set-up time; what it saves is a system call per command,
 * which on a small virtual machine costs about as much CPU as the command itself.
 *
 * `hold()` is called just before such a command is issued: the first one in a window corks the
 * connection's socket (ioredis writes each command to it at once), a timer uncorks it, and node
 * writes everything gathered with one writev. A command the call waits for (a capacity reservation)
 * calls `flush()` first; background reads and writes do neither and may wait for the window's end. A connection
 * replaced meanwhile (reconnect) ends the old window and starts a new one; `windowMs` 0 turns batching off.
 */
export class WriteBatch {
  private corked?: NonNullable<Redis['stream']>;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    readonly windowMs: number,
  ) {}

  hold(): void {
    if (this.windowMs <= 0) return;
    const socket = this.redis.stream;
    if (!socket || socket === this.corked || socket.destroyed || this.redis.status !== 'ready') return;
    // a connection replaced since (reconnect): its window ends now, the new one starts its own
    this.flush();
    this.corked = socket;
    socket.cork();
    this.timer = setTimeout(() => this.flush(), this.windowMs);
  }

  /** Sends what is gathered now: before a command the call is waiting for (a capacity reservation). */
  flush(): void {
    clearTimeout(this.timer);
    const socket = this.corked;
    this.corked = undefined;
    socket?.uncork();
  }
}
