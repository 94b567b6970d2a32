import { EventEmitter } from 'node:events';
import { createLogger } from '../../lib/logger';
import { EXIT_SOFTWARE, installFatalHandlers } from '../../lib/process/fatal';

/** A logger into memory whose flush() completes only when `flushed()` is called. */
function setup(flushTimeoutMs = 1000) {
  const lines: Array<Record<string, unknown>> = [];
  let pendingFlush: (() => void) | undefined;
  const destination = {
    write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>),
    flush: (cb: () => void) => {
      pendingFlush = cb;
    },
  };
  const proc = new EventEmitter();
  const exit = jest.fn<void, [number]>();
  installFatalHandlers(proc, createLogger('info', destination), exit, flushTimeoutMs);
  return { proc, exit, lines, flushed: () => pendingFlush?.() };
}

afterEach(() => jest.useRealTimers());

describe('installFatalHandlers', () => {
  it('logs an uncaught exception at fatal with its stack, then exits 70 once the log is flushed', () => {
    const { proc, exit, lines, flushed } = setup();
    proc.emit('uncaughtException', new Error('boom'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'fatal', msg: 'uncaught exception; exiting', err: { type: 'Error', message: 'boom' } });
    expect((lines[0].err as { stack: string }).stack).toContain('fatal.test.ts');
    expect(exit).not.toHaveBeenCalled(); // not before the line is out
    flushed();
    expect(exit.mock.calls).toEqual([[EXIT_SOFTWARE]]);
    expect(EXIT_SOFTWARE).toBe(70);
  });

  it('does the same for an unhandled rejection, whatever the reason is', () => {
    const { proc, exit, lines, flushed } = setup();
    proc.emit('unhandledRejection', 'not an Error');
    flushed();
    expect(lines[0]).toMatchObject({ level: 'fatal', msg: 'unhandled rejection; exiting', err: 'not an Error' });
    expect(exit.mock.calls).toEqual([[70]]);
  });

  it('exits after the flush timeout when the log cannot be flushed', () => {
    jest.useFakeTimers();
    const { proc, exit } = setup(500);
    proc.emit('uncaughtException', new Error('boom'));
    jest.advanceTimersByTime(499);
    expect(exit).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(exit.mock.calls).toEqual([[70]]);
  });

  it('logs a second fault while exiting, and still exits once', () => {
    jest.useFakeTimers();
    const { proc, exit, lines, flushed } = setup(500);
    proc.emit('uncaughtException', new Error('first'));
    proc.emit('unhandledRejection', new Error('second'));
    flushed();
    jest.advanceTimersByTime(1000);
    expect(lines.map((l) => l.msg)).toEqual(['uncaught exception; exiting', 'unhandled rejection while exiting']);
    expect(exit.mock.calls).toEqual([[70]]);
  });
});
