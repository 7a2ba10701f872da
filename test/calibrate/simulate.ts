/**
 * Simulated replications of a family, each judged as the specs judge (families.ts judgeSides). The population of a part
 * is its own prompts' values from a real run, moved so that its statistic over them all, its true value, sits where the
 * scenario puts it: at the claim's bound, or some standard errors inside or outside it. A replication draws a new
 * prompt set of the same size from the prompts, with replacement and once for every part (the same prompts go through
 * every model and layer), and judges the family on it.
 */
import { bootstrap, judgeClaim, normalQuantile, POWER, resamplesFor } from "../../probes/statistics.js";
import { BOOTSTRAP } from "../../hypotheses/criteria.js";
import { FAMILY_ALPHA } from "../../hypotheses/family.js";
import { judgeSides, type Family, type Part } from "./families.js";
import { fnv1a, mulberry32 } from "../../probes/random.js";

/** A true value this many standard errors inside its bound is confirmed with 80% power (judgeClaim's `detectable`). */
export const DETECTABLE_SE = normalQuantile(1 - FAMILY_ALPHA) + normalQuantile(POWER);

/** Where a part's true value may be put: its bound, which way is inside the claim, and its standard error there. */
export interface Placement {
  bound: number;
  inward: 1 | -1;
  /** For a margin: its centre, the farthest inside a true value can be. */
  centre?: number;
  /** judgeClaim's detectable on the whole population at the bound, as a run on these prompts would print it. */
  detectable: number;
  se: number;
  /** The skewness of the statistic's bootstrap distribution there: a percentile interval is exact only at 0. */
  skewness: number;
  /**
   * The true value the printed detectable effect promises 80% power at: as far inside the bound as the detectable a
   * run there prints. Where the standard error moves with the true value (a ratio scales with it) that is not the
   * bound's own detectable away. Absent where a margin is narrower than that: no true value lies so far inside both edges.
   */
  detectableAt?: { target: number; detectable: number };
}

/**
 * The part's samples moved so that its statistic over them is `target`: a ratio by scaling the subject's values (the
 * ratio scales with them; the values stay positive), a mean by shifting them (its spread, and so its standard error,
 * stays the real one).
 */
export function moveTo(part: Part, target: number): number[][] {
  const [xs, ...rest] = part.test.samples;
  const now = part.test.statistic(part.test.samples);
  const moved = part.form === "ratio" ? xs.map((x) => (x * target) / now) : xs.map((x) => x + (target - now));
  const samples = [moved, ...rest];
  const got = part.test.statistic(samples);
  if (!(Math.abs(got - target) <= 1e-9 * Math.max(1, Math.abs(target))))
    throw new Error(
      `${part.subject} ${part.prediction} ${part.label ?? ""}: moved to ${target}, its statistic is ${got}`,
    );
  return samples;
}

function skewness(xs: readonly number[]): number {
  const m = xs.reduce((a, x) => a + x, 0) / xs.length;
  const [m2, m3] = [2, 3].map((k) => xs.reduce((a, x) => a + (x - m) ** k, 0) / xs.length);
  return m2 > 0 ? m3 / m2 ** 1.5 : 0;
}

/** The bound a part is calibrated at: the claim's; for a margin, the edge nearer its real value. */
export function placement(part: Part, resamples: number): Placement {
  const claim = part.test.claim;
  let at: Pick<Placement, "bound" | "inward" | "centre">;
  if ("atLeast" in claim) at = { bound: claim.atLeast, inward: 1 };
  else if ("below" in claim) at = { bound: claim.below, inward: -1 };
  else {
    const [a, b] = claim.within;
    const centre = (a + b) / 2;
    at =
      part.test.statistic(part.test.samples) >= centre
        ? { bound: b, inward: -1, centre }
        : { bound: a, inward: 1, centre };
  }
  const distribution = (target: number) =>
    bootstrap(moveTo(part, target), part.test.statistic, { resamples, seed: BOOTSTRAP.seed });
  const detectableThere = (target: number) => judgeClaim(distribution(target), claim, FAMILY_ALPHA).detectable;
  const atBound = distribution(at.bound);
  const { detectable } = judgeClaim(atBound, claim, FAMILY_ALPHA);
  let detectableAt: Placement["detectableAt"] = { target: at.bound, detectable };
  // A fixed point: where the standard error grows or shrinks with the true value, in a few steps.
  for (let step = 0; step < 50 && detectableAt; step++) {
    const target: number = at.bound + at.inward * detectableAt.detectable;
    if (at.centre !== undefined && at.inward * (target - at.centre) > 0) detectableAt = undefined;
    else if (Math.abs(target - detectableAt.target) <= 1e-9 * Math.max(1, Math.abs(target))) break;
    else detectableAt = { target, detectable: detectableThere(target) };
  }
  return { ...at, detectable, se: detectable / DETECTABLE_SE, skewness: skewness(atBound.sorted), detectableAt };
}

/** `k` standard errors inside the bound (outside where negative); never past a margin's centre. */
export function targetOf(p: Placement, k: number): { target: number; clamped: boolean } {
  const target = p.bound + p.inward * k * p.se;
  if (p.centre !== undefined && p.inward * (target - p.centre) > 0) return { target: p.centre, clamped: true };
  return { target, clamped: false };
}

/** A family's placements, with the resamples its judging uses (resamplesFor its number of tests). */
export function placements(family: Family): { resamples: number; parts: Placement[][] } {
  const m = family.sides.reduce((n, s) => n + s.length, 0);
  const resamples = resamplesFor(m, FAMILY_ALPHA, BOOTSTRAP.resamples);
  return { resamples, parts: family.sides.map((side) => side.map((p) => placement(p, resamples))) };
}

/** How often each outcome came up over the replications. */
export interface Tally {
  replications: number;
  /** Every side confirmed: what a confirmed verdict needs. */
  confirmed: number;
  /** Some side rejected by Holm across the family: the family-wise error Holm holds at α. */
  rejected: number;
  /** Some part with an unadjusted rejection p at or below α: the rejections a procedure without Holm would make. */
  unadjusted: number;
  /** Each side, and each part (sides in order, then their parts), confirmed and rejected. */
  sides: { confirmed: number; rejected: number }[];
  parts: { confirmed: number; rejected: number; detectable: number }[];
}

/**
 * `replications` prompt sets drawn from the family's populations, each part's true value put where `at` says (its
 * bound, `targetOf` some standard errors from it, its detectable effect inside), each judged as the specs judge.
 */
export function replicate(
  family: Family,
  placed: Placement[][],
  at: (p: Placement) => number,
  { replications, seed }: { replications: number; seed: number },
): Tally {
  const populations = family.sides.map((side, i) => side.map((part, j) => moveTo(part, at(placed[i][j]))));
  const n = populations[0][0][0].length;
  // A replication draws each prompt from its own stratum, as the run's sample was drawn and its bootstrap resamples.
  const strata = family.strata ?? Array<string>(n).fill("");
  const members = new Map<string, number[]>();
  strata.forEach((h, i) => members.set(h, [...(members.get(h) ?? []), i]));
  const own = strata.map((h) => members.get(h)!);
  const rand = mulberry32(seed);
  const drawn = new Int32Array(n);
  const flat = family.sides.flat();
  const tally: Tally = {
    replications,
    confirmed: 0,
    rejected: 0,
    unadjusted: 0,
    sides: family.sides.map(() => ({ confirmed: 0, rejected: 0 })),
    parts: flat.map(() => ({ confirmed: 0, rejected: 0, detectable: 0 })),
  };
  for (let r = 0; r < replications; r++) {
    for (let i = 0; i < n; i++) drawn[i] = own[i][Math.floor(rand() * own[i].length)];
    const sides = family.sides.map((side, i) =>
      side.map((part, j) => ({
        claim: part.test.claim,
        statistic: part.test.statistic,
        samples: populations[i][j].map((xs) => Array.from(drawn, (q) => xs[q])),
      })),
    );
    const judged = judgeSides(sides, family.strata);
    const parts = judged.rows.flatMap((row) => row.parts);
    if (judged.rows.every((row) => row.outcome === "confirmed")) tally.confirmed++;
    if (judged.rows.some((row) => row.outcome === "rejected")) tally.rejected++;
    if (parts.some((p) => p.pReject <= FAMILY_ALPHA)) tally.unadjusted++;
    judged.rows.forEach((row, i) => {
      if (row.outcome === "confirmed") tally.sides[i].confirmed++;
      if (row.outcome === "rejected") tally.sides[i].rejected++;
    });
    parts.forEach((p, i) => {
      if (p.outcome === "confirmed") tally.parts[i].confirmed++;
      if (p.pRejectAdjusted <= FAMILY_ALPHA) tally.parts[i].rejected++;
      tally.parts[i].detectable += p.detectable;
    });
  }
  return tally;
}

/**
 * The simulation's seed for one scenario of one family, from their names (FNV-1a): the same family gives the same
 * prompt sets wherever it is calibrated, a full run or the test suite's snapshot of one cohort.
 */
export function seedFor(family: Pick<Family, "hypothesis" | "cohort">, scenario: string, base = 1): number {
  return fnv1a(`${family.hypothesis}/${family.cohort}/${scenario}`, 0x811c9dc5 ^ base);
}

/** A rate with its Monte Carlo standard error. */
export const rate = (count: number, replications: number) => {
  const p = count / replications;
  return { rate: p, mcError: Math.sqrt((p * (1 - p)) / replications) };
};

/** The most a rate at α may read over `replications` and still be α: two Monte Carlo standard errors above it. */
export const allowance = (alpha: number, replications: number) =>
  alpha + 2 * Math.sqrt((alpha * (1 - alpha)) / replications);
