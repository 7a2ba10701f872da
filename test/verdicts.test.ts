/**
 * A verdict never says more than its rows: each cohort judged on its own, a
 * position-0 control that can fail, a role no model fills left open, and every
 * threshold in a title, criterion or reason rendered from criteria.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Prediction, PredictionRow } from "../contract/prediction.js";
import { predictionVerdict, rowVerdict } from "../contract/verdict.js";

type Side = Pick<PredictionRow, "value" | "passed" | "inconclusive" | "ci">;
const confirmed: Side = { value: 0.6, passed: true, ci: [0.5, 0.7] };
const rejected: Side = { value: 1.3, passed: false, ci: [1.2, 1.4] };
const open: Side = { value: 0.98, passed: false, inconclusive: true, ci: [0.9, 1.05] };
const row = (main: Side, control?: Side, subject = "s"): PredictionRow => ({
  subject,
  cohort: "real",
  ...main,
  ...(control && { control }),
});
const prediction = (rows: PredictionRow[], cohorts: Prediction["cohorts"] = { real: {} }): Prediction => ({
  hypothesis: "h",
  criterion: "gain below 1",
  threshold: 1,
  why: "",
  passed: false,
  rows,
  cohorts,
});

describe("a row judged with and without position 0", () => {
  it("is confounded where one side holds and the other fails, either way round", () => {
    expect(rowVerdict(row(confirmed, rejected))).toBe("confounded");
    expect(rowVerdict(row(rejected, confirmed))).toBe("confounded");
  });

  it("keeps the plain verdict where both sides agree, and stays open where either side is", () => {
    expect(rowVerdict(row(confirmed, confirmed))).toBe("confirmed");
    expect(rowVerdict(row(rejected, rejected))).toBe("rejected");
    expect(rowVerdict(row(confirmed, open))).toBe("inconclusive");
    expect(rowVerdict(row(open, rejected))).toBe("inconclusive");
  });

  it("never passes or fails on a number that is not finite, on either side", () => {
    expect(rowVerdict(row({ ...confirmed, value: NaN }))).toBe("inconclusive");
    expect(rowVerdict(row(confirmed, { ...rejected, value: NaN }))).toBe("inconclusive");
    expect(rowVerdict(row({ ...rejected, ci: [NaN, NaN] }))).toBe("inconclusive");
  });

  it("names both values in a confounded prediction's reason", () => {
    const v = predictionVerdict(prediction([row(confirmed, rejected)]), "real")!;
    expect(v.verdict).toBe("confounded");
    expect(v.reason).toMatch(/s: 0.6000 with position 0, 1.300 without it/);
  });
});

describe("a cohort judged on its own models", () => {
  it("is inconclusive where a role is missing, saying which, whatever another cohort's rows say", () => {
    const synthetic = { ...row(rejected), subject: "analog", cohort: "synthetic" as const };
    const p = prediction([synthetic], { real: { missing: "no real baseline to compare s with" }, synthetic: {} });
    expect(predictionVerdict(p, "real")).toEqual({
      verdict: "inconclusive",
      reason: "no real baseline to compare s with",
    });
    expect(predictionVerdict(p, "synthetic")!.verdict).toBe("rejected");
  });

  it("is an error where a model it needs failed, and absent where the run has no model of it", () => {
    const p = prediction([row(confirmed)], { real: { error: "a model this hypothesis needs could not be probed" } });
    expect(predictionVerdict(p, "real")!.verdict).toBe("error");
    expect(predictionVerdict(p, "synthetic")).toBeUndefined();
  });

  it("ranks a rejection above a confound, a confound above a gap", () => {
    expect(predictionVerdict(prediction([row(confirmed, rejected), row(rejected)]), "real")!.verdict).toBe("rejected");
    expect(predictionVerdict(prediction([row(confirmed, rejected), row(open)]), "real")!.verdict).toBe("confounded");
  });
});

describe("thresholds in the specs", () => {
  it("no spec writes a number into a title, criterion, why or reason: each is rendered from criteria.ts", () => {
    const dir = path.join(import.meta.dirname, "..", "hypotheses");
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".spec.ts"))) {
      const text = fs.readFileSync(path.join(dir, f), "utf8");
      // Every string a title or a prediction's text is built from: it(…)'s first argument and the
      // criterion/why/ciOf/explanation fields, with template holes removed.
      const strings = [
        ...text.matchAll(/\bit\(\s*(`[^`]*`|"[^"]*")/g),
        ...text.matchAll(/\b(?:criterion|why|ciOf|explanation):\s*(`[^`]*`|"[^"]*")/g),
      ].map((m) => m[1].replace(/\$\{[^}]*\}/g, ""));
      expect(strings.length, f).toBeGreaterThan(0);
      for (const s of strings) expect(s, `${f}: ${s}`).not.toMatch(/\d\.\d|\d+(\.\d+)?x\b|\d+%/);
    }
  });
});
