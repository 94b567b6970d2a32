import type { SrfResponse } from '../drachtio/srf';

/**
 * Wraps the caller's response object for one createB2BUA attempt.
 * drachtio-srf's createB2BUA answers the caller itself in three places we must control during a hunt:
 * a 500 when the INVITE to the target cannot be sent, a 487 when the caller cancels, and the 200
 * when the target answers. Only a 2xx of an attempt that is still wanted gets through; everything
 * else is dropped (its callback, if any, gets an error so srf tears the target leg down), and the
 * CallSession sends the caller's one final response itself.
 */
export function gateResponse(res: SrfResponse, allow2xx: () => boolean): SrfResponse {
  const send = (...args: unknown[]): void => {
    const status = args[0] as number;
    if (status >= 200 && status < 300 && allow2xx()) {
      (res.send as (...a: unknown[]) => void)(...args);
      return;
    }
    const callback = args.find((a): a is (err: unknown) => void => typeof a === 'function');
    if (callback) callback(new Error(`response ${status} withheld: attempt no longer wanted`));
  };
  return new Proxy(res, {
    get(target, prop, receiver) {
      if (prop === 'send') return send;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
