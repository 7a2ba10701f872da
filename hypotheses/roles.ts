/**
 * Who a hypothesis is about: subjects are family mistral or role "subject";
 * baselines are the other models that probed. A model that failed to probe is
 * an error for its cohort in every hypothesis that needs it, never a rejection.
 */
import { expect, inject, type TestContext } from "vitest";
import type { ProbeResult } from "../probes/probe.js";
import type { ProbeRun } from "../probes/run.js";
import { cohort, COHORTS, isSubject, type Cohort, type CohortStatus, type Prediction } from "../contract/prediction.js";
import { headlineCohort, predictionVerdict } from "../contract/verdict.js";

import { printable } from "../onnx/errors.js";

export function probeRun(): ProbeRun {
  return inject("probeRun");
}

export interface Roles {
  subjects: ProbeResult[];
  baselines: ProbeResult[];
  /**
   * Each subject with each baseline of its own cohort: real models are compared with real
   * models only, synthetic analogs (a check of the harness) with synthetic ones.
   */
  pairs: [ProbeResult, ProbeResult][];
  /** The cohorts this run has models of, each with what keeps it from being judged. */
  cohorts: Partial<Record<Cohort, CohortStatus>>;
}

/** How to fill a role a cohort lacks: one entry in models/. */
const HOW_TO_ADD = (role: string) =>
  `add one: a models/<id>.json entry with "role": "${role}" (a GGUF, a checkpoint folder, a hub id or an ONNX export)`;

/**
 * Subjects, baselines and each cohort's standing. A cohort is present where the run probed, or failed to probe,
 * one of its models; within it, a model the hypothesis needs that failed is an error, and a role no model fills
 * (no subject, or a subject with no baseline where the claim compares) leaves it inconclusive, saying which.
 */
export function roles(needsBaselines: boolean): Roles {
  const run = probeRun();
  const subjects = run.results.filter(isSubject);
  const baselines = run.results.filter((r) => !isSubject(r));
  const pairs = subjects.flatMap((s) =>
    baselines.filter((b) => cohort(b) === cohort(s)).map((b) => [s, b] as [ProbeResult, ProbeResult]),
  );
  const cohorts: Roles["cohorts"] = {};
  for (const c of COHORTS) {
    const mine = <T extends { synthetic?: boolean }>(xs: readonly T[]) => xs.filter((x) => cohort(x) === c);
    if (!mine(run.results).length && !mine(run.failures).length) continue;
    // A model whose entry could not be read (no family, no role) may be a subject: every hypothesis needs it.
    const failed = mine(run.failures).filter((f) => needsBaselines || isSubject(f) || f.family === undefined);
    const skipped = (subject: boolean) =>
      mine(run.skipped)
        .filter((s) => isSubject(s) === subject)
        .map((s) => `; ${s.id} was skipped: ${printable(s.reason)}`)
        .join("");
    cohorts[c] = failed.length
      ? // The reporter prints this message: a file's own text in it is made printable.
        {
          error: printable(
            `a model this hypothesis needs could not be probed: ${failed.map((f) => f.error).join("; ")}`,
          ),
        }
      : !mine(subjects).length
        ? { missing: `no ${c} subject (role "subject", or family mistral)${skipped(true)}; ${HOW_TO_ADD("subject")}` }
        : needsBaselines && !mine(baselines).length
          ? {
              missing: `no ${c} baseline to compare ${mine(subjects)
                .map((s) => s.id)
                .join(", ")} with${skipped(false)}; ${HOW_TO_ADD("baseline")}`,
            }
          : {};
  }
  return { subjects, baselines, pairs, cohorts };
}

/**
 * Attaches the prediction to the test for the reporter, then gives the test the
 * outcome of the cohort whose verdict is the hypothesis' (the real models' where
 * the run has any): a rejection fails it, an inconclusive or confounded verdict
 * skips it saying why, an error throws. The reporter reads every cohort's verdict
 * from the prediction itself (contract/verdict.ts), not from the test's state.
 */
export function judge({ task, skip }: Pick<TestContext, "task" | "skip">, p: Prediction): void {
  task.meta.prediction = p;
  const headline = headlineCohort(Object.keys(p.cohorts) as Cohort[]);
  const judged = headline && predictionVerdict(p, headline);
  if (!judged) return skip("inconclusive: no model of any cohort was probed");
  if (judged.verdict === "error") throw new Error(judged.reason);
  expect(judged.verdict !== "rejected", judged.reason).toBe(true);
  if (judged.verdict !== "confirmed") skip(`${judged.verdict}: ${judged.reason}`);
}
