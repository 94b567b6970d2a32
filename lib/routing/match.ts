import type { RouteConfig, TargetConfig } from '../config/schema';
import { targetId } from '../sip/uri';
import { compileCidr, type CidrMatcher } from './cidr';

/** A configured target with its stable id computed once. */
export type RoutedTarget = TargetConfig & { readonly id: string };

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
 * Compiles a route's match once at start, so per-request matching does no parsing.
 * A route with both `domains` and `sources` matches only when both do; a route without `match` matches everything.
 */
export function compileRoute(route: RouteConfig): CompiledRoute {
  const domainTests: DomainTest[] | undefined = route.match?.domains?.map(compileDomain);
  const sourceTests: CidrMatcher[] | undefined = route.match?.sources?.map(compileCidr);
  const allowTests: CidrMatcher[] | undefined = route.allowSources?.map(compileCidr);
  return {
    route,
    targets: route.targets.map((t) => ({ ...t, id: targetId(t) })),
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

export function compileRoutes(routes: readonly RouteConfig[]): CompiledRoute[] {
  return routes.map(compileRoute);
}

/** First matching route in config order, or undefined when none matches. */
export function matchRoute(routes: readonly CompiledRoute[], facts: RequestFacts): CompiledRoute | undefined {
  return routes.find((r) => r.matches(facts));
}
