import dgram from 'node:dgram';
import type { Logger } from './util';

export interface Endpoint {
  address: string;
  port: number;
}

/** UDP SIP transport bound to the configured address/port (drachtio --contact sip:ADDR:PORT;transport=udp). */
export class UdpTransport {
  private socket?: dgram.Socket;
  address: string;
  port: number;

  constructor(
    address: string,
    port: number,
    private readonly log: Logger,
    private readonly onMessage: (raw: string, from: Endpoint) => void,
  ) {
    this.address = address;
    this.port = port;
  }

  async start(): Promise<void> {
    const sock = dgram.createSocket({ type: this.address.includes(':') ? 'udp6' : 'udp4' });
    this.socket = sock;
    sock.on('message', (msg, rinfo) => {
      const raw = msg.toString('utf8');
      if (!raw.trim()) return; // keep-alive
      this.log.debug(`recv ${msg.length} bytes from udp/${rinfo.address}:${rinfo.port}\n${raw}`);
      try {
        this.onMessage(raw, { address: rinfo.address, port: rinfo.port });
      } catch (err) {
        this.log.error(`error handling message from ${rinfo.address}:${rinfo.port}: ${(err as Error).stack}`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.port, this.address, () => {
        sock.off('error', reject);
        sock.on('error', (err) => this.log.error(`udp socket error: ${err.message}`));
        this.port = sock.address().port;
        resolve();
      });
    });
  }

  send(raw: string, to: Endpoint): void {
    if (!this.socket) return;
    this.log.debug(`send ${Buffer.byteLength(raw)} bytes to udp/${to.address}:${to.port}\n${raw}`);
    this.socket.send(Buffer.from(raw, 'utf8'), to.port, to.address, (err) => {
      if (err) this.log.warn(`udp send to ${to.address}:${to.port} failed: ${err.message}`);
    });
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
