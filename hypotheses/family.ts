/**
 * A hypothesis' predictions judged as one family: every row whose claim rests
 * on a bootstrap over prompts is a test, and the tests of one cohort (real
 * models, or the synthetic analogs that check the harness) are Holm-adjusted
 * together at the level criteria.ts sets. Each row's interval is then taken at
 * its adjusted level and decides it: inside the claim, confirmed; entirely
 * outside, rejected; straddling, inconclusive, with the smallest effect the
 * prompt set could resolve beside it.
 *
 * Holm needs every p-value of the family before it can judge any one, so a
 * spec plans its predictions when it is collected (`family.plan`) and each
 * `it` judges its own (`family.judge`); the first to run computes them all.
 */
import type { TestContext } from "vitest";
import { cohort, type Cohort, type Prediction, type PredictionRow } from "../contract/prediction.js";
import { bootstrapP, holm, judgeClaim, type Claim } from "../probes/statistics.js";
import { BOOTSTRAP } from "./criteria.js";
import { judge, probeRun } from "./roles.js";

/** A row's claim on its statistic, with the statistic's sorted bootstrap distribution over prompts. */
export interface RowTest {
  claim: Claim;
  distribution: number[];
}

/** A row as a spec builds it: decided already (a weight measure, a layer index), or by its test. */
export type RowBody = Omit<PredictionRow, "passed" | "subject" | "baseline"> &
  ({ passed: boolean } | { test: RowTest });
export type PlannedRow = Pick<PredictionRow, "subject" | "baseline"> & RowBody;
export type PlannedPrediction = Omit<Prediction, "passed" | "rows"> & { rows: PlannedRow[] };
type Planned = PlannedPrediction | { skip: string };
type Settled = Prediction | { skip: string } | { error: unknown };

/** The family-wise significance level: what the CI level of criteria.ts leaves. */
export const FAMILY_ALPHA = 1 - BOOTSTRAP.level;

export function family() {
  const plans: (() => Planned)[] = [];
  let settled: Settled[] | undefined;

  function settle(): Settled[] {
    const got = plans.map((plan): PlannedPrediction | Settled => {
      try {
        return plan();
      } catch (error) {
        return { error };
      }
    });
    const results = probeRun().results;
    const cohortOf = (id: string): Cohort => {
      const r = results.find((x) => x.id === id);
      return r ? cohort(r) : "real";
    };
    const decided: PredictionRow[][] = got.map((g) =>
      "rows" in g ? g.rows.map((r) => ("test" in r ? { ...withoutTest(r), passed: false } : r)) : [],
    );
    const tests = got.flatMap((g, i) =>
      "rows" in g
        ? g.rows.flatMap((r, j) =>
            "test" in r && Number.isFinite(r.value) && r.test.distribution.every(Number.isFinite)
              ? [{ i, j, test: r.test, cohort: cohortOf(r.subject), p: bootstrapP(r.test.distribution, r.test.claim) }]
              : [],
          )
        : [],
    );
    for (const c of ["real", "synthetic"] as const) {
      const mine = tests.filter((t) => t.cohort === c);
      const h = holm(
        mine.map((t) => t.p),
        FAMILY_ALPHA,
      );
      mine.forEach((t, k) => {
        const j = judgeClaim(t.test.distribution, t.test.claim, h.levels[k]);
        // The step-down stops at the first miss: an interval inside its claim after that is not enough.
        const outcome = j.outcome === "confirmed" && !h.rejected[k] ? "inconclusive" : j.outcome;
        Object.assign(decided[t.i][t.j], {
          ci: j.ci,
          level: j.level,
          p: j.p,
          pAdjusted: h.adjusted[k],
          tests: mine.length,
          passed: outcome === "confirmed",
          inconclusive: outcome === "inconclusive" || undefined,
          detectable: j.detectable,
        });
      });
    }
    // A test whose numbers are not finite gets an interval that says so: judge() makes it inconclusive.
    for (const t of got.flatMap((g, i) => ("rows" in g ? g.rows.map((r, j) => ({ r, i, j })) : [])))
      if ("test" in t.r && !tests.some((x) => x.i === t.i && x.j === t.j)) decided[t.i][t.j].ci = [NaN, NaN];
    return got.map((g, i) =>
      "rows" in g && !("error" in g) ? { ...g, rows: decided[i], passed: decided[i].every((r) => r.passed) } : g,
    ) as Settled[];
  }

  return {
    /** A prediction to judge in this family; call while the describe is collected, before any test runs. */
    plan(p: () => Planned): number {
      plans.push(p);
      return plans.length - 1;
    },
    /** Judges planned prediction `i` in its test: its error, its skip, or its rows at their adjusted levels. */
    judge(ctx: Pick<TestContext, "task" | "skip">, i: number): void {
      settled ??= settle();
      const s = settled[i];
      if ("error" in s) throw s.error;
      if ("skip" in s) return ctx.skip(s.skip);
      judge(ctx, s);
    },
  };
}

const withoutTest = ({ test: _t, ...row }: PlannedRow & { test: RowTest }) => row;
