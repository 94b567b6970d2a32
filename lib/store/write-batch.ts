import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { WRITE_BATCH, type BatchedWrite } from './scripts';

/** The script's SHA-1, as ioredis sends it (EVALSHA): its own resend after NOSCRIPT must not let later ops overtake it. */
const WRITE_BATCH_SHA = createHash('sha1').update(WRITE_BATCH).digest('hex');

interface Write {
  kind: BatchedWrite;
  keys: string[];
  args: string[];
  resolve(result: unknown): void;
  reject(err: Error): void;
}

/** One op's reply in a WRITE_BATCH: `[1, result]`, or `[0, error text]`. */
type OpReply = [number, unknown];

type BatchRedis = Redis & { sipdWriteBatch(ops: string): Promise<OpReply[]> };

/** The Redis connection's own sendCommand, which the batch wraps (see the constructor). */
type SendCommand = Redis['sendCommand'];

/**
 * Gathers the call path's bookkeeping writes (call records, their end, attempt counters) for up to
 * `windowMs` and sends them to Redis as one script in one socket write. None of them is awaited before
 * the caller hears anything, so the delay costs no set-up time; what it saves is the client's cost of a
 * command per write (ioredis builds, writes and parses each): about 7 % of the dispatcher's CPU per call
 * in the bench. redis-server's CPU per call did not change: it goes to the commands inside the scripts.
 *
 * `write()` queues one op (it runs as its own script would: WRITE_BATCH in lib/store/scripts.ts) and
 * resolves with its result when the window's script has run. The first op of a window corks the
 * connection's socket and starts a timer; when it fires, the ops go as one script and the socket is
 * uncorked. Order on the connection is kept as if each op had been sent when it was made: any other
 * command on this connection sends the ops gathered so far first (the connection's sendCommand is
 * wrapped), and the cork holds everything until the window ends, as it did when each op was its own
 * command. So a read after a write sees it, and a command the call waits for (a capacity reservation)
 * calls `flush()` to go at once. A connection replaced meanwhile (reconnect) ends the old window and
 * starts a new one; `windowMs` 0, or a connection that is not ready, turns batching off (`batching` false:
 * the caller sends its own command).
 */
export class WriteBatch {
  private corked?: NonNullable<Redis['stream']>;
  private timer?: NodeJS.Timeout;
  private ops: Write[] = [];
  private sending = false;

  constructor(
    private readonly redis: Redis,
    readonly windowMs: number,
  ) {
    redis.defineCommand('sipdWriteBatch', { numberOfKeys: 0, lua: WRITE_BATCH });
    if (windowMs <= 0) return;
    const send: SendCommand = redis.sendCommand.bind(redis);
    const wrapped: SendCommand = (...args) => {
      if (this.ops.length > 0 && !this.sending && args[0].args[0] !== WRITE_BATCH_SHA) this.sendOps();
      return send(...args);
    };
    redis.sendCommand = wrapped;
  }

  /** Whether a write can be gathered now (batching on, connection ready); when not, send it as a command of its own. */
  get batching(): boolean {
    const socket = this.redis.stream;
    return this.windowMs > 0 && this.redis.status === 'ready' && !!socket && !socket.destroyed;
  }

  /**
   * Queues one write for this window's script; resolves with its result, rejects with its error or the
   * script's. With no window open (batching off, connection not ready) it goes at once, alone.
   */
  write(kind: BatchedWrite, keys: string[], args: string[]): Promise<unknown> {
    this.hold();
    const done = new Promise((resolve, reject) => {
      this.ops.push({ kind, keys, args, resolve, reject });
    });
    if (!this.corked) this.sendOps();
    return done;
  }

  /** Starts a window (corks the socket) unless one is open; any command issued meanwhile is held with the ops. */
  hold(): void {
    if (!this.batching) return;
    const socket = this.redis.stream;
    if (!socket || socket === this.corked) return;
    // a connection replaced since (reconnect): its window ends now, the new one starts its own
    this.flush();
    this.corked = socket;
    socket.cork();
    this.timer = setTimeout(() => this.flush(), this.windowMs);
  }

  /** Sends what is gathered now: before a command the call is waiting for (a capacity reservation). */
  flush(): void {
    clearTimeout(this.timer);
    this.sendOps();
    const socket = this.corked;
    this.corked = undefined;
    socket?.uncork();
  }

  private sendOps(): void {
    if (this.ops.length === 0) return;
    const ops = this.ops;
    this.ops = [];
    const body = JSON.stringify(ops.map((o) => [o.kind, o.keys, o.args]));
    let sent: Promise<OpReply[]>;
    this.sending = true;
    try {
      sent = (this.redis as BatchRedis).sipdWriteBatch(body);
    } catch (err) {
      // ioredis reports failures by rejecting; a throw here must not reach the command that triggered the send
      sent = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.sending = false;
    }
    sent.then(
      (replies) => {
        ops.forEach((o, i) => {
          const reply = replies[i] as OpReply | undefined;
          if (reply?.[0] === 1) o.resolve(reply[1]);
          else o.reject(new Error(`redis ${o.kind} write failed: ${typeof reply?.[1] === 'string' ? reply[1] : 'no reply'}`));
        });
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const o of ops) o.reject(e);
      },
    );
  }
}
