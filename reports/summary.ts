/** The terminal summary: one line per hypothesis with its deciding numbers; readable with colour off. */
import { Chalk } from "chalk";
import type { HypothesisVerdict } from "./verdicts.js";
import { rowLabel } from "../contract/prediction.js";
import { printable } from "../onnx/errors.js";

export function summaryLines(
  verdicts: HypothesisVerdict[],
  reportPath: string | undefined,
  { color = true }: { color?: boolean } = {},
): string[] {
  const c = new Chalk({ level: color ? 1 : 0 });
  const paint = { confirmed: c.green.bold, rejected: c.red.bold, inconclusive: c.gray.bold, error: c.magenta.bold };
  const width = Math.max(...verdicts.map((v) => v.hypothesis.length), 10);
  const lines = [c.bold("probespec verdicts")];
  for (const v of verdicts) {
    // The deciding numbers: for a rejection the rows that missed, else every row; at most three a prediction.
    const parts = v.predictions.flatMap((t) => {
      const rows = (t.prediction?.rows ?? []).filter((r) => v.verdict !== "rejected" || !r.passed);
      if (!rows.length) return [];
      const shown = rows.slice(0, 3).map((r) => `${rowLabel(r)} ${r.value.toPrecision(3)}`);
      return [`${t.prediction!.criterion}: ${shown.join(", ")}${rows.length > 3 ? `, +${rows.length - 3} more` : ""}`];
    });
    lines.push(
      // Ids are checked where entries are read; a reason may still quote a file's own text.
      `  ${v.hypothesis.padEnd(width)}  ${paint[v.verdict](v.verdict.toUpperCase().padEnd(12))} ${printable(parts.length ? parts.join("; ") : v.reason)}`,
    );
  }
  if (reportPath) lines.push(`  report: ${reportPath}`);
  return lines;
}
