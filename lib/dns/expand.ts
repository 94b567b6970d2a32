/**
 * DNS targets, the pure part: which names a config needs resolved, how answers are kept (TTL clamps,
 * the last good answer through failures) and how a route's configured targets expand into the
 * addresses calls are sent to. No sockets here: lib/dns/dns-cache.ts does the queries.
 */
import { isIP } from 'node:net';
import type { RouteConfig, TargetConfig, TargetExtras } from '../config/schema';
import { targetId } from '../sip/uri';

/** One address of a host name, with its TTL in seconds. */
export interface AddressRecord {
  readonly address: string;
  readonly ttl: number;
}

/** One SRV record (RFC 2782). `name` is the target host; `.` means "no service here". */
export interface SrvRecord {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

/** A target as calls use it: one address, port and transport, with the priority and weight selection uses. */
export interface ExpandedTarget extends Readonly<TargetExtras> {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly priority: number;
  readonly weight: number;
  /** the DNS name it was expanded from (an SRV or host name); absent for an IP address in the config */
  readonly via?: string;
}

/** What is known about names now: undefined when a name has never been answered. */
export interface DnsLookup {
  srv(name: string): readonly SrvRecord[] | undefined;
  addresses(name: string): readonly AddressRecord[] | undefined;
}

/** A lookup that knows no name: only IP addresses expand. */
export const NO_DNS: DnsLookup = { srv: () => undefined, addresses: () => undefined };

/** A DNS name as kept: lower case, no trailing dot. */
export function normalName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Whether a configured host is a name to resolve (not an IPv4/IPv6 address, bracketed or not). */
export function isDnsName(host: string): boolean {
  return isIP(host.replace(/^\[|\]$/g, '')) === 0;
}

/** The transport an SRV name stands for (RFC 3263 §4.1): `_sips._tcp` → tls, `_sip._tcp` → tcp, `_sip._udp` → udp. */
export function srvTransport(name: string): 'udp' | 'tcp' | 'tls' {
  const n = name.toLowerCase();
  if (n.startsWith('_sips.')) return 'tls';
  return n.startsWith('_sip._tcp.') ? 'tcp' : 'udp';
}

/** A TTL in seconds kept within [minTtlS, maxTtlS]. */
export function clampTtl(ttlS: number, minTtlS: number, maxTtlS: number): number {
  return Math.min(maxTtlS, Math.max(minTtlS, Number.isFinite(ttlS) ? ttlS : minTtlS));
}

/** How long an address answer is kept: its shortest TTL, clamped; an empty answer is asked again after minTtlS. */
export function addressAnswerTtl(records: readonly AddressRecord[], minTtlS: number, maxTtlS: number): number {
  if (records.length === 0) return minTtlS;
  return clampTtl(Math.min(...records.map((r) => r.ttl)), minTtlS, maxTtlS);
}

/** The names a set of routes needs resolved directly (the hosts of SRV answers come on top: hostsOfSrv). */
export function dnsNames(routes: readonly RouteConfig[]): { srv: string[]; hosts: string[] } {
  const srv = new Set<string>();
  const hosts = new Set<string>();
  for (const r of routes) {
    for (const t of r.targets) {
      if ('srv' in t) srv.add(normalName(t.srv));
      else if (isDnsName(t.host)) hosts.add(normalName(t.host));
    }
  }
  return { srv: [...srv].sort(), hosts: [...hosts].sort() };
}

/** The host names an SRV answer points at, to be resolved to addresses (`.` and IP literals need none). */
export function hostsOfSrv(records: readonly SrvRecord[]): string[] {
  return records.map((r) => normalName(r.name)).filter((n) => n !== '' && isDnsName(n));
}

/**
 * One name's addresses as targets. The weight is shared evenly by the addresses, so a name keeps the
 * share of its priority it was given whatever number of addresses it has (weight 0 stays 0).
 */
function addressTargets(
  name: string,
  port: number,
  transport: ExpandedTarget['transport'],
  priority: number,
  weight: number,
  lookup: DnsLookup,
): ExpandedTarget[] {
  const addresses = isDnsName(name) ? (lookup.addresses(normalName(name)) ?? []).map((r) => r.address) : [name.replace(/^\[|\]$/g, '')];
  const share = addresses.length > 0 ? weight / addresses.length : 0;
  return addresses.map((host) => ({ id: targetId({ host, port, transport }), host, port, transport, priority, weight: share, via: normalName(name) }));
}

/** One configured target as the targets calls use; a name never answered (or answered empty) gives none. */
export function expandTarget(t: TargetConfig, lookup: DnsLookup): ExpandedTarget[] {
  // probing and capacity settings go with every address a target expands to
  const extras: TargetExtras = {
    ...(t.probe !== undefined && { probe: t.probe }),
    ...(t.maxCalls !== undefined && { maxCalls: t.maxCalls }),
    ...(t.maxCps !== undefined && { maxCps: t.maxCps }),
  };
  return expandBare(t, lookup).map((x) => ({ ...x, ...extras }));
}

function expandBare(t: TargetConfig, lookup: DnsLookup): ExpandedTarget[] {
  if ('srv' in t) {
    const transport = srvTransport(t.srv);
    const via = normalName(t.srv);
    return (lookup.srv(via) ?? [])
      .filter((r) => normalName(r.name) !== '')
      .flatMap((r) => addressTargets(r.name, r.port, transport, r.priority, r.weight, lookup).map((x) => ({ ...x, via })));
  }
  if (!isDnsName(t.host)) {
    const host = t.host.replace(/^\[|\]$/g, '');
    return [
      { id: targetId({ host, port: t.port, transport: t.transport }), host, port: t.port, transport: t.transport, priority: t.priority, weight: t.weight },
    ];
  }
  return addressTargets(t.host, t.port, t.transport, t.priority, t.weight, lookup);
}

/** A route's targets, expanded, in config order; an address that comes up twice (two names, one address) is kept once, the first time. */
export function expandTargets(targets: readonly TargetConfig[], lookup: DnsLookup): ExpandedTarget[] {
  const seen = new Set<string>();
  const out: ExpandedTarget[] = [];
  for (const t of targets) {
    for (const x of expandTarget(t, lookup)) {
      if (seen.has(x.id)) continue;
      seen.add(x.id);
      out.push(x);
    }
  }
  return out;
}

/** What the cache holds for one name. */
export interface NameState<R> {
  /** the last good answer; undefined until the first */
  readonly records?: readonly R[];
  /** the last lookup failed (the records, if any, are the last good answer) */
  readonly failing: boolean;
  /** why it failed (a resolver error code such as ETIMEOUT, ECONNREFUSED, ESERVFAIL) */
  readonly error?: string;
}

export type LookupOutcome<R> = { ok: true; records: readonly R[] } | { ok: false; error: string };

function canonical(records: readonly unknown[] | undefined): string {
  return records === undefined ? '-' : JSON.stringify(records.map((r) => JSON.stringify(r)).sort());
}

/** Whether two answers hold the same records, in any order (TTLs count: pass records without them to ignore them). */
export function sameRecords(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  return canonical(a) === canonical(b);
}

/**
 * One lookup's outcome merged into a name's state. A good answer replaces the records (an empty one
 * too: the name exists without records, or no longer exists); a failure keeps the last good answer.
 * `log` is set only on a change of state, so a name failing on every refresh is logged once, and its
 * recovery once. `changed`: the records differ (targets must be expanded again).
 */
export function mergeAnswer<R>(
  prev: NameState<R> | undefined,
  outcome: LookupOutcome<R>,
  strip: (r: R) => unknown = (r) => r,
): { state: NameState<R>; log?: 'failed' | 'recovered'; changed: boolean } {
  if (outcome.ok) {
    const changed = prev?.records === undefined || !sameRecords(prev.records.map(strip), outcome.records.map(strip));
    return { state: { records: outcome.records, failing: false }, log: prev?.failing ? 'recovered' : undefined, changed };
  }
  if (prev?.failing) return { state: { ...prev, error: outcome.error }, changed: false };
  return { state: { records: prev?.records, failing: true, error: outcome.error }, log: 'failed', changed: false };
}

/** Resolver error codes that are an answer ("no such name", "no records of this type"), not a failure. */
export const NO_RECORDS_CODES: readonly string[] = ['ENODATA', 'ENOTFOUND'];
