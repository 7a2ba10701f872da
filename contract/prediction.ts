/**
 * The contract specs and the report both stand on, below both: what a spec
 * attaches to each prediction (`it`) for the reporter to render, who is in which
 * cohort, and how a row is named. The reporter renders any prediction of this
 * shape; it knows no hypothesis by name.
 */
export interface PredictionRow {
  subject: string;
  baseline?: string;
  value: number;
  ci?: [number, number];
  passed: boolean;
  detail?: string;
  /** The CI's level, 1 − 2α: each side of the interval a one-sided test at α. */
  level?: number;
  /** The bootstrap p-value for the claim (confirmation), against it (rejection), and the latter Holm-adjusted across the m tests of its cohort's family. */
  p?: number;
  pReject?: number;
  pRejectAdjusted?: number;
  tests?: number;
  /** The Monte Carlo standard error of pReject, and the resamples it rests on. */
  mcError?: number;
  resamples?: number;
  /** Neither confirmed nor rejected: the CI straddles the claim's bound, or rejection did not survive Holm. */
  inconclusive?: boolean;
  /** The minimum detectable effect: how far from its bound a true value must lie to be confirmed with 80% power. */
  detectable?: number;
  /** An equivalence claim's smallest margin the data would confirm. */
  margin?: number;
  /**
   * The row's statistic on each kind of prompt alone (a corpus sample's genres), where the prompt set has kinds: what
   * the pooled value is a mix of. Not judged: a kind's few prompts decide nothing.
   */
  byKind?: Record<string, number>;
  /** Why the row was not judged at all, where it was not: too few prompts, or values that do not vary. */
  open?: string;
  /** The subject's cohort: a row is judged with its cohort only. */
  cohort: Cohort;
  /**
   * The same claim judged without position 0, a control for the first token's massive activation: the row is
   * confounded where one side holds and the other fails (contract/verdict.ts). `passed` and `inconclusive` above are
   * the claim's own outcome with position 0.
   */
  control?: Omit<PredictionRow, "subject" | "baseline" | "cohort" | "control">;
}

/** What keeps a cohort from being judged on a prediction: a model it needs that failed, or a role no model fills. */
export interface CohortStatus {
  error?: string;
  missing?: string;
}

/** A row's models as every message names them: "subject" or "subject vs baseline". */
export const rowLabel = (r: Pick<PredictionRow, "subject" | "baseline">) =>
  `${r.subject}${r.baseline ? ` vs ${r.baseline}` : ""}`;

/** A row's interval as every message prints it, with its level, and where it decided nothing what the prompts could decide. */
export const rowInterval = (
  r: Pick<
    PredictionRow,
    "ci" | "level" | "inconclusive" | "detectable" | "margin" | "passed" | "pRejectAdjusted" | "tests" | "open"
  >,
) =>
  r.open
    ? r.open
    : r.ci
      ? `CI [${r.ci.map((x) => x.toPrecision(4)).join(", ")}]${r.level !== undefined ? ` at ${percent(r.level)}` : ""}${
          r.inconclusive
            ? r.margin !== undefined
              ? `, straddles its margin; these prompts would confirm ±${r.margin.toPrecision(2)}`
              : r.detectable !== undefined
                ? `, straddles its bound; these prompts detect ${r.detectable.toPrecision(2)} from it at 80% power`
                : ""
            : !r.passed && r.pRejectAdjusted !== undefined
              ? `; rejected at Holm-adjusted p ${r.pRejectAdjusted.toPrecision(2)} over ${r.tests} tests`
              : ""
        }`
      : "";

/** A level as a percentage with no more digits than it needs: 95%, 98.75%, 99.1667%. */
export const percent = (level: number) => `${+(100 * level).toFixed(4)}%`;

/** Real models are compared only with real models; synthetic analogs (a check of the harness) only with analogs. */
export type Cohort = "real" | "synthetic";
export const COHORTS: readonly Cohort[] = ["real", "synthetic"];
export const cohort = (r: { synthetic?: boolean }): Cohort => (r.synthetic ? "synthetic" : "real");

/** A hypothesis' subjects: role "subject", or family mistral unless its role says baseline. */
export const isSubject = (r: { family?: string; role?: string }) =>
  r.role === "subject" || (r.family?.toLowerCase() === "mistral" && r.role !== "baseline");

export interface Prediction {
  hypothesis: string;
  /** The cohorts this run has models of, each with what keeps it from being judged (nothing where it can be). */
  cohorts: Partial<Record<Cohort, CohortStatus>>;
  criterion: string;
  threshold: number;
  why: string;
  /** One row per (subject, baseline) or per subject: the measured value and its CI. */
  rows: PredictionRow[];
  passed: boolean;
  /** What the CI column is a CI of, where that is not the measured value itself. */
  ciOf?: string;
  /** What a failure means, when it needs saying (the reporter puts it in the verdict's reason). */
  explanation?: string;
  note?: string;
}

/** What a hypothesis says of itself (`describe(name, { meta: { claim } }, …)`): results.json's "hypotheses" entry. */
export interface HypothesisMeta {
  claim?: string;
}

// Augmenting vitest's TaskMeta needs vitest's declarations loaded first, whatever order tsc reads the files in.
import type {} from "vitest";
declare module "vitest" {
  interface TaskMeta extends HypothesisMeta {
    prediction?: Prediction;
  }
}
