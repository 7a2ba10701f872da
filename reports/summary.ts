/** The terminal summary: one line per hypothesis with its deciding numbers; readable with colour off. */
import { Chalk } from "chalk";
import type { HypothesisVerdict } from "./verdicts.js";

export function summaryLines(verdicts: HypothesisVerdict[], reportPath: string, { color = true }: { color?: boolean } = {}): string[] {
  const c = new Chalk({ level: color ? 1 : 0 });
  const paint = { confirmed: c.green.bold, rejected: c.red.bold, inconclusive: c.gray.bold, error: c.magenta.bold };
  const width = Math.max(...verdicts.map((v) => v.hypothesis.length), 10);
  const lines = [c.bold("probespec verdicts")];
  for (const v of verdicts) {
    // The deciding numbers: failing rows of a rejection, every row's value of a confirmation (at most three).
    const rows = v.predictions.flatMap((t) => (t.prediction?.rows ?? []).filter((r) => v.verdict !== "rejected" || !r.passed).map((r) => ({ t, r })));
    const numbers = rows.slice(0, 3).map(({ t, r }) => `${r.subject}${r.baseline ? ` vs ${r.baseline}` : ""} ${r.value.toPrecision(3)} (${t.prediction!.criterion})`);
    const shown = rows.length ? `${numbers.join("; ")}${rows.length > 3 ? `; +${rows.length - 3} more` : ""}` : v.reason;
    lines.push(`  ${v.hypothesis.padEnd(width)}  ${paint[v.verdict](v.verdict.toUpperCase().padEnd(12))} ${shown}`);
  }
  lines.push(`  report: ${reportPath}`);
  return lines;
}
