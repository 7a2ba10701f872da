/**
 * What the hypotheses' setup adds to the probe run it hands the reporter:
 * the synthetic subjects whose plants the run must reproduce (the harness
 * check), the preregistration stamp of what was fixed before the data was
 * seen, and the earlier results to compare with (PROBESPEC_COMPARE).
 */

import type { Verdict } from "./verdict.js";

/** A verdict a plant must produce: any but an error. */
export type PlantedVerdict = Exclude<Verdict, "error">;

/** A synthetic subject built from a preset as it is, with what the preset planted and the verdicts it must produce. */
export interface PlantedSubject {
  id: string;
  preset: string;
  planted: string;
  expects: Record<string, PlantedVerdict>;
}

/** The preregistration stamp: sha256 of what the verdicts were judged by, and what they were judged on. */
export interface Preregistration {
  /** Each spec file's sha256, by file name. */
  specs: Record<string, string>;
  /** criteria.ts's sha256: every threshold. */
  criteria: string;
  /** The prompt set's sha256 (its name and prompts, as run). */
  prompts: string;
  /** Each model's results cache key (probes/run.ts): its files' identity, probespec's probes, prompts, measures, provider. */
  models: Record<string, string>;
  /** probespec's commit, where git can say. */
  commit?: string;
}

export interface SetupExtras {
  planted: PlantedSubject[];
  preregistration: Omit<Preregistration, "models" | "commit">;
  /** PROBESPEC_COMPARE: an earlier results.json. */
  compare?: string;
}
