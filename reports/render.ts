/** The HTML report, rendered with nunjucks, autoescape on. */
import path from "node:path";
import nunjucks from "nunjucks";
import type { ProbeRun } from "../probes/run.js";
import type { HypothesisVerdict } from "./verdicts.js";
import { percent, type PredictionRow } from "../contract/prediction.js";
import { rowVerdict } from "../contract/verdict.js";
import type { Preregistration } from "../contract/run-file.js";
import { harnessLine, type HarnessCheck } from "./harness.js";

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

const fmt = env.getFilter("fmt") as (v: unknown) => string;
/** A measure's value in a cell: a number, a per-layer list as its last value and range, named values one by one. */
const brief = (v: unknown): string => {
  if (typeof v === "number" || v === null) return fmt(v ?? NaN);
  if (Array.isArray(v) && v.every((x) => typeof x === "number" || x === null)) {
    const xs = v.map((x) => x ?? NaN);
    return xs.length ? `last ${fmt(xs[xs.length - 1])} (${fmt(Math.min(...xs))} to ${fmt(Math.max(...xs))})` : "none";
  }
  if (Array.isArray(v)) return `${v.length} × ${(v[0] as unknown[])?.length ?? 0} values`;
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k} ${brief(x)}`)
    .join(", ");
};
env.addFilter("brief", brief);
env.addFilter("percent", percent);
env.addFilter("rowVerdict", rowVerdict);
env.addFilter("cohortRows", (rows: PredictionRow[], cohort: string) => rows.filter((r) => r.cohort === cohort));

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
