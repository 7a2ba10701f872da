/**
 * The families the hypotheses' specs judge, rebuilt from a probe run for the calibration: every tested side (a row, or
 * its position-0 control; a row of middle layers is one side of many parts) of one spec file and one cohort, each with
 * the claim and statistic the spec gives it through the same helpers (hypotheses/measures.ts meanTest and compare) and
 * the same criteria. Sides decided without a bootstrap (a weight measure, a layer index) are not tests and are left out,
 * as hypotheses/family.ts leaves them out of Holm, with sides it leaves open. judgeSides is how that file judges a
 * cohort's tests.
 */
import { cohort, COHORTS, isSubject, type Cohort } from "../../contract/prediction.js";
import { mean } from "../../probes/metrics.js";
import type { ProbeResult } from "../../probes/probe.js";
import type { Claim } from "../../probes/statistics.js";
import {
  ENTROPY_MAX_RATIO,
  MIDDLE_FRACTION,
  MIDDLE_GAIN_TOLERANCE,
  MIN_PROMPTS,
  PARADOX_MAX_GAIN,
  SILENT_EXIT_MIN_RATIO,
  SINK_FROM_FRACTION,
  SINK_MIN_RATIO,
} from "../../hypotheses/criteria.js";
import { judgeTests, type PlannedRow, type RowTest } from "../../hypotheses/family.js";
import { compare, lastLayer, meanTest, perPrompt } from "../../hypotheses/measures.js";

/** The prediction forms the specs use: a ratio of two models' means against a bound, a mean against a bound, a mean within a margin. */
export type Form = "ratio" | "level" | "equivalence";

/** One tested part: which row and side it belongs to, its form, and the spec's own test of it. */
export interface Part {
  subject: string;
  baseline?: string;
  /** The spec's prediction, and which side of its row: the row itself, or its control without position 0. */
  prediction: string;
  side: "row" | "control";
  /** What the part is within its side: a layer of a row of middle layers. */
  label?: string;
  form: Form;
  test: RowTest;
}

/** A spec file's tests in one cohort, as its family judges them together: a side each, a part each side needs. */
export interface Family {
  hypothesis: string;
  cohort: Cohort;
  sides: Part[][];
  /** Each prompt's stratum, as the run's bootstrap resampled within them. */
  strata?: readonly string[];
}

/** The measures the tested sides read: a run trimmed to these can still be calibrated on. */
export const TESTED_MEASURES = [
  "logits.spread",
  "logits.entropy_lnv",
  "resid.gain",
  "resid.gain_ex0",
  "pattern.first_key_vs_uniform",
  "resid.last_gain_pos0_mean",
] as const;

const WITH = "resid.gain";
const WITHOUT = "resid.gain_ex0";
const POSITION_ZERO = "resid.last_gain_pos0_mean";

type Who = Pick<Part, "subject" | "baseline" | "prediction" | "side">;
const sideOf = (who: Who, form: Form, test: RowTest): Part[] => [{ ...who, form, test }];

/** A compared row's test, as compare() plans it; a row it could not plan (a measure unavailable) is no test. */
const testOf = (row: PlannedRow): RowTest | undefined => ("test" in row ? row.test : undefined);

/** Every family the specs judge, for each cohort the run has a subject of. */
export function specFamilies(results: readonly ProbeResult[], strata?: readonly string[]): Family[] {
  const subjects = results.filter(isSubject);
  const baselines = results.filter((r) => !isSubject(r));
  const pairs = subjects.flatMap((s) =>
    baselines.filter((b) => cohort(b) === cohort(s)).map((b) => [s, b] as [ProbeResult, ProbeResult]),
  );
  const compared = (prediction: string, name: string, claim: Claim): Part[][] =>
    compare(pairs, name, { by: "ratio", claim }).flatMap((row) => {
      const test = testOf(row);
      return test
        ? [sideOf({ subject: row.subject, baseline: row.baseline, prediction, side: "row" }, "ratio", test)]
        : [];
    });
  const perSubject = (build: (s: ProbeResult) => Part[][]) => subjects.flatMap(build);

  const bySpec: Record<string, Part[][]> = {
    "silent-exit": compared("dynamic", "logits.spread", { atLeast: SILENT_EXIT_MIN_RATIO }),
    "entropy-efficiency": compared("sharp", "logits.entropy_lnv", { below: ENTROPY_MAX_RATIO }),
    "residual-explosion": perSubject((s) => {
      const below: Claim = { below: PARADOX_MAX_GAIN };
      const near: Claim = { within: [1 - MIDDLE_GAIN_TOLERANCE, 1 + MIDDLE_GAIN_TOLERANCE] };
      const [lo, hi] = [Math.floor(s.layers * MIDDLE_FRACTION[0]), Math.ceil(s.layers * MIDDLE_FRACTION[1])];
      const paradox = (side: Part["side"], name: string) =>
        sideOf(
          { subject: s.id, prediction: "(a)", side },
          "level",
          meanTest(perPrompt(s, name, lastLayer), below).test,
        );
      const middle = (side: Part["side"], name: string): Part[] =>
        Array.from({ length: hi - lo }, (_, i) => ({
          subject: s.id,
          prediction: "(b)",
          side,
          label: `layer ${lo + i}`,
          form: "equivalence" as const,
          test: meanTest(
            perPrompt<number[]>(s, name, (g) => g[lo + i]),
            near,
          ).test,
        }));
      return [paradox("row", WITH), paradox("control", WITHOUT), middle("row", WITH), middle("control", WITHOUT)];
    }),
    // One row of two parts: the plain pass contracts, and with position 0 replaced it does not.
    "position-zero": perSubject((s) =>
      s.measures[POSITION_ZERO] && "perPrompt" in s.measures[POSITION_ZERO]
        ? [
            [
              {
                subject: s.id,
                prediction: "ablation",
                side: "row",
                label: "plain",
                form: "level",
                test: meanTest(perPrompt(s, WITH, lastLayer), { below: PARADOX_MAX_GAIN }).test,
              },
              {
                subject: s.id,
                prediction: "ablation",
                side: "row",
                label: "position 0 replaced",
                form: "level",
                test: meanTest(perPrompt(s, POSITION_ZERO), { atLeast: PARADOX_MAX_GAIN }).test,
              },
            ],
          ]
        : [],
    ),
    "attention-sink": perSubject((s) => {
      const first = Math.floor(s.layers * SINK_FROM_FRACTION);
      const ratio = perPrompt<number[]>(s, "pattern.first_key_vs_uniform", (v) => mean(v.slice(first)));
      return [
        sideOf(
          { subject: s.id, prediction: "sink", side: "row" },
          "level",
          meanTest(ratio, { atLeast: SINK_MIN_RATIO }).test,
        ),
      ];
    }),
  };
  const cohortOf = (id: string) => cohort(results.find((r) => r.id === id)!);
  // A side with a value that is not a number, on fewer prompts than a claim over prompts needs, or whose values do not
  // vary, is left open by hypotheses/family.ts, and so is no test of its family.
  const samples = (side: Part[]) => side.flatMap((p) => p.test.samples);
  const judged = (side: Part[]) =>
    samples(side).every((xs) => xs.length >= MIN_PROMPTS && xs.every(Number.isFinite)) &&
    !samples(side).every((xs) => xs.every((v) => v === xs[0]));
  return Object.entries(bySpec).flatMap(([hypothesis, sides]) =>
    COHORTS.map((c) => ({
      hypothesis,
      cohort: c,
      sides: sides.filter((side) => judged(side) && cohortOf(side[0].subject) === c),
      ...(strata && { strata }),
    })).filter((f) => f.sides.length > 0),
  );
}

/** A cohort's tested sides judged exactly as the specs' families are (hypotheses/family.ts judgeTests). */
export const judgeSides = judgeTests;
