/**
 * The contract between a spec and the report: what a spec attaches to each
 * prediction (`it`) for the reporter to render. The reporter renders any
 * prediction of this shape; it knows no hypothesis by name.
 */
export interface PredictionRow {
  subject: string;
  baseline?: string;
  value: number;
  ci?: [number, number];
  passed: boolean;
  detail?: string;
}

export interface Prediction {
  hypothesis: string;
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

declare module "vitest" {
  interface TaskMeta extends HypothesisMeta {
    prediction?: Prediction;
  }
}
