/**
 * Verdicts from test outcomes (DESIGN.md, "Verdicts"): confirmed when every
 * prediction passed, rejected when an assertion failed, inconclusive when a
 * needed model was missing (the spec skipped, saying why), error otherwise.
 */
import type { Prediction } from "../hypotheses/roles.js";

export type Verdict = "confirmed" | "rejected" | "inconclusive" | "error";

export interface TestOutcome {
  name: string;
  state: "passed" | "failed" | "skipped" | "pending";
  error?: { name: string; message: string };
  skipNote?: string;
  prediction?: Prediction;
}

export interface HypothesisOutcome {
  hypothesis: string;
  file: string;
  tests: TestOutcome[];
  /** Errors outside any test (the file failed to load). */
  moduleErrors: string[];
}

export interface HypothesisVerdict {
  hypothesis: string;
  verdict: Verdict;
  reason: string;
  predictions: TestOutcome[];
}

const firstLine = (s: string) => s.split("\n")[0];

/** A failed prediction in a sentence: its criterion and the rows that missed it. */
function failureReason(t: TestOutcome): string {
  const p = t.prediction;
  if (!p) return firstLine(t.error?.message ?? t.name).replace(/: expected .* \/\/ Object\.is equality$/, "");
  const missed = p.rows.filter((r) => !r.passed).map((r) => `${r.subject}${r.baseline ? ` vs ${r.baseline}` : ""} ${r.value.toPrecision(4)}`);
  return `${t.name.split(":")[0]}: ${missed.join(", ")} miss “${p.criterion}”${p.explanation ? `; ${p.explanation}` : ""}`;
}

export function deriveVerdict(h: HypothesisOutcome): HypothesisVerdict {
  const base = { hypothesis: h.hypothesis, predictions: h.tests };
  if (h.moduleErrors.length) return { ...base, verdict: "error", reason: h.moduleErrors.map(firstLine).join("; ") };
  const thrown = h.tests.filter((t) => t.state === "failed" && t.error?.name !== "AssertionError");
  if (thrown.length) return { ...base, verdict: "error", reason: thrown.map((t) => `${t.name}: ${firstLine(t.error?.message ?? "unknown error")}`).join("; ") };
  const failed = h.tests.filter((t) => t.state === "failed");
  if (failed.length) {
    return { ...base, verdict: "rejected", reason: failed.map(failureReason).join("; ") };
  }
  const skipped = h.tests.filter((t) => t.state === "skipped" || t.state === "pending");
  if (skipped.length || !h.tests.length) {
    const notes = [...new Set(skipped.map((t) => t.skipNote ?? "skipped"))];
    return { ...base, verdict: "inconclusive", reason: notes.join("; ") || "no predictions ran" };
  }
  const single = h.tests.some((t) => t.prediction?.singlePrompt);
  return { ...base, verdict: "confirmed", reason: `all ${h.tests.length} predictions passed${single ? " (resting on a single prompt)" : ""}` };
}
