/**
 * The statistics verdicts rest on, as pure functions: the bootstrap over
 * prompts, a claim judged by its interval (one-sided, or equivalence by two
 * one-sided tests), Holm–Bonferroni step-down across a family of claims, and
 * the smallest effect a prompt set can resolve. Specs judge with them; the
 * report prints what they returned.
 */

/** The bootstrap distribution of a statistic over resampled prompts (every sample resampled jointly), seeded, sorted. */
export function bootstrapDistribution(
  samples: readonly (readonly number[])[],
  statistic: (resampled: number[][]) => number,
  { resamples = 2000, seed = 20240501 }: { resamples?: number; seed?: number } = {},
): number[] {
  const n = samples[0].length;
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const stats: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const idx = Array.from({ length: n }, () => Math.floor(rand() * n));
    stats.push(statistic(samples.map((xs) => idx.map((i) => xs[i]))));
  }
  return stats.sort((a, b) => a - b);
}

/** The two-sided percentile interval at `level` of a sorted bootstrap distribution. */
export function percentileInterval(sorted: readonly number[], level: number): [number, number] {
  // As many resamples left out above as below: floor(αB/2) on each side.
  const tail = Math.floor(((1 - level) / 2) * sorted.length);
  const at = (i: number) => sorted[Math.min(sorted.length - 1, Math.max(0, i))];
  return [at(tail), at(sorted.length - 1 - tail)];
}

/**
 * What a row claims of its statistic: at least a bound, below a bound, or
 * within a margin (an equivalence claim: "near", "within", "on the same side").
 */
export type Claim = { atLeast: number } | { below: number } | { within: [number, number] };

export type Outcome = "confirmed" | "rejected" | "inconclusive";

/**
 * A claim judged by its interval: confirmed when the interval lies on the
 * claimed side (inside the margin), rejected when it lies entirely on the
 * other (outside the margin), inconclusive when it straddles. An interval
 * that is not finite decides nothing.
 */
export function judgeInterval([lo, hi]: readonly [number, number], claim: Claim): Outcome {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return "inconclusive";
  if ("atLeast" in claim) return lo >= claim.atLeast ? "confirmed" : hi < claim.atLeast ? "rejected" : "inconclusive";
  if ("below" in claim) return hi < claim.below ? "confirmed" : lo >= claim.below ? "rejected" : "inconclusive";
  const [a, b] = claim.within;
  return a <= lo && hi <= b ? "confirmed" : hi < a || lo > b ? "rejected" : "inconclusive";
}

/**
 * The bootstrap p-value of a claim, two-sided in the sense of the percentile
 * interval: p ≤ α exactly when the (1 − α) interval lies on the claimed side.
 * An equivalence claim is two one-sided tests (TOST), each at α/2 here, so its
 * p is the larger of the two; the (1 − α) interval inside the margin is the
 * same decision.
 */
export function bootstrapP(sorted: readonly number[], claim: Claim): number {
  const B = sorted.length;
  const share = (f: (x: number) => boolean) => sorted.filter(f).length / B;
  const tail =
    "atLeast" in claim
      ? share((x) => x < claim.atLeast)
      : "below" in claim
        ? share((x) => x >= claim.below)
        : Math.max(
            share((x) => x < claim.within[0]),
            share((x) => x > claim.within[1]),
          );
  return Math.min(1, 2 * tail);
}

export interface Judged {
  outcome: Outcome;
  /** The interval at `level`. */
  ci: [number, number];
  level: number;
  p: number;
  /** Half the interval's width: the smallest effect the prompt set resolves at this level. */
  detectable: number;
}

/** A claim on a bootstrap distribution at significance α: its (1 − α) interval, p-value and outcome. */
export function judgeClaim(sorted: readonly number[], claim: Claim, alpha: number): Judged {
  const ci = percentileInterval(sorted, 1 - alpha);
  return {
    outcome: judgeInterval(ci, claim),
    ci,
    level: 1 - alpha,
    p: bootstrapP(sorted, claim),
    detectable: smallestDetectable(ci),
  };
}

/** Equivalence by two one-sided tests: confirmed when the (1 − α) interval lies inside the margin. */
export const equivalence = (sorted: readonly number[], margin: [number, number], alpha: number) =>
  judgeClaim(sorted, { within: margin }, alpha);

/**
 * Power, stated as the smallest effect the prompt set could detect: the
 * interval's half-width at the level it was judged at. A true value closer than
 * this to a bound cannot be told apart from it on these prompts.
 */
export const smallestDetectable = ([lo, hi]: readonly [number, number]) => (hi - lo) / 2;

export interface Holm {
  /** Holm-adjusted p-values: max over j ≤ rank of min(1, (m − j) p₍ⱼ₎), in the input's order. */
  adjusted: number[];
  /** The level each test is compared at, α / (m − rank), rank 0 for the smallest p. */
  levels: number[];
  /** Rejected (the claim holds) by the step-down: every smaller p met its level too. */
  rejected: boolean[];
}

/**
 * Holm–Bonferroni step-down (Holm 1979): sort the p-values, compare the k-th
 * smallest (from 0) with α / (m − k), and stop at the first that misses; the
 * family-wise error stays at α. A p-value that is not a number is not a test.
 */
export function holm(ps: readonly number[], alpha: number): Holm {
  const m = ps.length;
  const order = ps.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const adjusted = new Array<number>(m);
  const levels = new Array<number>(m);
  const rejected = new Array<boolean>(m);
  let running = 0,
    going = true;
  order.forEach(([p, i], k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    adjusted[i] = running;
    levels[i] = alpha / (m - k);
    going &&= p <= levels[i];
    rejected[i] = going;
  });
  return { adjusted, levels, rejected };
}

/**
 * The weakest of several claims that must all hold (every middle layer near 1):
 * the index with the largest p, ties to the median farthest from the claim's
 * centre. An intersection–union test: the whole holds at α exactly when its
 * weakest part does, with no adjustment for the number of parts.
 */
export function weakest(sortedDistributions: readonly (readonly number[])[], claim: Claim): number {
  const centre =
    "atLeast" in claim ? claim.atLeast : "below" in claim ? claim.below : (claim.within[0] + claim.within[1]) / 2;
  const away = (d: readonly number[]) => Math.abs(d[Math.floor(d.length / 2)] - centre);
  const ps = sortedDistributions.map((d) => bootstrapP(d, claim));
  return ps.reduce(
    (best, p, i) =>
      p > ps[best] || (p === ps[best] && away(sortedDistributions[i]) > away(sortedDistributions[best])) ? i : best,
    0,
  );
}
