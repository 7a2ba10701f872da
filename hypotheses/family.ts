/**
 * A hypothesis' predictions judged as one family (probes/statistics.ts
 * judgeFamily): every row whose claim rests on a bootstrap over prompts is a
 * test, and the tests of one cohort (real models, or the synthetic analogs that
 * check the harness) are judged together at the α criteria.ts sets. A row is
 * confirmed when its (1 − 2α) interval lies on the claimed side (each row at α:
 * confirming needs every row, an intersection–union test); rejected when Holm
 * across the family's rejection-direction p-values rejects it (rejecting needs
 * any one row, a union of tests); otherwise inconclusive, with the effect the
 * prompts detect at 80% power beside it.
 *
 * Holm needs every p-value of the family before it can judge any one, so a
 * spec plans its predictions when it is collected (`family.plan`) and each
 * `it` judges its own (`family.judge`); the first to run computes them all.
 */
import type { TestContext } from "vitest";
import { cohort, COHORTS, type Cohort, type Prediction, type PredictionRow } from "../contract/prediction.js";
import { rowVerdict } from "../contract/verdict.js";
import { bootstrap, judgeFamily, resamplesFor, type Claim } from "../probes/statistics.js";
import { BOOTSTRAP, MIN_PROMPTS } from "./criteria.js";
import { judge, probeRun } from "./roles.js";

/**
 * A row's claim on a statistic of the prompts' values: the family bootstraps it over prompts (every sample
 * resampled jointly) once it knows how many tests share the family, and so how many resamples the tails need.
 */
export interface RowTest {
  claim: Claim;
  samples: number[][];
  statistic: (resampled: number[][]) => number;
}

/** A part of a row that must hold with every other (a middle layer): its value, what it is, and its test. */
export interface RowPart {
  value: number;
  detail?: string;
  test: RowTest;
}

/** One side of a row as a spec builds it: decided already (a weight measure, a layer index), by its test, or by parts. */
type Side = { value: number; detail?: string } & ({ passed: boolean } | { test: RowTest } | { parts: RowPart[] });
/** A row as a spec builds it; `control` is the same claim without position 0, judged beside it. */
export type RowBody = Side & { control?: Side };
export type PlannedRow = Pick<PredictionRow, "subject" | "baseline"> & RowBody;
export type PlannedPrediction = Omit<Prediction, "passed" | "rows"> & { rows: PlannedRow[] };
type Settled = Prediction | { error: unknown };

/** The family-wise significance level criteria.ts sets. */
export const FAMILY_ALPHA = BOOTSTRAP.alpha;

const partsOf = (side: Side): RowPart[] | undefined =>
  "parts" in side
    ? side.parts
    : "test" in side
      ? [{ value: side.value, detail: side.detail, test: side.test }]
      : undefined;

/**
 * A cohort's tested sides (each one or more parts) judged as one family: resamples enough for its smallest Holm tail,
 * every part bootstrapped with the run's seed, within the prompt set's strata (each prompt's kind: a corpus sample's
 * genre) where given, then judgeFamily at the family-wise α. The calibration run judges its simulated prompt sets
 * with this same function.
 */
export function judgeTests(sides: readonly (readonly RowTest[])[], strata?: readonly string[]) {
  const m = sides.reduce((n, parts) => n + parts.length, 0);
  const resamples = resamplesFor(m, FAMILY_ALPHA, BOOTSTRAP.resamples);
  return judgeFamily(
    sides.map((parts) =>
      parts.map((t) => {
        if (strata && t.samples.some((xs) => xs.length !== strata.length))
          throw new Error(`a test over ${t.samples[0].length} prompts, in a prompt set of ${strata.length}`);
        return {
          claim: t.claim,
          distribution: bootstrap(t.samples, t.statistic, { resamples, seed: BOOTSTRAP.seed, strata }),
        };
      }),
    ),
    FAMILY_ALPHA,
  );
}

/** A test's statistic on each kind's prompts alone, kinds in the prompt set's order; none where there is one kind. */
function kindValues(test: RowTest, kinds: readonly string[]): Record<string, number> | undefined {
  const names = [...new Set(kinds)];
  if (names.length < 2) return undefined;
  return Object.fromEntries(
    names.map((k) => [k, test.statistic(test.samples.map((xs) => xs.filter((_, i) => kinds[i] === k)))]),
  );
}

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
    const { results, promptSet } = probeRun();
    const cohortOf = (id: string): Cohort => {
      const r = results.find((x) => x.id === id);
      return r ? cohort(r) : "real";
    };
    // Every side of every row, decided where it came decided; a tested side waits for its cohort's family, whose
    // outcome is written into the row (or its control) itself.
    type Decided = Omit<PredictionRow, "subject" | "baseline" | "cohort" | "control">;
    const sides: { parts?: RowPart[]; decided: Decided; cohort: Cohort }[] = [];
    const decide = <T extends object>(side: Side, c: Cohort, into: T): T & Decided => {
      const { test: _t, parts: _p, ...plain } = side as Side & { test?: RowTest; parts?: RowPart[] };
      const decided = Object.assign(into, { passed: false }, plain);
      sides.push({ parts: partsOf(side), decided, cohort: c });
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
    for (const c of COHORTS) {
      const finite = (p: RowPart) =>
        Number.isFinite(p.value) && p.test.samples.every((xs) => xs.every(Number.isFinite));
      const tested = sides.filter((x) => x.cohort === c && x.parts);
      // A side whose numbers are not all finite gets an interval that says so, and one whose prompts are too few or do
      // not vary says that: neither can confirm or reject, nor enters the family.
      const open = (x: (typeof tested)[number]): string | undefined => {
        if (!x.parts!.every(finite)) return "not a finite number";
        const n = Math.min(...x.parts!.flatMap((p) => p.test.samples.map((xs) => xs.length)));
        if (n < MIN_PROMPTS)
          return `rests on ${n} prompt${n === 1 ? "" : "s"}, fewer than the ${MIN_PROMPTS} a claim over prompts needs`;
        if (x.parts!.every((p) => p.test.samples.every((xs) => xs.every((v) => v === xs[0]))))
          return `its ${n} prompts' values do not vary: an interval of zero width says nothing of variation`;
      };
      for (const x of tested) {
        const why = open(x);
        if (why === "not a finite number") x.decided.ci = [NaN, NaN];
        else if (why) Object.assign(x.decided, { inconclusive: true, open: why });
      }
      const judged = tested.filter((x) => !open(x));
      const family = judgeTests(
        judged.map((x) => x.parts!.map((p) => p.test)),
        promptSet.strata,
      );
      judged.forEach((x, k) => {
        const { outcome, shown, parts } = family.rows[k];
        const j = parts[shown];
        const part = x.parts![shown];
        const byKind = promptSet.kinds && kindValues(part.test, promptSet.kinds);
        Object.assign(x.decided, {
          value: part.value,
          ...(part.detail !== undefined && { detail: part.detail }),
          ci: j.ci,
          level: j.level,
          p: j.p,
          pReject: j.pReject,
          pRejectAdjusted: j.pRejectAdjusted,
          mcError: j.mcError.pReject,
          resamples: j.resamples,
          tests: family.tests,
          passed: outcome === "confirmed",
          inconclusive: outcome === "inconclusive" || undefined,
          detectable: j.detectable,
          ...(j.margin !== undefined && { margin: j.margin }),
          ...(byKind && { byKind }),
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
