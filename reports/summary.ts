/**
 * The terminal summary: one line per hypothesis with its headline verdict (the
 * real cohort's, where the run has real models) and its deciding numbers, then
 * the harness check on the synthetic analogs, one line a hypothesis, and each
 * model entry that could not be read; readable with colour off.
 */
import { Chalk } from "chalk";
import type { HypothesisVerdict } from "./verdicts.js";
import { rowLabel } from "../contract/prediction.js";
import { rowVerdict } from "../contract/verdict.js";
import { printable } from "../onnx/errors.js";
import { harnessLine, plantsByHypothesis, plantsLine, type HarnessCheck } from "./harness.js";

/** The heading names the cohort the verdicts below it are of, as the run has them. */
export function summaryHeading(verdicts: readonly HypothesisVerdict[]): string {
  const cohorts = new Set(verdicts.map((v) => v.cohort));
  return cohorts.has("real")
    ? "probespec verdicts (real models)"
    : cohorts.has("synthetic")
      ? "probespec verdicts (synthetic analogs only: a check of the harness)"
      : "probespec verdicts (no model could be judged)";
}

export function summaryLines(
  verdicts: HypothesisVerdict[],
  reportPath: string | undefined,
  {
    color = true,
    harness,
    entryErrors = [],
    skipped = [],
  }: {
    color?: boolean;
    harness?: HarnessCheck;
    entryErrors?: readonly { file: string; error: string }[];
    skipped?: readonly { id: string; reason: string }[];
  } = {},
): string[] {
  const c = new Chalk({ level: color ? 1 : 0 });
  const paint = {
    confirmed: c.green.bold,
    rejected: c.red.bold,
    inconclusive: c.gray.bold,
    confounded: c.yellow.bold,
    error: c.magenta.bold,
  };
  const width = Math.max(...verdicts.map((v) => v.hypothesis.length), 10);
  const lines = [c.bold(summaryHeading(verdicts))];
  const planted = new Map(harness ? plantsByHypothesis(harness) : []);
  for (const v of verdicts) {
    // Synthetic subjects planted to differ have no verdict in common: where they are the headline, the line is the
    // hypothesis' part of the harness check.
    const plants = v.cohort === "synthetic" ? planted.get(v.hypothesis) : undefined;
    if (plants) {
      const ok = plants.every((p) => p.got === p.planted);
      lines.push(
        `  ${v.hypothesis.padEnd(width)}  ${(ok ? c.green.bold : c.red.bold)((ok ? "AS PLANTED" : "NOT AS PLANTED").padEnd(12))} ${printable(plantsLine(plants))}`,
      );
      continue;
    }
    // The deciding numbers, of the headline cohort's rows only: for a rejection the rows that missed, for a
    // confirmation every row; at most three a prediction. Other verdicts say why in their reason.
    const parts =
      v.verdict !== "rejected" && v.verdict !== "confirmed"
        ? []
        : v.predictions.flatMap((t) => {
            const rows = (t.prediction?.rows ?? []).filter(
              (r) => r.cohort === v.cohort && (v.verdict !== "rejected" || rowVerdict(r) === "rejected"),
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
      `  ${(ok ? c.green : c.red.bold)(harnessLine(harness))}, each synthetic subject judged on its own rows:`,
    );
    // One line a hypothesis, each plant's verdict beside its subject (the report says what each preset plants).
    for (const [h, plants] of planted) lines.push(`    ${h.padEnd(width)} ${printable(plantsLine(plants))}`);
    if (harness.unplanted.length)
      lines.push(`    ${c.gray(`not planted in this run: ${harness.unplanted.join(", ")}`)}`);
    for (const d of harness.differences) lines.push(`    ${printable(d)}`);
  }
  // An entry that could not be read entered no cohort: it is named here once, and the run exits 1 for it.
  for (const e of entryErrors) lines.push(`  ${paint.error("ENTRY ERROR")} ${printable(e.error)}`);
  // Each model the run skipped, once, with what it would take to have it.
  for (const s of skipped) lines.push(`  ${c.gray(`skipped ${s.id}:`)} ${printable(s.reason)}`);
  if (reportPath) lines.push(`  report: ${reportPath}`);
  return lines;
}
