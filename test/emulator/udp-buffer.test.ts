/**
 * drachtio-server's SIP socket keeps the kernel's default UDP buffers. Its source reads as if it set them
 * to 4 MB (src/sip-transports.cpp: `drachtio.sip.udp-buffer-size`, 4 MB when unset, passed as
 * TPTAG_UDP_RMEM/WMEM), but it passes them to tport_set_params on a socket that already exists, and
 * sofia-sip applies those tags only when it creates the socket (tport_type_udp.c
 * tport_udp_init_primary); tport_set_params ignores them. Measured on v0.9.10: 212,992 bytes, the
 * kernel default. The emulator keeps the default too, so a flood overflows both at the same depth.
 * Read with `ss` (iproute2) from the socket itself, so the same check runs against the emulator and,
 * with DRACHTIO_BIN, the real server.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';

const kernelDefault = (file: string) => Number(fs.readFileSync(file, 'utf8').trim());

/** skmem of the UDP socket bound to host:port: rb (receive buffer) and tb (send buffer) in bytes. */
function udpSocketBuffers(host: string, port: number): { rb: number; tb: number } {
  const out = execFileSync('ss', ['-u', '-a', '-m', '-n', 'sport', '=', `:${String(port)}`], { encoding: 'utf8' });
  const mine = out.split('\n').findIndex((l) => l.includes(`${host}:${String(port)}`));
  const skmem = /rb(\d+),t\d+,tb(\d+)/.exec(out.split('\n').slice(mine).join('\n'));
  if (mine < 0 || !skmem) throw new Error(`no UDP socket on ${host}:${String(port)} in ss output:\n${out}`);
  return { rb: Number(skmem[1]), tb: Number(skmem[2]) };
}

describe("drachtio-server's SIP socket buffers", () => {
  let server: DrachtioServer;
  beforeAll(async () => {
    server = await startDrachtio();
  });
  afterAll(async () => server?.stop());

  it("are the kernel's defaults for receiving and sending (the udp-buffer-size setting never reaches the socket)", () => {
    expect(udpSocketBuffers(server.sipAddress, server.sipPort)).toEqual({
      rb: kernelDefault('/proc/sys/net/core/rmem_default'),
      tb: kernelDefault('/proc/sys/net/core/wmem_default'),
    });
  });
});
