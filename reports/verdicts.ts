/**
 * Verdicts from test outcomes (DESIGN.md, "Verdicts"): confirmed when every
 * prediction passed, rejected when an assertion failed, inconclusive when a
 * needed model was missing (the spec skipped, saying why), error otherwise.
 */
import { rowInterval, rowLabel, type Cohort, type Prediction } from "../contract/prediction.js";

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
  /** What the spec says it claims (describe's meta). */
  claim?: string;
  file: string;
  tests: TestOutcome[];
  /** Errors outside any test (the file failed to load). */
  moduleErrors: string[];
}

export interface HypothesisVerdict {
  hypothesis: string;
  claim?: string;
  verdict: Verdict;
  reason: string;
  predictions: TestOutcome[];
  /** The same verdict within each cohort of subjects: real models, and synthetic analogs (a check of the harness). */
  cohorts?: CohortVerdict[];
}

export interface CohortVerdict {
  cohort: Cohort;
  verdict: Verdict;
  reason: string;
}

const firstLine = (s: string) => s.split("\n")[0];

/** A failed prediction in a sentence: its criterion and the rows that missed it. */
function failureReason(t: TestOutcome): string {
  const p = t.prediction;
  if (!p) return firstLine(t.error?.message ?? t.name).replace(/: expected .* \/\/ Object\.is equality$/, "");
  const missed = p.rows
    .filter((r) => !r.passed && !r.inconclusive)
    .map((r) => `${rowLabel(r)} ${r.value.toPrecision(4)}`);
  return `${t.name.split(":")[0]}: ${missed.join(", ")} miss “${p.criterion}”${p.explanation ? `; ${p.explanation}` : ""}`;
}

export function deriveVerdict(h: HypothesisOutcome): HypothesisVerdict {
  const base = { hypothesis: h.hypothesis, claim: h.claim, predictions: h.tests };
  if (h.moduleErrors.length) return { ...base, verdict: "error", reason: h.moduleErrors.map(firstLine).join("; ") };
  const thrown = h.tests.filter((t) => t.state === "failed" && t.error?.name !== "AssertionError");
  if (thrown.length)
    return {
      ...base,
      verdict: "error",
      reason: thrown.map((t) => `${t.name}: ${firstLine(t.error?.message ?? "unknown error")}`).join("; "),
    };
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
  return {
    ...base,
    verdict: "confirmed",
    reason: `all ${h.tests.length} predictions passed${single ? " (resting on a single prompt)" : ""}`,
  };
}

/**
 * A verdict per cohort, read from the predictions' rows: each row is about one
 * subject (and a baseline of the same cohort), so a cohort is confirmed when
 * every row of its subjects passed, rejected when one was rejected, inconclusive
 * when one straddles its bound (with the power that would have been needed). An
 * error, or a skip with no rows, holds for every cohort.
 */
export function cohortVerdicts(
  v: HypothesisVerdict,
  cohortOf: (id: string) => Cohort | undefined,
  sizeOf: (id: string) => number | undefined = () => undefined,
): CohortVerdict[] {
  const cohorts = [
    ...new Set(v.predictions.flatMap((t) => t.prediction?.rows.map((r) => cohortOf(r.subject)) ?? [])),
  ].filter((c): c is Cohort => !!c);
  // A baseline a hundred times smaller than its subject is a comparison across scales: the report says so.
  const scaleNote = (cohort: Cohort) => {
    const pairs = new Map<string, [string, string]>();
    for (const t of v.predictions)
      for (const r of t.prediction?.rows ?? [])
        if (r.baseline && cohortOf(r.subject) === cohort)
          pairs.set(`${r.subject}|${r.baseline}`, [r.subject, r.baseline]);
    const notes = [...pairs.values()].flatMap(([s, b]) => {
      const [ns, nb] = [sizeOf(s), sizeOf(b)];
      return ns && nb && ns / nb >= 100
        ? [`the baseline ${b} (≈${formatCount(nb)} parameters) is far smaller than ${s} (≈${formatCount(ns)})`]
        : [];
    });
    return notes.length ? `; note: ${notes.join("; ")}` : "";
  };
  return (["real", "synthetic"] as const)
    .filter((c) => cohorts.includes(c))
    .map((c) => {
      const r = verdictOf(c);
      return { ...r, reason: r.reason + scaleNote(c) };
    });
  function verdictOf(cohort: Cohort): CohortVerdict {
    if (v.verdict === "error") return { cohort, verdict: v.verdict, reason: v.reason };
    const parts = v.predictions.map((t): { verdict: Verdict; reason?: string } => {
      const name = t.name.split(":")[0];
      if (!t.prediction)
        return t.state === "passed"
          ? { verdict: "confirmed" }
          : { verdict: "inconclusive", reason: t.skipNote ?? "skipped" };
      const rows = t.prediction.rows.filter((r) => cohortOf(r.subject) === cohort);
      const missed = rows.filter((r) => !r.passed && !r.inconclusive);
      if (missed.length)
        return {
          verdict: "rejected",
          reason: `${name}: ${missed.map((r) => `${rowLabel(r)} ${r.value.toPrecision(4)}`).join(", ")} miss “${t.prediction.criterion}”${t.prediction.explanation ? `; ${t.prediction.explanation}` : ""}`,
        };
      const open = rows.filter((r) => r.inconclusive);
      if (open.length)
        return {
          verdict: "inconclusive",
          reason: `${name}: ${open.map((r) => `${rowLabel(r)} ${r.value.toPrecision(4)}, ${rowInterval(r)}`).join("; ")} (“${t.prediction.criterion}”)`,
        };
      if (!rows.length) return { verdict: "inconclusive", reason: `no ${cohort} model to compare with for ${name}` };
      return { verdict: "confirmed" };
    });
    for (const verdict of ["rejected", "inconclusive"] as const) {
      const reasons = [...new Set(parts.filter((p) => p.verdict === verdict).map((p) => p.reason!))];
      if (reasons.length) return { cohort, verdict, reason: reasons.join("; ") };
    }
    return { cohort, verdict: "confirmed", reason: `every prediction passed for the ${cohort} subjects` };
  }
}

const formatCount = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(1)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${(n / 1e3).toFixed(0)} K`;
