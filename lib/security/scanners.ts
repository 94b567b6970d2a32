/**
 * SIP scanners: tools that sweep address ranges for SIP servers and then guess extensions and
 * passwords. Most announce themselves in User-Agent; refusing them costs one 403 and no target.
 * Matched case-insensitively as substrings of the User-Agent header.
 */
export const DEFAULT_SCANNER_USER_AGENTS: readonly string[] = [
  'friendly-scanner', // SIPVicious svmap/svwar default
  'sipvicious',
  'sipcli',
  'sip-scan',
  'sipsak',
  'sundayddr',
  'iwar',
  'vaxsipuseragent',
  'pplsip',
  'smap',
  'nmap',
];

/** A matcher for User-Agent values; matches nothing for an empty list. */
export function compileScannerMatch(patterns: readonly string[]): (userAgent: string | undefined) => string | undefined {
  const lower = patterns.map((p) => p.toLowerCase()).filter((p) => p !== '');
  return (userAgent) => {
    if (!userAgent || lower.length === 0) return undefined;
    const ua = userAgent.toLowerCase();
    return lower.find((p) => ua.includes(p));
  };
}
