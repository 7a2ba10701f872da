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
import { cohort, COHORTS, type Cohort, type Prediction, type PredictionRow } from "../contract/prediction.js";
import { rowVerdict } from "../contract/verdict.js";
import { bootstrapP, holm, judgeClaim, type Claim } from "../probes/statistics.js";
import { BOOTSTRAP } from "./criteria.js";
import { judge, probeRun } from "./roles.js";

/** A row's claim on its statistic, with the statistic's sorted bootstrap distribution over prompts. */
export interface RowTest {
  claim: Claim;
  distribution: number[];
}

/** One side of a row as a spec builds it: decided already (a weight measure, a layer index), or by its test. */
type Side = { value: number; detail?: string } & ({ passed: boolean } | { test: RowTest });
/** A row as a spec builds it; `control` is the same claim without position 0, judged beside it. */
export type RowBody = Side & { control?: Side };
export type PlannedRow = Pick<PredictionRow, "subject" | "baseline"> & RowBody;
export type PlannedPrediction = Omit<Prediction, "passed" | "rows"> & { rows: PlannedRow[] };
type Settled = Prediction | { error: unknown };

/** The family-wise significance level: what the CI level of criteria.ts leaves. */
export const FAMILY_ALPHA = 1 - BOOTSTRAP.level;

export function family() {
  const plans: (() => PlannedPrediction)[] = [];
  let settled: Settled[] | undefined;

  function settle(): Settled[] {
    const got = plans.map((plan): PlannedPrediction | { error: unknown } => {
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
    // Every side of every row, decided where it came decided; a test's side waits for its cohort's Holm levels, which
    // are written into the row (or its control) itself.
    type Decided = Omit<PredictionRow, "subject" | "baseline" | "cohort" | "control">;
    const sides: { side: Side; decided: Decided; cohort: Cohort }[] = [];
    const decide = <T extends object>(side: Side, c: Cohort, into: T): T & Decided => {
      const { test: _t, ...plain } = side as Side & { test?: RowTest };
      const decided = Object.assign(into, { passed: false }, plain);
      sides.push({ side, decided, cohort: c });
      return decided;
    };
    const rows: PredictionRow[][] = got.map((g) =>
      "rows" in g
        ? g.rows.map(({ control, ...r }) => {
            const c = cohortOf(r.subject);
            const row: PredictionRow = decide(r, c, { subject: r.subject, cohort: c });
            if (control) row.control = decide(control, c, {});
            return row;
          })
        : [],
    );
    const tests: ((typeof sides)[number] & { test: RowTest; p: number })[] = [];
    for (const x of sides) {
      if (!("test" in x.side)) continue;
      const { value, test } = x.side;
      if (Number.isFinite(value) && test.distribution.every(Number.isFinite))
        tests.push({ ...x, test, p: bootstrapP(test.distribution, test.claim) });
      // A test whose numbers are not finite gets an interval that says so: its row cannot be judged.
      else x.decided.ci = [NaN, NaN];
    }
    for (const c of COHORTS) {
      const mine = tests.filter((t) => t.cohort === c);
      const h = holm(
        mine.map((t) => t.p),
        FAMILY_ALPHA,
      );
      mine.forEach((t, k) => {
        const j = judgeClaim(t.test.distribution, t.test.claim, h.levels[k]);
        // The step-down stops at the first miss: an interval inside its claim after that is not enough.
        const outcome = j.outcome === "confirmed" && !h.rejected[k] ? "inconclusive" : j.outcome;
        Object.assign(t.decided, {
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
    return got.map((g, i) =>
      "rows" in g ? { ...g, rows: rows[i], passed: rows[i].every((r) => rowVerdict(r) === "confirmed") } : g,
    );
  }

  return {
    /** A prediction to judge in this family; call while the describe is collected, before any test runs. */
    plan(p: () => PlannedPrediction): number {
      plans.push(p);
      return plans.length - 1;
    },
    /** Judges planned prediction `i` in its test: its error, or its rows at their adjusted levels. */
    judge(ctx: Pick<TestContext, "task" | "skip">, i: number): void {
      settled ??= settle();
      const s = settled[i];
      if ("error" in s) throw s.error;
      judge(ctx, s);
    },
  };
}
