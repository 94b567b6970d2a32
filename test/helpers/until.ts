const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Reads `read()` every 50 ms until `done` holds or `timeoutMs` has passed, and returns the last value
 * read: the test asserts on it, so a timeout fails with what was seen. For state that reaches Redis or a
 * log a little after the SIP answer (the call path's writes leave in `redis.batchMs` windows).
 */
export async function until<T>(read: () => Promise<T> | T, done: (v: T) => boolean, timeoutMs = 4000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await read();
  while (!done(v) && Date.now() < end) {
    await sleep(50);
    v = await read();
  }
  return v;
}
