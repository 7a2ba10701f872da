/**
 * The calibration in small (`npm run calibrate` runs it in full, test/calibrate/): the real cohort's families (TinyLlama
 * against its baselines), replicated on prompt sets drawn from one real run's per-prompt values
 * (test/calibrate/snapshot.json), each judged by the specs' own code. With every part at its bound a verdict must err in
 * the direction it states at most α of the time, within two Monte Carlo standard errors; a true value the printed
 * detectable effect inside its bound must be confirmed about 80% of the time.
 */
import { describe, expect, it } from "vitest";
import { mean } from "../probes/metrics.js";
import { bootstrapDistribution } from "../probes/statistics.js";
import { FAMILY_ALPHA } from "../hypotheses/family.js";
import { calibrateFamily, type Calibrated } from "./calibrate/calibrate.js";
import { specFamilies, type Family } from "./calibrate/families.js";
import { allowance, placements, replicate, seedFor } from "./calibrate/simulate.js";
import { differences, judgedSides, readSnapshot } from "./calibrate/source.js";

const snapshot = readSnapshot();
const families = specFamilies(snapshot.results, snapshot.strata);
const family = (hypothesis: string): Family =>
  families.find((f) => f.hypothesis === hypothesis && f.cohort === "real")!;

/** The bootstrap as it was first written: a fresh index array and fresh resampled arrays each resample, then sorted. */
function plainBootstrap(
  samples: readonly (readonly number[])[],
  statistic: (resampled: number[][]) => number,
  { resamples, seed }: { resamples: number; seed: number },
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

describe("the calibration's ground: the specs' own judging, bootstrapped as before", () => {
  it("judges the snapshot's rows as its run's report printed them, interval and p-value for every tested side", () => {
    expect(snapshot.printed.length).toBe(families.reduce((n, f) => n + f.sides.length, 0));
    expect(differences(snapshot.printed, judgedSides(families))).toEqual([]);
  });

  it("bootstraps exactly as the plain draw-and-sort does: a kept index table, reused arrays and a native sort change no number", () => {
    const xs = Array.from({ length: 33 }, (_, i) => Math.exp(Math.sin(1 + 2.3 * i)));
    const ys = Array.from({ length: 33 }, (_, i) => 1 + Math.cos(0.7 * i) ** 2);
    const big = Array.from({ length: 700 }, (_, i) => Math.sin(i));
    const cases: [number[][], (r: number[][]) => number, number][] = [
      [[xs], ([x]) => mean(x), 10_000],
      [[xs, ys], ([x, y]) => mean(x) / mean(y), 3_000],
      // A statistic that sorts its arrays in place: each resample is refilled before it is read.
      [[xs], ([x]) => x.sort((a, b) => a - b)[16], 2_000],
      // A table of 700 × 7,000 indices is too large to keep: drawn resample by resample.
      [[big], ([x]) => mean(x), 7_000],
      // NaN and −0 make (a, b) => a − b no order: sorted by it, as before.
      [[xs], ([x]) => (x[0] > 2 ? NaN : x[1] > 2 ? -0 : mean(x)), 2_000],
    ];
    for (const [samples, statistic, resamples] of cases)
      for (const seed of [20240501, 7])
        expect(bootstrapDistribution(samples, statistic, { resamples, seed })).toEqual(
          plainBootstrap(samples, statistic, { resamples, seed }),
        );
  });
});

describe("the real cohort's verdicts at their bounds and at the detectable effect, simulated on its own prompts", () => {
  const settings = { replications: 1000, power: 300, curve: 0, at: [], seed: 1 };
  const limit = allowance(FAMILY_ALPHA, settings.replications);
  const calibrated = new Map<string, Calibrated>();
  const of = (hypothesis: string) => {
    if (!calibrated.has(hypothesis)) calibrated.set(hypothesis, calibrateFamily(family(hypothesis), settings));
    return calibrated.get(hypothesis)!;
  };

  for (const hypothesis of ["silent-exit", "entropy-efficiency", "attention-sink"]) {
    it(`${hypothesis}: every row at its bound, the family is rejected falsely at most α`, () => {
      expect(of(hypothesis).false_rejected).toBeLessThanOrEqual(limit);
    });
    it(`${hypothesis}: every row at its bound, the family is confirmed falsely at most α`, () => {
      expect(of(hypothesis).false_confirmed).toBeLessThanOrEqual(limit);
    });
    it(`${hypothesis}: a true value the printed detectable effect inside its bound is confirmed 65–95% of the time`, () => {
      expect(of(hypothesis).power).toBeGreaterThanOrEqual(0.65);
      expect(of(hypothesis).power).toBeLessThanOrEqual(0.95);
    });
  }

  it("residual-explosion: its 26 tests at their bounds, Holm rejects falsely at most α, where rejecting on any unadjusted p ≤ α far exceeds it", () => {
    const replications = 100;
    const f = family("residual-explosion");
    expect(f.sides.flat().length).toBe(26);
    const atBound = replicate(f, placements(f).parts, (p) => p.bound, { replications, seed: seedFor(f, "test") });
    const bound = allowance(FAMILY_ALPHA, replications);
    expect(atBound.confirmed / replications).toBeLessThanOrEqual(bound);
    expect(atBound.rejected / replications).toBeLessThanOrEqual(bound);
    // The check can fail: the same replications judged without Holm reject falsely far more than α of the time.
    expect(atBound.unadjusted / replications).toBeGreaterThan(bound);
  });
});
