/**
 * The least-loaded strategy: RFC 2782 order (lib/routing/select.ts) where each target's weight is
 * scaled by how much room it has, so new calls favour the targets with the most free capacity
 * (the seed's "dynamic load distribution"). Pure: loads and the random source are passed in.
 *
 *   with maxCalls:    effective weight = weight × (maxCalls − load) / maxCalls   (0 once full)
 *   without maxCalls: effective weight = weight / (1 + load)
 *
 * Both give `weight` to an idle target, so an idle pool is split exactly as `weighted` splits it.
 * Priority tiers are kept: a backup tier is still only reached after every target of the tier before.
 * A target whose effective weight is 0 (configured weight 0, or full by the view) goes to the end of
 * its tier, like RFC 2782's weight-0 entries.
 */
import { orderTargets, type RandomSource, type Weighted } from './select';

export interface LoadedTarget extends Weighted {
  readonly id: string;
  readonly maxCalls?: number;
}

/** The weight a target draws with, given its load (calls answered + being set up, cluster-wide). */
export function effectiveWeight(t: LoadedTarget, load: number): number {
  const l = Math.max(0, load);
  if (t.maxCalls !== undefined && t.maxCalls > 0) return (t.weight * Math.max(0, t.maxCalls - l)) / t.maxCalls;
  return t.weight / (1 + l);
}

/** Orders targets for one call by priority, then by weighted random draw on their effective weights. */
export function orderLeastLoaded<T extends LoadedTarget>(targets: readonly T[], loads: ReadonlyMap<string, number>, random: RandomSource = Math.random): T[] {
  const scaled = targets.map((target) => ({ target, priority: target.priority, weight: effectiveWeight(target, loads.get(target.id) ?? 0) }));
  return orderTargets(scaled, random).map((s) => s.target);
}
