import type { RouteConfig } from '../config/schema';
import { compileRoutes, type CompiledRoute, type RoutedTarget } from './match';

/**
 * The routes in force, swappable at run time (config reload) without touching calls in progress:
 * a call keeps the route and targets it was admitted with; only new calls see a replaced table.
 */
export class RouteTable {
  private compiled: readonly CompiledRoute[];

  constructor(routes: readonly RouteConfig[]) {
    this.compiled = compileRoutes(routes);
  }

  /** The routes new calls are matched against, in config order. */
  get routes(): readonly CompiledRoute[] {
    return this.compiled;
  }

  /** Replaces the routes for new calls. */
  replace(routes: readonly RouteConfig[]): void {
    this.compiled = compileRoutes(routes);
  }

  /** Every distinct target of every route (by id), sorted by id: the targets whose health and load are followed. */
  allTargets(): RoutedTarget[] {
    const byId = new Map<string, RoutedTarget>();
    for (const r of this.compiled) for (const t of r.targets) if (!byId.has(t.id)) byId.set(t.id, t);
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
