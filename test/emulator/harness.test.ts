/** test/harness/drachtio.ts: spawn, connect, stop (the process group is gone afterwards). */
import net from 'node:net';
import { startDrachtio } from '../harness/drachtio';
import { connectSrf } from './srf-types';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('startDrachtio', () => {
  it('starts a server on free loopback ports that drachtio-srf can use, and stop() ends it', async () => {
    const server = await startDrachtio({ secret: 'harness' });
    try {
      expect(server.kind).toBe(process.env.DRACHTIO_BIN ? 'real' : 'emulator');
      expect(server.host).toBe('127.0.0.1');
      expect(server.sipPort).toBeGreaterThan(0);
      const { srf, hostport } = await connectSrf(server.adminPort, 'harness');
      expect(hostport).toContain(`127.0.0.1:${server.sipPort}`);
      srf.disconnect();
    } finally {
      await server.stop();
    }
    expect(await portOpen(server.adminPort)).toBe(false);
    expect(server.logs?.()).toBeTruthy();
  });
});
