/**
 * Free loopback ports for test processes.
 *
 * A port is found by binding port 0 on 127.0.0.1 and releasing it. Ports handed out once are
 * remembered for the life of the process so two helpers in one test file never get the same
 * number, even if the first one has not bound it yet.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

export const LOOPBACK = '127.0.0.1';

const handedOut = new Set<number>();
const MAX_TRIES = 50;

function probeTcp(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen({ host: LOOPBACK, port, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr !== null ? addr.port : null;
      srv.close(() => resolve(got));
    });
  });
}

function probeUdp(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    sock.unref();
    sock.once('error', () => {
      sock.close();
      resolve(null);
    });
    sock.bind({ address: LOOPBACK, port, exclusive: true }, () => {
      const got = sock.address().port;
      sock.close(() => resolve(got));
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago and has not been handed out before. */
export async function freeTcpPort(): Promise<number> {
  for (let i = 0; i < MAX_TRIES; i += 1) {
    const port = await probeTcp(0);
    if (port !== null && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freeTcpPort: no free TCP port found');
}

/**
 * A port free for UDP and for TCP on 127.0.0.1 (SIP listens on both), not handed out before.
 */
export async function freeUdpPort(): Promise<number> {
  for (let i = 0; i < MAX_TRIES; i += 1) {
    const port = await probeUdp(0);
    if (port === null || handedOut.has(port)) continue;
    if ((await probeTcp(port)) === null) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('freeUdpPort: no free UDP port found');
}

/** Forget a port (e.g. after its process stopped) so it may be handed out again. */
export function releasePort(port: number): void {
  handedOut.delete(port);
}
