/**
 * The harness check can fail: a harness that gave one verdict whatever the rows
 * said would reach the default presets' plants for one verdict only, and the
 * check names every other. The default presets plant, for every hypothesis, a
 * confirmation, a rejection and an effect at the bound.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Prediction, PredictionRow } from "../contract/prediction.js";
import type { PlantedSubject, PlantedVerdict } from "../contract/run-file.js";
import { plantedSubjects } from "../hypotheses/preregistration.js";
import { PRESETS } from "../models/analogs/presets.js";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { harnessCheck, harnessLine, PLANTED_KINDS } from "../reports/harness.js";
import { resultsJson } from "../reports/results.js";
import { summaryLines } from "../reports/summary.js";
import { judgeHypothesis, type HypothesisOutcome } from "../reports/verdicts.js";

const HYPOTHESES = fs
  .readdirSync(path.join(PROJECT_ROOT, "hypotheses"))
  .filter((f) => f.endsWith(".spec.ts"))
  .map((f) => f.replace(/\.spec\.ts$/, ""));

/** The default run's planted subjects: every analog entry in models/ built from its preset as it is. */
const DEFAULT_PLANTS: PlantedSubject[] = plantedSubjects(
  fs
    .readdirSync(path.join(PROJECT_ROOT, "models"))
    .filter((f) => f.endsWith("-analog.json"))
    .map((f) => ModelEntrySchema.parse(JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "models", f), "utf8")))),
  fs.readdirSync(path.join(PROJECT_ROOT, "models")).map((f) => f.replace(/\.json$/, "")),
);

/** A row a harness stuck on one verdict would give: its interval on the claimed side, straddling the bound, or past it. */
const stuckRow = (subject: string, verdict: PlantedVerdict): Omit<PredictionRow, "cohort"> => ({
  subject,
  baseline: "llama-analog",
  value: verdict === "confirmed" ? 2 : verdict === "inconclusive" ? 1.72 : 1.1,
  ci: verdict === "confirmed" ? [1.9, 2.1] : verdict === "inconclusive" ? [1.6, 1.8] : [1, 1.2],
  passed: verdict === "confirmed",
  inconclusive: verdict === "inconclusive" || undefined,
});

/** Every hypothesis judged by a harness that gives `verdict` to every row of every planted subject. */
function stuckOutcomes(verdict: PlantedVerdict): HypothesisOutcome[] {
  return HYPOTHESES.map((hypothesis) => {
    const rows = DEFAULT_PLANTS.map((s) => ({ ...stuckRow(s.id, verdict), cohort: "synthetic" as const }));
    const prediction: Prediction = {
      hypothesis,
      criterion: "ratio ≥ 1.72",
      threshold: 1.72,
      why: "",
      passed: verdict === "confirmed",
      rows,
      cohorts: { synthetic: {} },
    };
    return {
      hypothesis,
      file: `${hypothesis}.spec.ts`,
      moduleErrors: [],
      tests: [{ name: "p", state: "passed", prediction }],
    };
  });
}

describe("the harness check on the default presets", () => {
  it("finds a planted subject for every preset that declares verdicts, and its entry's notes say what it plants", () => {
    const declaring = Object.entries(PRESETS).filter(([, p]) => Object.keys(p.expects ?? {}).length);
    expect(DEFAULT_PLANTS.map((s) => s.preset).sort()).toEqual(declaring.map(([name]) => name).sort());
    for (const s of DEFAULT_PLANTS) expect(s.planted).toBe(PRESETS[s.preset].planted);
  });

  it("leaves out a preset whose at-bound effects were solved on another prompt set", () => {
    const ids = DEFAULT_PLANTS.map((s) => s.id);
    const onOthers = plantedSubjects(
      DEFAULT_PLANTS.map((s) =>
        ModelEntrySchema.parse({ id: s.id, family: "mistral", source: { analog: s.preset }, synthetic: true }),
      ),
      ids,
      "paradox-32",
    );
    expect(onOthers.map((s) => s.preset).sort()).toEqual(
      DEFAULT_PLANTS.filter((s) => !PRESETS[s.preset].solvedOn)
        .map((s) => s.preset)
        .sort(),
    );
    expect(onOthers.length).toBeLessThan(DEFAULT_PLANTS.length);
  });

  it("plants a confirmation, a rejection and an effect at the bound for every hypothesis", () => {
    expect(HYPOTHESES.length).toBe(5);
    for (const h of HYPOTHESES)
      for (const kind of PLANTED_KINDS)
        expect(
          DEFAULT_PLANTS.filter((s) => s.expects[h] === kind).map((s) => s.id),
          `${h}: ${kind}`,
        ).not.toEqual([]);
  });

  for (const verdict of PLANTED_KINDS)
    it(`fails a harness that always says ${verdict}, naming each plant that differs`, () => {
      const check = harnessCheck(stuckOutcomes(verdict), DEFAULT_PLANTS);
      const planted = DEFAULT_PLANTS.flatMap((s) => Object.values(s.expects));
      expect(check.total).toBe(planted.length);
      expect(check.asPlanted).toBe(planted.filter((v) => v === verdict).length);
      expect(check.differences.length).toBe(planted.length - check.asPlanted);
      expect(check.differences.length).toBeGreaterThanOrEqual(2 * HYPOTHESES.length);
      expect(harnessLine(check)).toMatch(/^harness check FAILED: \d+ of \d+ as planted$/);
      // Every other kind, for every hypothesis, is named.
      for (const h of HYPOTHESES)
        for (const other of PLANTED_KINDS.filter((k) => k !== verdict))
          expect(
            check.differences.some((d) => d.includes(`: ${h} planted ${other}, got ${verdict}`)),
            `${h} ${other}`,
          ).toBe(true);
      expect(check.unplanted).toEqual([]);
    });

  it("passes a harness that reaches each plant's verdict, and lists every plant in results.json", () => {
    const outcomes = HYPOTHESES.map((hypothesis) => {
      const rows = DEFAULT_PLANTS.filter((s) => s.expects[hypothesis]).map((s) => ({
        ...stuckRow(s.id, s.expects[hypothesis]),
        // A confound is a row whose position-0 control disagrees: it holds with position 0 and not without it.
        ...(s.expects[hypothesis] === "confounded" && {
          ...stuckRow(s.id, "confirmed"),
          control: stuckRow(s.id, "rejected"),
        }),
        cohort: "synthetic" as const,
      }));
      const prediction: Prediction = {
        hypothesis,
        criterion: "ratio ≥ 1.72",
        threshold: 1.72,
        why: "",
        passed: false,
        rows,
        cohorts: { synthetic: {} },
      };
      return { hypothesis, file: "", moduleErrors: [], tests: [{ name: "p", state: "passed" as const, prediction }] };
    });
    const check = harnessCheck(outcomes, DEFAULT_PLANTS);
    expect(check.differences).toEqual([]);
    expect(harnessLine(check)).toBe(`harness check: ${check.total} of ${check.total} as planted`);
    const verdicts = outcomes.map((o) => judgeHypothesis(o));
    const json = resultsJson(
      { results: [], failures: [], skipped: [], registryProblems: [], startedAt: "", promptSet: {} } as never,
      verdicts,
      { harness: check, durationS: 0 },
    ) as { harness_check: { plants: unknown[] } };
    expect(json.harness_check.plants).toHaveLength(check.total);
    expect(json.harness_check.plants).toContainEqual({
      preset: "at-bound",
      hypothesis: "attention-sink",
      planted: "inconclusive",
      got: "inconclusive",
    });
    for (const p of json.harness_check.plants)
      expect(Object.keys(p as object).sort()).toEqual(["got", "hypothesis", "planted", "preset"]);
    // With no real model the synthetic subjects are the headline: each hypothesis' line is its part of the check.
    const lines = summaryLines(verdicts, undefined, { color: false, harness: check });
    expect(lines[1]).toMatch(
      /^ {2}attention-sink +AS PLANTED +at-bound-analog inconclusive, confirmed-analog confirmed, /,
    );
    expect(lines.filter((l) => /^ {4}\S/.test(l))).toHaveLength(HYPOTHESES.length);
  });
});
