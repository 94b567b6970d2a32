/**
 * Request-URI helpers. Pure: strings in, strings out.
 */

/**
 * The host part of a SIP/SIPS/TEL URI, lower-cased, IPv6 brackets removed; '' when there is none
 * (e.g. `sip:1234` or a tel: URI, which carry no domain of their own).
 */
export function requestDomain(uri: string): string {
  const m = /^\s*<?\s*(sips?):([^>]*)/i.exec(uri);
  if (!m) return '';
  let rest = m[2];
  const at = rest.lastIndexOf('@', rest.search(/[;?]/) === -1 ? rest.length : rest.search(/[;?]/));
  if (at !== -1) rest = rest.slice(at + 1);
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    return end === -1 ? '' : rest.slice(1, end).toLowerCase();
  }
  const host = rest.split(/[:;?>]/, 1)[0] ?? '';
  // a bare `sip:1234` has its user where a host would be: a domain has a letter or a dot
  return /^[A-Za-z0-9.-]+$/.test(host) && /[A-Za-z.]/.test(host) ? host.toLowerCase() : '';
}

/** The user part of a SIP URI, '' when there is none. */
export function requestUser(uri: string): string {
  const m = /^\s*<?\s*sips?:([^@;>?]+)@/i.exec(uri);
  return m ? m[1] : '';
}

export interface UriTarget {
  host: string;
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The Request-URI of the INVITE sent to a target, keeping the caller's user part. */
export function targetUri(target: UriTarget, user: string): string {
  const scheme = target.transport === 'tls' ? 'sips' : 'sip';
  const userPart = user ? `${user}@` : '';
  const transport = target.transport === 'udp' ? '' : `;transport=${target.transport === 'tls' ? 'tls' : 'tcp'}`;
  return `${scheme}:${userPart}${formatHost(target.host)}:${target.port}${transport}`;
}

/** Stable id of a target, used in Redis keys and logs: `udp:10.0.0.1:5060`. */
export function targetId(target: UriTarget): string {
  return `${target.transport}:${formatHost(target.host)}:${target.port}`;
}
