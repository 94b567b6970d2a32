/**
 * drachtio admin-protocol framing: every message is `<byte length>#<payload>`,
 * where the length is the number of bytes of the UTF-8 payload.
 * Mirrors drachtio-server src/client.cpp (BaseClient::read_handler / readMessageLength,
 * Client::send) and drachtio-srf lib/wire-protocol.js (_onData / send).
 */

export function encodeFrame(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}#`, 'ascii'), body]);
}

export class FrameError extends Error {}

/**
 * Incremental decoder: feed TCP chunks, get complete payloads.
 * Handles frames split anywhere (including inside the length prefix) and several frames per chunk.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: string[] = [];
    for (;;) {
      const hash = this.buf.indexOf(0x23); // '#'
      if (hash === -1) {
        // drachtio-server rejects a length specifier of 6+ digits (readMessageLength)
        if (this.buf.length >= 6 || !/^\d*$/.test(this.buf.toString('latin1'))) {
          throw new FrameError('invalid message length specifier');
        }
        break;
      }
      const lenStr = this.buf.subarray(0, hash).toString('latin1');
      if (!/^\d{1,5}$/.test(lenStr)) throw new FrameError(`invalid message length specifier: '${lenStr}'`);
      const len = parseInt(lenStr, 10);
      if (len <= 0) throw new FrameError('invalid message length 0');
      const total = hash + 1 + len;
      if (this.buf.length < total) break;
      out.push(this.buf.subarray(hash + 1, total).toString('utf8'));
      this.buf = this.buf.subarray(total);
    }
    return out;
  }
}
