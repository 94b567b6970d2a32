/**
 * Target ordering per RFC 2782 ("A DNS RR for specifying the location of services", the
 * "Usage rules" section): lowest priority value first; within one priority, a weighted random
 * order without replacement, where weight-0 entries come after the weighted ones.
 * Pure: the random source is injected, so tests can drive it.
 */
export interface Weighted {
  readonly priority: number;
  readonly weight: number;
}

/** Returns a number in [0, 1), like Math.random. */
export type RandomSource = () => number;

function orderTier<T extends Weighted>(tier: readonly T[], random: RandomSource): T[] {
  const weighted = tier.filter((t) => t.weight > 0);
  const zero = tier.filter((t) => t.weight === 0);
  const out: T[] = [];
  let total = weighted.reduce((sum, t) => sum + t.weight, 0);
  while (weighted.length > 0) {
    // RFC 2782 picks a running sum >= a uniform number in [0, total]; with a continuous
    // source the equivalent is the first entry whose running sum exceeds random()*total.
    const point = random() * total;
    let running = 0;
    let index = weighted.length - 1;
    for (let i = 0; i < weighted.length; i += 1) {
      running += weighted[i].weight;
      if (point < running) {
        index = i;
        break;
      }
    }
    const [picked] = weighted.splice(index, 1);
    total -= picked.weight;
    out.push(picked);
  }
  // Weight-0 targets: only after every weighted one of the tier, in random order among themselves.
  while (zero.length > 0) {
    const index = Math.min(zero.length - 1, Math.floor(random() * zero.length));
    out.push(zero.splice(index, 1)[0]);
  }
  return out;
}

/** Orders targets for one call: the full hunt list, primary tier first, backups after. */
export function orderTargets<T extends Weighted>(targets: readonly T[], random: RandomSource = Math.random): T[] {
  const tiers = new Map<number, T[]>();
  for (const t of targets) {
    const tier = tiers.get(t.priority);
    if (tier) tier.push(t);
    else tiers.set(t.priority, [t]);
  }
  const priorities = [...tiers.keys()].sort((a, b) => a - b);
  return priorities.flatMap((p) => orderTier(tiers.get(p) ?? [], random));
}
