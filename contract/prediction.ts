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
  /** The CI's level, Holm-adjusted across the tests of the hypothesis' cohort: 1 − α / (m − rank). */
  level?: number;
  /** The bootstrap p-value of the row's claim; Holm-adjusted; and the number of tests in its family (m). */
  p?: number;
  pAdjusted?: number;
  tests?: number;
  /** Neither confirmed nor rejected at its level: the CI straddles the claim's bound. */
  inconclusive?: boolean;
  /** Power: the CI's half-width at its level, the smallest effect the prompt set could detect. */
  detectable?: number;
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

/** A row's interval as every message prints it, with its level and, where it decided nothing, the prompt set's power. */
export const rowInterval = (r: Pick<PredictionRow, "ci" | "level" | "inconclusive" | "detectable">) =>
  r.ci
    ? `CI [${r.ci.map((x) => x.toPrecision(4)).join(", ")}]${r.level !== undefined ? ` at ${percent(r.level)}` : ""}${
        r.inconclusive && r.detectable !== undefined
          ? `, straddles its bound; resolves ±${r.detectable.toPrecision(2)}`
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
  /** Set when a verdict rests on one prompt. */
  singlePrompt?: boolean;
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
