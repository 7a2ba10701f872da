/**
 * Where the calibration's per-prompt values come from: a probe run as the hypotheses' setup writes it
 * (.probespec-cache/runs/), or the trimmed snapshot of one kept beside this file, each read through the probe
 * results' schema. Beside a run, the rows its report printed (results.json), to check that the calibration judges
 * them exactly as the specs did.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ProbeResultSchema } from "../../probes/result-schema.js";
import type { ProbeResult } from "../../probes/probe.js";
import { judgeSides, type Family } from "./families.js";

export interface Source {
  /** The run file, as a path from the project's root. */
  file: string;
  startedAt: string;
  results: ProbeResult[];
  /** Each prompt's kind, the strata its bootstrap resampled within, where the run's prompt set gave them. */
  strata?: string[];
}

/** The snapshot the test suite calibrates on: TinyLlama's and its baseline's tested measures from one real run. */
export const SNAPSHOT = path.join(import.meta.dirname, "snapshot.json");

const RunSchema = z.object({
  startedAt: z.string(),
  results: z.array(ProbeResultSchema),
  promptSet: z.object({ strata: z.array(z.string()).optional() }).optional(),
});

/** One tested side as a report printed it: the shown part's interval and p-values, and the family it was judged in. */
const SideSchema = z.object({
  ci: z.tuple([z.number(), z.number()]),
  p: z.number(),
  pReject: z.number(),
  pRejectAdjusted: z.number(),
  resamples: z.number(),
  tests: z.number(),
  detectable: z.number(),
});
export type PrintedSide = z.infer<typeof SideSchema> & { key: string };

const SnapshotSchema = RunSchema.extend({
  strata: z.array(z.string()).optional(),
  file: z.string(),
  note: z.string(),
  printed: z.array(SideSchema.extend({ key: z.string() })),
});

/**
 * A measure's values as dense arrays of numbers. The schema hands back generic, holey arrays; a statistic that has
 * seen both kinds (mean's reduce) runs about twenty times slower on every resample after, which a run of the specs
 * never notices and a calibration of millions of resamples does.
 */
const dense = <V>(v: V): V =>
  (Array.isArray(v)
    ? v.every((x) => typeof x === "number")
      ? Array.from(v as number[], (x) => x)
      : v.map(dense)
    : v) as V;

function denseMeasures(results: ProbeResult[]): ProbeResult[] {
  return results.map((r) => ({
    ...r,
    measures: Object.fromEntries(
      Object.entries(r.measures).map(([name, m]) => [
        name,
        "value" in m ? { ...m, value: dense(m.value), ...(m.perPrompt && { perPrompt: dense(m.perPrompt) }) } : m,
      ]),
    ),
  }));
}

export function readRun(file: string, root: string): Source {
  const run = RunSchema.parse(JSON.parse(fs.readFileSync(file, "utf8")));
  return {
    file: path.relative(root, file),
    startedAt: run.startedAt,
    results: denseMeasures(run.results),
    strata: run.promptSet?.strata,
  };
}

/** The newest run the hypotheses' setup wrote, if any. */
export function newestRun(cacheDir: string): string | undefined {
  const runs = path.join(cacheDir, "runs");
  if (!fs.existsSync(runs)) return undefined;
  const files = fs
    .readdirSync(runs)
    .filter((f) => f.endsWith(".json"))
    .sort();
  return files.length ? path.join(runs, files[files.length - 1]) : undefined;
}

export function readSnapshot(): Source & { printed: PrintedSide[]; note: string } {
  const snapshot = SnapshotSchema.parse(JSON.parse(fs.readFileSync(SNAPSHOT, "utf8")));
  return { ...snapshot, results: denseMeasures(snapshot.results) };
}

/** A side's name: hypothesis, cohort, the spec's prediction, the row's subject (and baseline), and which side. */
const keyOf = (
  h: string,
  c: string,
  prediction: string | number,
  subject: string,
  baseline: string | undefined,
  side: string,
) => [h, c, prediction, subject, baseline ?? "", side].join(" | ");

/**
 * The tested sides a results.json printed, by name, where it was written for the run that started at `startedAt`
 * (results.json dates a run to the second); undefined where it was not. A spec's predictions are told apart by their
 * order among those that have tested rows.
 */
export function printedSides(resultsJson: string, startedAt: string): PrintedSide[] | undefined {
  if (!fs.existsSync(resultsJson)) return undefined;
  const Row = SideSchema.partial().extend({ cohort: z.string(), subject: z.string(), baseline: z.string().optional() });
  const Results = z.object({
    date: z.string(),
    verdicts: z.record(
      z.string(),
      z.object({
        predictions: z.array(z.object({ rows: z.array(Row.extend({ control: SideSchema.partial().optional() })) })),
      }),
    ),
  });
  const results = Results.parse(JSON.parse(fs.readFileSync(resultsJson, "utf8")));
  if (results.date !== startedAt.replace("T", " ").slice(0, 19)) return undefined;
  return Object.entries(results.verdicts).flatMap(([h, v]) =>
    v.predictions
      .filter((p) => p.rows.some((r) => r.tests !== undefined))
      .flatMap((p, k) =>
        p.rows.flatMap((r) =>
          (["row", "control"] as const).flatMap((side) => {
            const s = SideSchema.safeParse(side === "row" ? r : r.control);
            return s.success ? [{ key: keyOf(h, r.cohort, k, r.subject, r.baseline, side), ...s.data }] : [];
          }),
        ),
      ),
  );
}

/** Every tested side of the families, judged on the run's own values as the specs judge, named as printedSides names them. */
export function judgedSides(families: readonly Family[]): PrintedSide[] {
  return families.flatMap((f) => {
    const judged = judgeSides(
      f.sides.map((side) => side.map((p) => p.test)),
      f.strata,
    );
    const predictions = [...new Set(f.sides.map((side) => side[0].prediction))];
    return judged.rows.map((row, i) => {
      const first = f.sides[i][0];
      const j = row.parts[row.shown];
      return {
        key: keyOf(
          f.hypothesis,
          f.cohort,
          predictions.indexOf(first.prediction),
          first.subject,
          first.baseline,
          first.side,
        ),
        ci: j.ci,
        p: j.p,
        pReject: j.pReject,
        pRejectAdjusted: j.pRejectAdjusted,
        resamples: j.resamples,
        tests: judged.tests,
        detectable: j.detectable,
      };
    });
  });
}

/** Where the calibration's judging differs from what a report printed: a side on one hand only, or a number that differs. */
export function differences(printed: readonly PrintedSide[], judged: readonly PrintedSide[]): string[] {
  const byKey = new Map(printed.map((s) => [s.key, s]));
  const out: string[] = [];
  for (const j of judged) {
    const p = byKey.get(j.key);
    byKey.delete(j.key);
    if (!p) out.push(`${j.key}: judged here, not printed`);
    else
      for (const field of Object.keys(SideSchema.shape) as (keyof typeof SideSchema.shape)[])
        if (JSON.stringify(p[field]) !== JSON.stringify(j[field]))
          out.push(`${j.key}: ${field} printed ${JSON.stringify(p[field])}, judged ${JSON.stringify(j[field])}`);
  }
  for (const key of byKey.keys()) out.push(`${key}: printed, not judged here`);
  return out;
}
