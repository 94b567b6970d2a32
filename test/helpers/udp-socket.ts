/**
 * A local IPv4 UDP socket's receive queue and drop count, from /proc/net/udp (Linux): how far behind the
 * process reading it is, and how many datagrams the kernel threw away because its buffer was full.
 */
import fs from 'node:fs';

export interface UdpSocketState {
  /** bytes waiting to be read (kernel accounting, rx_queue) */
  rxQueue: number;
  /** datagrams dropped on this socket since it was opened */
  drops: number;
}

/** /proc/net/udp writes an IPv4 address as the hex of its 32-bit value in host order (little-endian here). */
function procAddress(host: string, port: number): string {
  const hex = host
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .reverse()
    .join('');
  return `${hex}:${port.toString(16).padStart(4, '0')}`.toUpperCase();
}

export function udpSocketState(host: string, port: number): UdpSocketState | undefined {
  const want = procAddress(host, port);
  for (const line of fs.readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== want) continue;
    // f[4] = tx_queue:rx_queue; the last field is drops
    return { rxQueue: parseInt(f[4].split(':')[1], 16), drops: Number(f[f.length - 1]) };
  }
  return undefined;
}
