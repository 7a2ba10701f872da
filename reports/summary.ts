/**
 * The terminal summary: one line per hypothesis with its verdict (the real
 * cohort's, where the run has real models) and its deciding numbers, then the
 * harness check on the synthetic analogs; readable with colour off.
 */
import { Chalk } from "chalk";
import type { HypothesisVerdict } from "./verdicts.js";
import { rowLabel, type Cohort } from "../contract/prediction.js";
import { printable } from "../onnx/errors.js";
import { harnessLine, type HarnessCheck } from "./harness.js";

export function summaryLines(
  verdicts: HypothesisVerdict[],
  reportPath: string | undefined,
  {
    color = true,
    harness,
    cohortOf = () => undefined,
  }: { color?: boolean; harness?: HarnessCheck; cohortOf?: (id: string) => Cohort | undefined } = {},
): string[] {
  const c = new Chalk({ level: color ? 1 : 0 });
  const paint = { confirmed: c.green.bold, rejected: c.red.bold, inconclusive: c.gray.bold, error: c.magenta.bold };
  const width = Math.max(...verdicts.map((v) => v.hypothesis.length), 10);
  const real = verdicts.some((v) => v.cohorts?.some((x) => x.cohort === "real"));
  const lines = [
    c.bold(
      real ? "probespec verdicts (real models)" : "probespec verdicts (synthetic analogs only: a check of the harness)",
    ),
  ];
  for (const v of verdicts) {
    const mine = (subject: string) => !real || cohortOf(subject) === "real";
    // The deciding numbers: for a rejection the rows that missed, else every row; at most three a prediction.
    const parts =
      v.verdict === "inconclusive"
        ? []
        : v.predictions.flatMap((t) => {
            const rows = (t.prediction?.rows ?? []).filter(
              (r) => mine(r.subject) && (v.verdict !== "rejected" || (!r.passed && !r.inconclusive)),
            );
            if (!rows.length) return [];
            const shown = rows.slice(0, 3).map((r) => `${rowLabel(r)} ${r.value.toPrecision(3)}`);
            return [
              `${t.prediction!.criterion}: ${shown.join(", ")}${rows.length > 3 ? `, +${rows.length - 3} more` : ""}`,
            ];
          });
    lines.push(
      // Ids are checked where entries are read; a reason may still quote a file's own text.
      `  ${v.hypothesis.padEnd(width)}  ${paint[v.verdict](v.verdict.toUpperCase().padEnd(12))} ${printable(parts.length ? parts.join("; ") : v.reason)}`,
    );
  }
  if (harness?.total) {
    const ok = !harness.differences.length;
    lines.push(
      `  ${(ok ? c.green : c.red.bold)(harnessLine(harness))} (${harness.subjects.map((s) => `${s.id}: ${s.planted}`).join("; ")})`,
    );
    for (const d of harness.differences) lines.push(`    ${printable(d)}`);
  }
  if (reportPath) lines.push(`  report: ${reportPath}`);
  return lines;
}
