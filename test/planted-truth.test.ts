/**
 * The planted-truth matrix: for each hypothesis one analog set planted to
 * confirm it and one planted to reject it, run through the real hypotheses
 * project (vitest, globalSetup, specs, reporter) in a child process.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runHypotheses, type Entry } from "./helpers.js";

const subject = (knobs: Record<string, unknown>): Entry => ({
  id: "subject",
  family: "mistral",
  source: { analog: "mistral-small", knobs },
});
const baseline: Entry = { id: "baseline", family: "llama", source: { analog: "llama" } };
const verdict = (r: ReturnType<typeof runHypotheses>, h: string) => r.results.verdicts[h].verdict;

describe("the planted-truth matrix: each verdict comes out as planted", () => {
  it("silent-exit: confirmed with W_U ×3 on the subject, rejected without", () => {
    expect(verdict(runHypotheses([subject({ wUScale: 3 }), baseline]), "silent-exit")).toBe("confirmed");
    expect(verdict(runHypotheses([subject({}), baseline]), "silent-exit")).toBe("rejected");
  });

  it("entropy-efficiency: confirmed with logits sharpened ×3, rejected with them flattened ×0.5", () => {
    expect(verdict(runHypotheses([subject({ sharpness: 3 }), baseline]), "entropy-efficiency")).toBe("confirmed");
    expect(verdict(runHypotheses([subject({ sharpness: 0.5 }), baseline]), "entropy-efficiency")).toBe("rejected");
  });

  it("residual-explosion: the control (d) flips when only the first-token activation changes", () => {
    const kept = runHypotheses([
      subject({ lastLayerGain: 0.8, massive: { dim: 5, magnitude: 10, layer: 1, removedAtLast: 0 } }),
    ]);
    const removed = runHypotheses([
      subject({ lastLayerGain: 0.8, massive: { dim: 5, magnitude: 80, layer: 1, removedAtLast: 0.7 } }),
    ]);
    expect(verdict(kept, "residual-explosion")).toBe("confirmed");
    expect(verdict(removed, "residual-explosion")).toBe("rejected");
    const control = (r: typeof kept) =>
      r.results.verdicts["residual-explosion"].predictions.find((p: { name: string }) => p.name.startsWith("(d)"));
    expect(control(kept).passed).toBe(true);
    expect(control(removed).passed).toBe(false);
    expect(removed.results.verdicts["residual-explosion"].reason).toMatch(
      /position 0 \(the first token's massive activation\) drives the whole-tensor effect/,
    );
  });

  it("without any baseline the comparative hypotheses are inconclusive, and say why", () => {
    const r = runHypotheses([subject({})]);
    for (const h of ["silent-exit", "entropy-efficiency"]) {
      expect(verdict(r, h)).toBe("inconclusive");
      expect(r.results.verdicts[h].reason).toMatch(
        /no baseline model of the subject.s cohort \(synthetic\) is available to compare subject with/,
      );
    }
    expect(verdict(r, "residual-explosion")).not.toBe("inconclusive");
  });
});

describe("the default run", () => {
  it("yields one verdict per hypothesis, no error, on at least 4 models of 4 families, and says so in the terminal", () => {
    const r = runHypotheses(undefined);
    const specs = fs
      .readdirSync(path.join(import.meta.dirname, "..", "hypotheses"))
      .filter((f) => f.endsWith(".spec.ts"))
      .map((f) => f.replace(".spec.ts", ""));
    expect(Object.keys(r.results.verdicts).sort()).toEqual(specs.sort());
    for (const v of Object.values(r.results.verdicts) as { verdict: string }[]) expect(v.verdict).not.toBe("error");
    for (const key of [
      "experiment",
      "date",
      "models_tested",
      "unembedding_analysis",
      "residual_stream_analysis",
      "entropy_analysis",
      "hypotheses",
    ])
      expect(r.results).toHaveProperty(key);
    expect(r.results.models_tested.length).toBeGreaterThanOrEqual(4);
    expect(
      new Set(Object.values(r.results.unembedding_analysis).map((m) => (m as { family: string }).family)).size,
    ).toBeGreaterThanOrEqual(4);
    // A line a hypothesis, in the specs' order.
    expect(r.output).toMatch(
      new RegExp(
        `probespec verdicts[^\\n]*\\n${specs.map((h) => ` {2}${h} +(CONFIRMED|REJECTED|INCONCLUSIVE).*\\n`).join("")}`,
      ),
    );
    expect(fs.existsSync(path.join(r.reportDir, "index.html"))).toBe(true);
  });
});
