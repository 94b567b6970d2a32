import ipaddr from 'ipaddr.js';

/** A parsed CIDR block that tests addresses without re-parsing the block. */
export interface CidrMatcher {
  readonly text: string;
  contains(address: string): boolean;
}

type Parsed = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parseBlock(text: string): Parsed {
  if (text.includes('/')) return ipaddr.parseCIDR(text);
  const addr = ipaddr.parse(text);
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

export function isValidCidr(text: string): boolean {
  try {
    parseBlock(text);
    return true;
  } catch {
    return false;
  }
}

/** Parses an address as ipaddr.js does, mapping IPv4-mapped IPv6 (::ffff:10.0.0.1) to IPv4. */
export function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare)) return undefined;
  return ipaddr.process(bare);
}

export function compileCidr(text: string): CidrMatcher {
  const [block, bits] = parseBlock(text);
  const range: Parsed =
    block.kind() === 'ipv6' && (block as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96 ? [(block as ipaddr.IPv6).toIPv4Address(), bits - 96] : [block, bits];
  return {
    text,
    contains(address: string): boolean {
      const addr = parseAddress(address);
      if (!addr || addr.kind() !== range[0].kind()) return false;
      return addr.match(range);
    },
  };
}
