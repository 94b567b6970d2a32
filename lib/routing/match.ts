import type { RouteConfig } from '../config/schema';
import { expandTargets, NO_DNS, type DnsLookup, type ExpandedTarget } from '../dns/expand';
import { compileCidr, type CidrMatcher } from './cidr';

/** A target as calls use it (one address, port, transport), its stable id computed once: an IP of the config, or one address of a DNS name. */
export type RoutedTarget = ExpandedTarget;

/** What a route is matched on: taken from the request once, before routing. */
export interface RequestFacts {
  /** Request-URI host, lower case, without brackets; '' when the URI has none */
  domain: string;
  /** source IP address of the request as drachtio saw it */
  sourceAddress: string;
}

export interface CompiledRoute {
  readonly route: RouteConfig;
  readonly targets: readonly RoutedTarget[];
  matches(facts: RequestFacts): boolean;
  /** whether the route's allowSources (if any) let this source address use it */
  allows(sourceAddress: string): boolean;
}

type DomainTest = (domain: string) => boolean;

function compileDomain(pattern: string): DomainTest {
  const p = pattern.toLowerCase().replace(/^\[|\]$/g, '');
  if (p.startsWith('*.')) {
    const suffix = p.slice(1); // ".example.com"
    return (domain) => domain.length > suffix.length && domain.endsWith(suffix);
  }
  return (domain) => domain === p;
}

/**
 * Compiles a route's match once at start, so per-request matching does no parsing, and expands its
 * targets with what DNS answered so far (lib/dns/expand.ts): a name never answered has no targets.
 * A route with both `domains` and `sources` matches only when both do; a route without `match` matches everything.
 */
export function compileRoute(route: RouteConfig, dns: DnsLookup = NO_DNS): CompiledRoute {
  const domainTests: DomainTest[] | undefined = route.match?.domains?.map(compileDomain);
  const sourceTests: CidrMatcher[] | undefined = route.match?.sources?.map(compileCidr);
  const allowTests: CidrMatcher[] | undefined = route.allowSources?.map(compileCidr);
  return {
    route,
    targets: expandTargets(route.targets, dns),
    matches(facts: RequestFacts): boolean {
      if (domainTests && !domainTests.some((test) => test(facts.domain))) return false;
      if (sourceTests && !sourceTests.some((block) => block.contains(facts.sourceAddress))) return false;
      return true;
    },
    allows(sourceAddress: string): boolean {
      return !allowTests || allowTests.some((block) => block.contains(sourceAddress));
    },
  };
}

export function compileRoutes(routes: readonly RouteConfig[], dns: DnsLookup = NO_DNS): CompiledRoute[] {
  return routes.map((r) => compileRoute(r, dns));
}

/** First matching route in config order, or undefined when none matches. */
export function matchRoute(routes: readonly CompiledRoute[], facts: RequestFacts): CompiledRoute | undefined {
  return routes.find((r) => r.matches(facts));
}
