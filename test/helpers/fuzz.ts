/**
 * Hostile and malformed SIP for the fuzz run (test/sip/fuzz.test.ts): a seeded generator, so a run
 * that finds something can be repeated message for message. Each message is UDP payload as bytes.
 */
import { seededRandom } from './random';

export type FuzzKind =
  | 'garbage'
  | 'huge-header'
  | 'broken-header'
  | 'missing-header'
  | 'content-length'
  | 'unknown-method'
  | 'odd-uri'
  | 'bad-sdp'
  | 'unknown-dialog'
  | 'stray-cancel-ack'
  | 'duplicate-singleton';

export const FUZZ_KINDS: readonly FuzzKind[] = [
  'garbage',
  'huge-header',
  'broken-header',
  'missing-header',
  'content-length',
  'unknown-method',
  'odd-uri',
  'bad-sdp',
  'unknown-dialog',
  'stray-cancel-ack',
  'duplicate-singleton',
];

export interface FuzzMessage {
  kind: FuzzKind;
  bytes: Buffer;
}

const SDP = ['v=0', 'o=fz 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', ''].join('\r\n');

/** Generates `count` messages from `seed`, as if sent from `local` (ip:port) to `domain`. */
export function fuzzMessages(count: number, seed: number, local: string, domain: string): FuzzMessage[] {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const hex = (n: number) => Array.from({ length: n }, () => int(16).toString(16)).join('');
  const out: FuzzMessage[] = [];

  const base = (method: string, ruri: string, opts: { callId?: string; toTag?: string; cseq?: number } = {}) => {
    const callId = opts.callId ?? `fz-${hex(12)}@fuzz`;
    return {
      start: `${method} ${ruri} SIP/2.0`,
      headers: [
        `Via: SIP/2.0/UDP ${local};branch=z9hG4bK${hex(10)};rport`,
        `From: <sip:fuzz@${local}>;tag=${hex(8)}`,
        `To: <${ruri.startsWith('sip') ? ruri : `sip:x@${domain}`}>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
        `Call-ID: ${callId}`,
        `CSeq: ${String(opts.cseq ?? 1)} ${method}`,
        `Contact: <sip:fuzz@${local}>`,
        'Max-Forwards: 70',
      ],
    };
  };
  const render = (start: string, headers: string[], body = '', contentLength?: string) =>
    Buffer.from(`${start}\r\n${headers.join('\r\n')}\r\nContent-Length: ${contentLength ?? String(Buffer.byteLength(body))}\r\n\r\n${body}`, 'latin1');

  for (let i = 0; i < count; i += 1) {
    const kind = FUZZ_KINDS[i % FUZZ_KINDS.length];
    const ruri = `sip:${String(1000 + int(9000))}@${domain}`;
    switch (kind) {
      case 'garbage': {
        const len = 1 + int(1400);
        const bytes = Buffer.alloc(len);
        for (let k = 0; k < len; k += 1) bytes[k] = int(256);
        // half of them start like SIP, so the parser gets past the first bytes
        if (random() < 0.5) Buffer.from('INVITE sip:').copy(bytes);
        out.push({ kind, bytes });
        break;
      }
      case 'huge-header': {
        const m = base(pick(['INVITE', 'OPTIONS', 'REGISTER']), ruri);
        m.headers.push(`${pick(['Subject', 'X-Huge', 'User-Agent', 'Organization'])}: ${'A'.repeat(2000 + int(6000))}`);
        out.push({ kind, bytes: render(m.start, m.headers, m.start.startsWith('INVITE') ? SDP : '') });
        break;
      }
      case 'broken-header': {
        const m = base('INVITE', ruri);
        m.headers[1 + int(m.headers.length - 1)] = pick([
          'From <sip:nobody',
          'CSeq: abc INVITE',
          'Via: SIP/3.0/XYZ',
          ': empty name',
          'To: <sip:@>',
          'Call-ID:',
        ]);
        out.push({ kind, bytes: render(m.start, m.headers, SDP) });
        break;
      }
      case 'missing-header': {
        const m = base(pick(['INVITE', 'BYE', 'OPTIONS']), ruri);
        m.headers.splice(int(5), 1); // one of Via, From, To, Call-ID, CSeq
        out.push({ kind, bytes: render(m.start, m.headers, '') });
        break;
      }
      case 'content-length': {
        const m = base('INVITE', ruri);
        m.headers.push('Content-Type: application/sdp');
        out.push({ kind, bytes: render(m.start, m.headers, SDP, pick(['999999', '-1', 'ten', '0', String(SDP.length + 50), '18446744073709551617'])) });
        break;
      }
      case 'unknown-method': {
        const method = pick(['FROBNICATE', 'GET', 'X', 'invite', 'INVITE\u0000']);
        const m = base(method, ruri);
        out.push({ kind, bytes: render(m.start, m.headers) });
        break;
      }
      case 'odd-uri': {
        const odd = pick([
          `sip:${domain}`,
          'sip:1234@[::1]',
          'sip:1234@[::1]:5060;transport=udp',
          'sips:1234@fuzz.test',
          `sip:%00%ff@${domain}`,
          `sip:${'9'.repeat(400)}@${domain}`,
          `sip:a;b=c?d=e@${domain}`,
          'sip:1234@999.999.999.999',
          'sip:@',
        ]);
        const m = base('INVITE', odd);
        m.headers.push('Content-Type: application/sdp');
        out.push({ kind, bytes: render(m.start, m.headers, SDP) });
        break;
      }
      case 'bad-sdp': {
        const m = base('INVITE', ruri);
        m.headers.push('Content-Type: application/sdp');
        const body = pick([
          'v=0\r\nm=audio -1 RTP/AVP\r\n',
          'not sdp at all',
          'v=0\r\no=\r\nc=IN IP4 999.1.1.1\r\nm=audio 99999999 RTP/AVP 0 1 2 3\r\n',
          '\u0000\u0001\u0002',
        ]);
        out.push({ kind, bytes: render(m.start, m.headers, body) });
        break;
      }
      case 'unknown-dialog': {
        const method = pick(['BYE', 'INFO', 'INVITE', 'UPDATE', 'NOTIFY', 'REFER', 'PRACK']);
        const m = base(method, ruri, { toTag: hex(8), cseq: 2 + int(100) });
        out.push({ kind, bytes: render(m.start, m.headers, method === 'INVITE' ? SDP : '') });
        break;
      }
      case 'stray-cancel-ack': {
        const method = pick(['CANCEL', 'ACK']);
        const m = base(method, ruri, random() < 0.5 ? { toTag: hex(8) } : {});
        out.push({ kind, bytes: render(m.start, m.headers) });
        break;
      }
      case 'duplicate-singleton': {
        const m = base('INVITE', ruri);
        const h = pick(['Call-ID: second@fuzz', 'CSeq: 7 INVITE', 'Max-Forwards: 3', `From: <sip:other@${local}>;tag=x`, 'Content-Length: 4']);
        m.headers.push(h);
        out.push({ kind, bytes: render(m.start, m.headers, SDP) });
        break;
      }
    }
  }
  return out;
}
