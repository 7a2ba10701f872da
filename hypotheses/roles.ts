/**
 * Who a hypothesis is about: subjects are family mistral or role "subject";
 * baselines are the other models that probed. A model that failed to probe is
 * an error for every hypothesis that needs it, never a rejection.
 */
import { expect, inject, type TestContext } from "vitest";
import type { ProbeResult } from "../probes/probe.js";
import type { ProbeRun } from "../probes/run.js";
import { cohort, isSubject, rowInterval, rowLabel, type Prediction } from "../contract/prediction.js";

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
  /** Why the hypothesis cannot be decided, when it cannot. */
  missing?: string;
}

/** Subjects and baselines; throws (an error verdict) when a model the hypothesis needs failed to probe. */
export function roles(needsBaselines: boolean): Roles {
  const run = probeRun();
  // A model whose entry could not be read (no family, no role) may be a subject: every hypothesis needs it.
  const failed = run.failures.filter((f) => needsBaselines || isSubject(f) || f.family === undefined);
  if (failed.length)
    // vitest prints this message on the terminal: a file's own text in it is made printable.
    throw new Error(
      printable(`a model this hypothesis needs could not be probed: ${failed.map((f) => f.error).join("; ")}`),
    );
  const subjects = run.results.filter(isSubject);
  const baselines = run.results.filter((r) => !isSubject(r));
  const pairs = subjects.flatMap((s) =>
    baselines.filter((b) => cohort(b) === cohort(s)).map((b) => [s, b] as [ProbeResult, ProbeResult]),
  );
  const missing = !subjects.length
    ? `no subject model (family mistral or role "subject") is available${run.skipped
        .filter(isSubject)
        .map((s) => `; ${s.id}: ${printable(s.reason)}`)
        .join("")}`
    : needsBaselines && !pairs.length
      ? `no baseline model of the subject's cohort (${[...new Set(subjects.map(cohort))].join(", ")}) is available to compare ${subjects.map((s) => s.id).join(", ")} with; the notebook's own run had the same gap and could never decide`
      : undefined;
  return { subjects, baselines, pairs, missing };
}

/**
 * Attaches the prediction to the test for the reporter, then asserts it. A value
 * that is not a finite number (a gain without position 0 on one-token prompts,
 * a point the graph cannot provide) can neither pass nor fail: the prediction is
 * inconclusive, and the skip says which values and why. The test's own outcome
 * is the hypothesis' verdict: the real cohort's rows decide it where there are
 * any; the synthetic analogs (a check of the harness) are judged on their rows
 * by the reporter.
 */
export function judge({ task, skip }: Pick<TestContext, "task" | "skip">, p: Prediction): void {
  const finite = (r: Prediction["rows"][number]) => Number.isFinite(r.value) && (r.ci ?? []).every(Number.isFinite);
  const results = probeRun().results;
  const isReal = (r: Prediction["rows"][number]) => results.some((m) => m.id === r.subject && cohort(m) === "real");
  const deciding = p.rows.some(isReal) ? p.rows.filter(isReal) : p.rows;
  // Only the deciding cohort's values can leave the whole prediction unjudged; another cohort's row that is not
  // a number is that row's own inconclusive (an analog's NaN never makes the real verdict inconclusive).
  const bad = deciding.filter((r) => !finite(r));
  if (bad.length) {
    return skip(
      `inconclusive: ${p.criterion} cannot be judged, ${bad.map((r) => `${rowLabel(r)} is ${r.value}${r.ci ? ` (CI ${r.ci.join(" to ")})` : ""}${r.detail ? `; ${r.detail}` : ""}`).join("; ")}: not a finite number`,
    );
  }
  task.meta.prediction = {
    ...p,
    rows: p.rows.map((r) => (finite(r) ? r : { ...r, passed: false, inconclusive: true })),
  };
  const failing = deciding
    .filter((r) => !r.passed && !r.inconclusive)
    .map(
      (r) =>
        `${rowLabel(r)}: ${r.value.toPrecision(4)}${r.ci ? ` (${rowInterval(r)})` : ""}${r.detail ? ` (${r.detail})` : ""}`,
    );
  expect(failing.length === 0, `${p.criterion} fails: ${failing.join("; ")}${p.note ? `. ${p.note}` : ""}`).toBe(true);
  const open = deciding.filter((r) => r.inconclusive);
  if (open.length)
    skip(
      `inconclusive: ${p.criterion}: ${open.map((r) => `${rowLabel(r)} ${r.value.toPrecision(4)}, ${rowInterval(r)}`).join("; ")}`,
    );
}
