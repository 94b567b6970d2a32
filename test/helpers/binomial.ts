/**
 * Exact binomial probabilities, for choosing and documenting the acceptance band of a
 * distribution test (how often a correct implementation fails it, how often a wrong one passes).
 */

function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i += 1) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** P(X = k) for X ~ Binomial(n, p). */
export function binomialPmf(n: number, k: number, p: number): number {
  if (k < 0 || k > n) return 0;
  return Math.exp(logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log(1 - p));
}

/** P(lo <= X <= hi) for X ~ Binomial(n, p). */
export function binomialBetween(n: number, lo: number, hi: number, p: number): number {
  let s = 0;
  for (let k = Math.max(0, lo); k <= Math.min(n, hi); k += 1) s += binomialPmf(n, k, p);
  return s;
}

/**
 * The acceptance band [lo, hi] for X ~ Binomial(n, p) that a correct implementation leaves with
 * probability at most `alpha` (alpha/2 in each tail). Computed exactly, in O(n).
 */
export function binomialBand(n: number, p: number, alpha: number): { lo: number; hi: number } {
  const logPmf: number[] = [n * Math.log(1 - p)];
  for (let k = 0; k < n; k += 1) logPmf.push(logPmf[k] + Math.log(n - k) - Math.log(k + 1) + Math.log(p) - Math.log(1 - p));
  const pmf = logPmf.map((l) => Math.exp(l));
  let lo = 0;
  for (let tail = 0; lo < n && tail + pmf[lo] <= alpha / 2; lo += 1) tail += pmf[lo];
  let hi = n;
  for (let tail = 0; hi > 0 && tail + pmf[hi] <= alpha / 2; hi -= 1) tail += pmf[hi];
  return { lo, hi };
}
