import type { RouteConfig } from '../config/schema';
import { NO_DNS, type DnsLookup } from '../dns/expand';
import { compileRoutes, type CompiledRoute, type RoutedTarget } from './match';

/**
 * The routes in force, swappable at run time (config reload) without touching calls in progress:
 * a call keeps the route and targets it was admitted with; only new calls see a replaced table.
 */
export class RouteTable {
  private compiled: readonly CompiledRoute[];
  private configured: readonly RouteConfig[];

  /** `dns`: what DNS answered so far, for targets given by name (lib/dns/dns-cache.ts); call `refresh()` when it changes. */
  constructor(
    routes: readonly RouteConfig[],
    private readonly dns: DnsLookup = NO_DNS,
  ) {
    this.configured = routes;
    this.compiled = compileRoutes(routes, dns);
  }

  /** The routes as configured (targets not expanded). */
  get config(): readonly RouteConfig[] {
    return this.configured;
  }

  /** The routes new calls are matched against, in config order. */
  get routes(): readonly CompiledRoute[] {
    return this.compiled;
  }

  /** Replaces the routes for new calls. */
  replace(routes: readonly RouteConfig[]): void {
    this.configured = routes;
    this.compiled = compileRoutes(routes, this.dns);
  }

  /** Expands the same routes again with the current DNS answers (a name's records changed). */
  refresh(): void {
    this.compiled = compileRoutes(this.configured, this.dns);
  }

  /** Every distinct target of every route (by id), sorted by id: the targets whose health and load are followed. */
  allTargets(): RoutedTarget[] {
    const byId = new Map<string, RoutedTarget>();
    for (const r of this.compiled) for (const t of r.targets) if (!byId.has(t.id)) byId.set(t.id, t);
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
