/** The HTML report, rendered with nunjucks, autoescape on. */
import path from "node:path";
import nunjucks from "nunjucks";
import type { ProbeRun } from "../probes/run.js";
import type { HypothesisVerdict } from "./verdicts.js";
import { percent, type PredictionRow } from "../contract/prediction.js";
import { rowVerdict } from "../contract/verdict.js";
import type { Preregistration } from "../contract/run-file.js";
import { harnessLine, plantsByHypothesis, type HarnessCheck } from "./harness.js";
import { cell } from "./cells.js";
import type { Value } from "../probes/measures/measure.js";

const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(path.join(import.meta.dirname, "templates")), {
  autoescape: true,
  throwOnUndefined: false,
});
env.addFilter("fmt", (v: unknown) =>
  typeof v === "number"
    ? Number.isInteger(v)
      ? String(v)
      : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
        ? v.toExponential(3)
        : v.toFixed(4)
    : String(v ?? "—"),
);

env.addFilter("cell", (v: Value, unit: string) => new nunjucks.runtime.SafeString(cell(v, unit)));
env.addFilter("percent", percent);
env.addFilter("rowVerdict", rowVerdict);
env.addFilter("cohortRows", (rows: PredictionRow[], cohort: string) => rows.filter((r) => r.cohort === cohort));
/** The kinds of prompt (genres) a cohort's rows were measured on alone, in the prompt set's order. */
env.addFilter("kindsOf", (predictions: { prediction?: { rows: PredictionRow[] } }[], cohort: string) => [
  ...new Set(
    predictions.flatMap((t) =>
      (t.prediction?.rows ?? []).filter((r) => r.cohort === cohort).flatMap((r) => Object.keys(r.byKind ?? {})),
    ),
  ),
]);

export interface ReportModel {
  run: ProbeRun;
  verdicts: HypothesisVerdict[];
  figures: { id: string; title: string; caption: string; svg: string }[];
  gitCommit?: string;
  durationS: number;
  harness?: HarnessCheck;
  stamp?: Preregistration;
}

export function renderReport(m: ReportModel): string {
  return env.render("index.njk", {
    ...m,
    harnessLine: m.harness && m.harness.total ? harnessLine(m.harness) : undefined,
    plants: Object.fromEntries(m.harness ? plantsByHypothesis(m.harness) : []),
    providers: m.run.results.length ? [...new Set(m.run.results.map((r) => r.execution.provider))] : [m.run.device],
    allSynthetic: m.run.results.length > 0 && m.run.results.every((r) => r.synthetic),
    // The providers auto tried before the one that ran: the same for every model, so said once.
    fallbacks: [
      ...new Map(
        m.run.results.flatMap((r) => r.execution.fallbacks).map((f) => [`${f.provider}: ${f.error}`, f]),
      ).values(),
    ],
  });
}
