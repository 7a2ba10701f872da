import { describe, expect, it } from "vitest";
import { mean } from "../probes/metrics.js";
import {
  bootstrapDistribution,
  bootstrapP,
  equivalence,
  holm,
  judgeClaim,
  judgeInterval,
  percentileInterval,
  weakest,
} from "../probes/statistics.js";

/** 32 prompts' values around `centre`, spread ±`spread` by a fixed pattern: a planted truth with known mean. */
const planted = (centre: number, spread = 0.05, n = 32) =>
  Array.from({ length: n }, (_, i) => centre + spread * Math.sin(1 + 2.3 * i));
const meanDistribution = (xs: number[]) => bootstrapDistribution([xs], ([x]) => mean(x));
const MARGIN: [number, number] = [0.9, 1.1];

describe("equivalence by two one-sided tests, bootstrap over prompts", () => {
  it("confirms a mean middle gain of 1.02 within a ±0.1 margin", () => {
    const j = equivalence(meanDistribution(planted(1.02)), MARGIN, 0.05);
    expect(j.outcome).toBe("confirmed");
    expect(j.ci[0]).toBeGreaterThan(0.9);
    expect(j.ci[1]).toBeLessThan(1.1);
    expect(j.p).toBeLessThanOrEqual(0.05);
  });

  it("is inconclusive for one whose interval straddles 1.1", () => {
    const j = equivalence(meanDistribution(planted(1.1)), MARGIN, 0.05);
    expect(j.ci[0]).toBeLessThan(1.1);
    expect(j.ci[1]).toBeGreaterThan(1.1);
    expect(j.outcome).toBe("inconclusive");
    expect(j.p).toBeGreaterThan(0.05);
  });

  it("rejects one at 1.3", () => {
    const j = equivalence(meanDistribution(planted(1.3)), MARGIN, 0.05);
    expect(j.outcome).toBe("rejected");
    expect(j.p).toBe(1);
  });

  it("decides as its interval does: p ≤ α exactly when the (1 − α) interval lies on the claimed side", () => {
    for (const centre of [0.88, 0.9, 0.95, 1.05, 1.09, 1.1, 1.12])
      for (const alpha of [0.05, 0.0125, 0.2]) {
        const d = meanDistribution(planted(centre, 0.08));
        for (const claim of [{ within: MARGIN }, { atLeast: 1 }, { below: 1 }]) {
          const j = judgeClaim(d, claim, alpha);
          expect(j.outcome === "confirmed", `${centre} ${alpha} ${JSON.stringify(claim)}`).toBe(
            bootstrapP(d, claim) <= alpha,
          );
        }
      }
  });

  it("leaves as many resamples out above the interval as below it", () => {
    const sorted = Array.from({ length: 2000 }, (_, i) => i);
    // α = 0.05: 50 below and 50 above (the first 50 and the last 50), not 50 and 49.
    expect(percentileInterval(sorted, 0.95)).toEqual([50, 1949]);
    expect(percentileInterval(sorted, 0.975)).toEqual([25, 1974]);
  });

  it("never passes or fails an interval that is not finite", () => {
    expect(judgeInterval([NaN, 1], { within: MARGIN })).toBe("inconclusive");
    expect(judgeInterval([0.95, Infinity], { atLeast: 0.5 })).toBe("inconclusive");
  });

  it("widens the interval as the level tightens, and states power as its half-width", () => {
    const d = meanDistribution(planted(1.02));
    const [at95, at99] = [judgeClaim(d, { within: MARGIN }, 0.05), judgeClaim(d, { within: MARGIN }, 0.01)];
    expect(at99.ci[1] - at99.ci[0]).toBeGreaterThan(at95.ci[1] - at95.ci[0]);
    expect(at95.detectable).toBeCloseTo((at95.ci[1] - at95.ci[0]) / 2, 12);
    // The half-width of a mean's 95% interval is about 1.96 standard errors.
    const xs = planted(1.02);
    const se = Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / xs.length / xs.length);
    expect(at95.detectable / (1.96 * se)).toBeGreaterThan(0.85);
    expect(at95.detectable / (1.96 * se)).toBeLessThan(1.15);
    expect(percentileInterval(d, 0.95)).toEqual(at95.ci);
  });
});

describe("Holm–Bonferroni step-down", () => {
  it("gives the textbook example exactly: p = 0.01, 0.04, 0.03, 0.005 at α = 0.05 reject the first and the fourth", () => {
    // Wikipedia, "Holm–Bonferroni method", Example: sorted 0.005, 0.01, 0.03, 0.04 are compared with
    // 0.05/4 = 0.0125, 0.05/3 ≈ 0.0167, 0.05/2 = 0.025, 0.05/1: 0.005 and 0.01 are rejected, 0.03 is not, and the procedure stops.
    const h = holm([0.01, 0.04, 0.03, 0.005], 0.05);
    expect(h.rejected).toEqual([true, false, false, true]);
    expect(h.levels).toEqual([0.05 / 3, 0.05 / 1, 0.05 / 2, 0.05 / 4]);
    // Adjusted: 4 × 0.005 = 0.02, 3 × 0.01 = 0.03, 2 × 0.03 = 0.06, max(1 × 0.04, 0.06) = 0.06.
    expect(h.adjusted.map((p) => +p.toFixed(12))).toEqual([0.03, 0.06, 0.06, 0.02]);
  });

  it("stops at the first miss: a later p under its own level is not rejected", () => {
    // 0.03 misses 0.05/2; 0.04 would meet 0.05/1 alone, but the step-down has stopped.
    expect(holm([0.03, 0.04], 0.05).rejected).toEqual([false, false]);
    expect(holm([0.02, 0.04], 0.05).rejected).toEqual([true, true]);
  });

  it("is the unadjusted test for a family of one", () => {
    expect(holm([0.04], 0.05)).toEqual({ adjusted: [0.04], levels: [0.05], rejected: [true] });
  });
});

describe("an intersection–union claim (every part must hold)", () => {
  it("is judged on its weakest part", () => {
    const parts = [planted(1.0), planted(1.09), planted(1.02)].map(meanDistribution);
    expect(weakest(parts, { within: MARGIN })).toBe(1);
    const far = [planted(1.3), planted(1.5), planted(1.0)].map(meanDistribution);
    expect(weakest(far, { within: MARGIN })).toBe(1);
  });
});
