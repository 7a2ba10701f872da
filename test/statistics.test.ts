import { describe, expect, it } from "vitest";
import { mean } from "../probes/metrics.js";
import {
  bootstrap,
  bootstrapDistribution,
  confirmationP,
  equivalence,
  holm,
  interval,
  judgeClaim,
  judgeFamily,
  judgeInterval,
  normalCdf,
  normalQuantile,
  percentileInterval,
  rejectionP,
  studentCdf,
  type Claim,
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
    expect(j.level).toBe(0.9);
  });

  it("is inconclusive for one whose interval straddles 1.1", () => {
    const j = equivalence(meanDistribution(planted(1.1)), MARGIN, 0.05);
    expect(j.ci[0]).toBeLessThan(1.1);
    expect(j.ci[1]).toBeGreaterThan(1.1);
    expect(j.outcome).toBe("inconclusive");
    expect(j.p).toBeGreaterThan(0.05);
  });

  it("rejects one at 1.3, with evidence against it that is small but never 0", () => {
    const d = meanDistribution(planted(1.3));
    const j = equivalence(d, MARGIN, 0.05);
    expect(j.outcome).toBe("rejected");
    expect(j.p).toBe(1);
    expect(j.pReject).toBe(1 / (1 + d.length));
  });

  it("decides as its (1 − 2α) interval does: each side a one-sided test at α", () => {
    for (const centre of [0.88, 0.9, 0.95, 1.05, 1.09, 1.1, 1.12])
      for (const alpha of [0.05, 0.0125, 0.1]) {
        const d = meanDistribution(planted(centre, 0.08));
        for (const claim of [{ within: MARGIN }, { atLeast: 1 }, { below: 1 }] as Claim[]) {
          const j = judgeClaim(d, claim, alpha);
          expect(j.ci).toEqual(percentileInterval(d, 1 - 2 * alpha));
          // The count the interval leaves out is ⌊αB⌋; (1 + count)/(1 + B) ≤ α within one resample of it.
          const within = (confirmationP(d, claim) * (1 + d.length) - 1) / d.length;
          if (j.outcome === "confirmed")
            expect(within, `${centre} ${alpha} ${JSON.stringify(claim)}`).toBeLessThanOrEqual(alpha);
        }
      }
  });

  it("never gives a p of 0, and says how far Monte Carlo error moves it", () => {
    const d = meanDistribution(planted(2));
    for (const claim of [{ within: MARGIN }, { atLeast: 1 }, { below: 1 }] as Claim[]) {
      expect(confirmationP(d, claim)).toBeGreaterThan(0);
      expect(rejectionP(d, claim)).toBeGreaterThan(0);
    }
    const j = judgeClaim(d, { atLeast: 1 }, 0.05);
    expect(j.mcError.p).toBeCloseTo(Math.sqrt((j.p * (1 - j.p)) / d.length), 15);
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

  it("widens the interval as α tightens, and states power as the effect detected 80% of the time", () => {
    const d = meanDistribution(planted(1.02));
    const [at05, at01] = [judgeClaim(d, { atLeast: 1 }, 0.05), judgeClaim(d, { atLeast: 1 }, 0.01)];
    expect(at01.ci[1] - at01.ci[0]).toBeGreaterThan(at05.ci[1] - at05.ci[0]);
    // (z₀.₉₅ + z₀.₈) standard errors: 1.645 + 0.842 = 2.49, 1.51× the one-sided 95% half-width's 1.645.
    const xs = planted(1.02);
    const se = Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / xs.length / xs.length);
    expect(at05.detectable / (2.486 * se)).toBeGreaterThan(0.9);
    expect(at05.detectable / (2.486 * se)).toBeLessThan(1.1);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536, 6);
    expect(normalQuantile(0.8)).toBeCloseTo(0.8416212, 6);
    expect(normalQuantile(0.0025)).toBeCloseTo(-2.8070338, 6);
  });

  it("gives an equivalence row the smallest margin its data would confirm", () => {
    const j = equivalence(meanDistribution(planted(1.05, 0.3)), MARGIN, 0.05);
    expect(j.outcome).toBe("inconclusive");
    expect(j.margin).toBeCloseTo(Math.max(j.ci[1] - 1, 1 - j.ci[0]), 12);
    expect(j.margin).toBeGreaterThan(0.1);
  });
});

describe("an interval right at a few dozen prompts: BCa, expanded by Student's t", () => {
  it("reads Student's t and the normal distribution as the tables do", () => {
    // Two-sided 95% points of t (any table): ν = 1, 2, 9, 32.
    for (const [nu, t] of [
      [1, 12.7062047],
      [2, 4.3026527],
      [9, 2.2621572],
      [32, 2.0369333],
    ])
      expect(studentCdf(t, nu)).toBeCloseTo(0.975, 7);
    expect(studentCdf(-2.0369333, 32)).toBeCloseTo(0.025, 7);
    for (const p of [1e-6, 0.0025, 0.05, 0.5, 0.8, 0.999]) expect(normalCdf(normalQuantile(p)) / p).toBeCloseTo(1, 6);
  });

  it("takes a mean's acceleration as the jackknife's closed form, and its bias from the share below the estimate", () => {
    const xs = Array.from({ length: 33 }, (_, i) => Math.exp(1.5 * Math.sin(1 + 2.3 * i)));
    const d = bootstrap([xs], ([x]) => mean(x), { resamples: 4000 });
    // For a mean the jackknife values are x̄ − (xᵢ − x̄)/(n − 1), so a = Σ(xᵢ − x̄)³ / (6 (Σ(xᵢ − x̄)²)^{3/2}).
    const m = mean(xs);
    const [m3, m2] = [3, 2].map((k) => xs.reduce((a, x) => a + (x - m) ** k, 0));
    expect(d.acceleration).toBeCloseTo(m3 / (6 * m2 ** 1.5), 12);
    expect(d.acceleration).toBeGreaterThan(0.01);
    const share = d.sorted.filter((v) => v < m).length / d.sorted.length;
    expect(d.bias).toBeCloseTo(normalQuantile(share), 3);
    expect(d.n).toBe(33);
  });

  it("gives a symmetric sample the Student t interval, where the plain percentile one is narrower", () => {
    const xs = Array.from({ length: 33 }, (_, i) => normalQuantile((i + 0.5) / 33));
    const d = bootstrap([xs], ([x]) => mean(x), { resamples: 20_000 });
    const m = mean(xs);
    const s = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / 32);
    // t₃₂ at 0.95: the one-sided 5% point each side of the 90% interval.
    const half = (1.6938887 * s) / Math.sqrt(33);
    const [lo, hi] = interval(d, 0.9);
    expect((hi - lo) / 2 / half).toBeGreaterThan(0.98);
    expect((hi - lo) / 2 / half).toBeLessThan(1.02);
    const [plo, phi] = percentileInterval(d.sorted, 0.9);
    expect((phi - plo) / 2 / half).toBeLessThan(0.98);
  });

  it("moves a right-skewed statistic's interval right of the percentile one, as BCa must", () => {
    const xs = Array.from({ length: 33 }, (_, i) => Math.exp(1.5 * Math.sin(1 + 2.3 * i)));
    const d = bootstrap([xs], ([x]) => mean(x), { resamples: 20_000 });
    const [lo, hi] = interval(d, 0.9);
    const [plo, phi] = percentileInterval(d.sorted, 0.9);
    const m = mean(xs);
    // The upper end moves out farther than the lower end does: the skewed side is the long one.
    expect(hi - phi).toBeGreaterThan(0);
    expect(hi - m).toBeGreaterThan(m - lo);
    expect(hi - phi).toBeGreaterThan(Math.abs(plo - lo));
  });

  it("decides as its interval does, one resample either way, in every direction", () => {
    const xs = Array.from({ length: 33 }, (_, i) => Math.exp(1.5 * Math.sin(1 + 2.3 * i)));
    const d = bootstrap([xs], ([x]) => mean(x), { resamples: 10_000 });
    const [lo, hi] = interval(d, 0.9);
    const step = (hi - lo) / 200;
    for (let c = lo - 20 * step; c <= hi + 20 * step; c += step)
      for (const claim of [{ atLeast: c }, { below: c }, { within: [c, c + (hi - lo) * 1.2] }] as Claim[]) {
        const j = judgeClaim(d, claim, 0.05);
        const [p, pr] = [confirmationP(d, claim), rejectionP(d, claim)];
        // Away from the interval's ends by more than a resample's width, p and interval agree.
        const near = (x: number) => Math.abs(x - lo) < 2 * step || Math.abs(x - hi) < 2 * step;
        const edges = "within" in claim ? claim.within : [c];
        if (edges.some(near)) continue;
        expect(j.outcome === "confirmed", `${JSON.stringify(claim)} p ${p}`).toBe(p <= 0.05);
        expect(j.outcome === "rejected", `${JSON.stringify(claim)} p ${pr}`).toBe(pr <= 0.05);
      }
  });
});

describe("a bootstrap within strata: each resample keeps the sample's mix", () => {
  // Three kinds of prompt whose values differ by kind: 12, 9 and 12 of them.
  const kinds = Array.from({ length: 33 }, (_, i) => (i < 12 ? "a" : i < 21 ? "b" : "c"));
  const centre = { a: 1, b: 5, c: 9 } as Record<string, number>;
  const xs = kinds.map((k, i) => centre[k] + 0.3 * Math.sin(1 + 2.3 * i));

  it("is the plain bootstrap, number for number, where every prompt is of one kind", () => {
    const one = bootstrapDistribution([xs], ([x]) => mean(x), { resamples: 3000, strata: xs.map(() => "same") });
    expect(one).toEqual(bootstrapDistribution([xs], ([x]) => mean(x), { resamples: 3000 }));
  });

  it("draws every prompt of a resample from its own kind", () => {
    const counts = bootstrapDistribution([kinds.map((k) => (k === "b" ? 1 : 0))], ([x]) => x.reduce((a, v) => a + v), {
      resamples: 2000,
      strata: kinds,
    });
    expect(new Set(counts)).toEqual(new Set([9]));
  });

  it("spreads as the stratified standard error does, and widens its interval by Student's t at n − H", () => {
    const d = bootstrap([xs], ([x]) => mean(x), { resamples: 20_000, strata: kinds });
    expect(d.strata).toBe(3);
    // The stratified mean's variance: Σ (nₕ/n)² sₕ²/nₕ, sₕ² the plug-in (1/nₕ) variance for the bootstrap's.
    const groups = ["a", "b", "c"].map((k) => xs.filter((_, i) => kinds[i] === k));
    const variance = (plugIn: boolean) =>
      groups.reduce((a, g) => {
        const m = mean(g);
        const s2 = g.reduce((b, x) => b + (x - m) ** 2, 0) / (plugIn ? g.length : g.length - 1);
        return a + (g.length / 33) ** 2 * (s2 / g.length);
      }, 0);
    const sd = Math.sqrt(d.sorted.reduce((a, v) => a + (v - mean(d.sorted)) ** 2, 0) / d.sorted.length);
    expect(sd / Math.sqrt(variance(true))).toBeGreaterThan(0.97);
    expect(sd / Math.sqrt(variance(false))).toBeLessThan(1);
    // Unpooled, the same prompts would spread by the kinds' differences: several times wider.
    expect(spreadOf(bootstrapDistribution([xs], ([x]) => mean(x), { resamples: 4000 })) / sd).toBeGreaterThan(5);
    // t₃₀ at 0.95 = 1.6972609 times the unbiased stratified standard error: the interval's half-width.
    const [lo, hi] = interval(d, 0.9);
    const half = 1.6972609 * Math.sqrt(variance(false));
    expect((hi - lo) / 2 / half).toBeGreaterThan(0.97);
    expect((hi - lo) / 2 / half).toBeLessThan(1.03);
  });
});

const spreadOf = (xs: readonly number[]) => {
  const m = mean([...xs]);
  return Math.sqrt(xs.reduce((a, v) => a + (v - m) ** 2, 0) / xs.length);
};

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

describe("a family judged in the direction each verdict needs", () => {
  /** n prompts drawn from N(centre, sd²) by a seeded generator: a row whose true mean is known. */
  const draw = (seed: number, centre: number, sd = 1, n = 30) => {
    let s = seed >>> 0;
    const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) + 0.5) / 4294967296;
    return Array.from({ length: n }, () => centre + sd * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
  };
  const rowAt = (seed: number, centre: number, resamples = 2000) => [
    {
      claim: { atLeast: 0 } as Claim,
      distribution: bootstrapDistribution([draw(seed, centre)], ([x]) => mean(x), { resamples, seed }),
    },
  ];

  it("rejects four rows at their bound falsely at most 5% of the time: Holm on the rejection-direction p-values", () => {
    const reps = 400;
    let falseRejections = 0,
      unadjusted = 0;
    for (let r = 0; r < reps; r++) {
      const family = judgeFamily(
        [0, 1, 2, 3].map((k) => rowAt(1000 * r + k + 1, 0)),
        0.05,
      );
      if (family.rows.some((x) => x.outcome === "rejected")) falseRejections++;
      if (family.rows.some((x) => x.parts[0].pReject <= 0.05)) unadjusted++;
    }
    const bound = 0.05 + 2 * Math.sqrt((0.05 * 0.95) / reps);
    expect(falseRejections / reps).toBeLessThanOrEqual(bound);
    // Each row at α, unadjusted, would reject about 1 − 0.95⁴ ≈ 19% of the time: the check can fail.
    expect(unadjusted / reps).toBeGreaterThan(bound);
  });

  it("confirms a row at α with no adjustment for the rows beside it (an intersection–union test)", () => {
    const alone = judgeFamily([rowAt(7, 0.45)], 0.05).rows[0];
    const among = judgeFamily([rowAt(7, 0.45), rowAt(8, 5), rowAt(9, 5), rowAt(10, 5)], 0.05).rows[0];
    expect(alone.outcome).toBe("confirmed");
    expect(among.outcome).toBe(alone.outcome);
    expect(among.parts[0].ci).toEqual(alone.parts[0].ci);
  });

  it("rejects a row one of whose layers lies clearly outside, though another layer's median lies farther out", () => {
    // Layer A: 29 prompts at 1.0 and 4 at 3.475 (mean 1.3, CI about [1.08, 1.6]); layer B: every prompt near 1.25.
    const a = [...Array(29).fill(1.0), ...Array(4).fill(3.475)];
    const b = Array.from({ length: 33 }, (_, i) => 1.25 + 0.03 * Math.sin(1 + 2.3 * i));
    const near: Claim = { within: MARGIN };
    const part = (xs: number[]) => ({ claim: near, distribution: meanDistribution(xs) });
    const row = judgeFamily([[part(a), part(b)]], 0.05).rows[0];
    expect(row.outcome).toBe("rejected");
    expect(row.shown).toBe(1);
  });

  it("shows an open row by its weakest part, ordered by evidence that does not saturate", () => {
    const parts = [planted(1.0), planted(1.09), planted(1.02)].map((xs) => ({
      claim: { within: MARGIN } as Claim,
      distribution: meanDistribution(xs),
    }));
    const row = judgeFamily([parts], 0.05).rows[0];
    expect(row.outcome).toBe("inconclusive");
    expect(row.shown).toBe(1);
  });
});
