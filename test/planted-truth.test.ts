/**
 * The planted-truth matrix: for each hypothesis one analog set planted to
 * confirm it and one planted to reject it, run through the real hypotheses
 * project (vitest, globalSetup, specs, reporter) in a child process.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runHypotheses, tmpDir, type Entry } from "./helpers.js";

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

  it("residual-explosion: confounded where position 0 alone carries the contraction, confirmed where every position does; position-zero confirmed and rejected there", () => {
    const kept = runHypotheses([
      subject({ lastLayerGain: 0.8, massive: { dim: 5, magnitude: 10, layer: 1, removedAtLast: 0 } }),
    ]);
    const removed = runHypotheses([
      subject({ lastLayerGain: 0.8, massive: { dim: 5, magnitude: 80, layer: 1, removedAtLast: 0.7 } }),
    ]);
    expect(verdict(kept, "residual-explosion")).toBe("confirmed");
    expect(verdict(removed, "residual-explosion")).toBe("confounded");
    const paradox = (r: typeof kept) =>
      r.results.verdicts["residual-explosion"].predictions.find((p: { name: string }) => p.name.startsWith("(a)"))
        .rows[0];
    // Both contract with position 0; without it only the first does.
    for (const r of [kept, removed]) expect(paradox(r).passed).toBe(true);
    expect(paradox(kept).control.passed).toBe(true);
    expect(paradox(removed).control.passed).toBe(false);
    expect(removed.results.verdicts["residual-explosion"].reason).toMatch(
      /\(a\) subject: 0\.\d+ with position 0, 1\.\d+ without it.*the first token's massive activation carries the effect/,
    );
    expect(removed.output).toMatch(/residual-explosion +CONFOUNDED/);
    // The same two plants judge the causal claim: replacing position 0 by the mean of the others at the last layer's
    // input ends the contraction only where position 0 carried it.
    expect(verdict(removed, "position-zero")).toBe("confirmed");
    expect(verdict(kept, "position-zero")).toBe("rejected");
  });

  it("without any baseline the comparative hypotheses are inconclusive, and say why", () => {
    const r = runHypotheses([subject({})]);
    for (const h of ["silent-exit", "entropy-efficiency"]) {
      expect(verdict(r, h)).toBe("inconclusive");
      expect(r.results.verdicts[h].reason).toMatch(/no synthetic baseline to compare subject with; add one/);
    }
    expect(verdict(r, "residual-explosion")).not.toBe("inconclusive");
  });
});

describe("each cohort judged on its own models", () => {
  // A fresh clone's shape: a real subject and no real baseline, beside the synthetic cohort.
  const realSubject: Entry = { ...subject({ wUScale: 3 }), id: "real-subject", synthetic: false };
  const analogs: Entry[] = [
    { id: "analog-subject", family: "mistral", source: { analog: "mistral-small" }, role: "subject" },
    { id: "analog-base", family: "llama", source: { analog: "llama" } },
  ];
  const synthetic = /analog-subject|analog-base/;

  it("a real subject without a real baseline is inconclusive, says how to add one, and shows no synthetic row as real", () => {
    const r = runHypotheses([realSubject, ...analogs]);
    for (const h of ["silent-exit", "entropy-efficiency"]) {
      const v = r.results.verdicts[h];
      expect([v.verdict, v.cohort]).toEqual(["inconclusive", "real"]);
      expect(v.reason).toMatch(/no real baseline to compare real-subject with; add one: a models\/<id>\.json entry/);
      expect(v.by_cohort.real.reason).not.toMatch(synthetic);
      expect(v.by_cohort.synthetic.verdict).not.toBe("inconclusive");
    }
    // The summary's lines from its heading to the report's path (progress lines on stderr follow it).
    const from = r.output.indexOf("probespec verdicts (real models)");
    const real = r.output.slice(from, r.output.indexOf("  report: ", from));
    expect(real).not.toMatch(synthetic);
  });

  it("was: with every real model failing, the heading read 'synthetic analogs only'; now the real cohort is an error", () => {
    const bad = path.join(tmpDir(), "bad.gguf");
    fs.writeFileSync(bad, "GGUF but not really");
    const broken: Entry = { id: "real-broken", family: "mistral", source: { gguf: bad }, synthetic: false };
    const r = runHypotheses([broken, ...analogs]);
    expect(r.output).toMatch(/probespec verdicts \(real models\)/);
    for (const v of Object.values(r.results.verdicts) as { verdict: string; cohort: string; reason: string }[]) {
      expect([v.verdict, v.cohort]).toEqual(["error", "real"]);
      expect(v.reason).toMatch(/real-broken/);
    }
    expect(r.status).toBe(1);
  });

  it("a model entry that cannot be read is named once, exits 1, and leaves the verdicts and the harness check as they were", () => {
    const without = runHypotheses([realSubject, ...analogs]);
    const typo = { ...analogs[1], id: "typo", sorce: analogs[1].source } as unknown as Entry;
    delete (typo as { source?: unknown }).source;
    const withTypo = runHypotheses([realSubject, ...analogs, typo]);
    const verdicts = (r: typeof without) =>
      Object.fromEntries(Object.entries(r.results.verdicts).map(([h, v]) => [h, (v as { verdict: string }).verdict]));
    expect(verdicts(withTypo)).toEqual(verdicts(without));
    expect(withTypo.results.harness_check).toEqual(without.results.harness_check);
    const lines = withTypo.output.split("\n").filter((l) => l.includes("typo.json"));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines.join("\n")).toMatch(/sorce/);
    expect(withTypo.status).toBe(1);
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
        `probespec verdicts[^\\n]*\\n${specs.map((h) => ` {2}${h} +(CONFIRMED|REJECTED|INCONCLUSIVE|CONFOUNDED).*\\n`).join("")}`,
      ),
    );
    expect(fs.existsSync(path.join(r.reportDir, "index.html"))).toBe(true);
    // A quiet terminal: probespec's own lines, a screen of them, and no assertion diffs.
    expect(r.output).not.toMatch(/Object\.is|Expected|Received|AssertionError/);
    expect(r.output.trim().split("\n").length).toBeLessThanOrEqual(60);
    // The real cohort is judged in every clone, ../shared or not: a real subject and a trained real baseline, and
    // nothing synthetic in its rows or reasons.
    const real = new Set(
      Object.entries(r.results.provenance.models)
        .filter(([, m]) => !(m as { synthetic: boolean }).synthetic)
        .map(([id]) => id),
    );
    expect([...real]).toEqual(expect.arrayContaining(["tinyllama-1.1b", "brown-llama-32k"]));
    for (const v of Object.values(r.results.verdicts) as {
      cohort: string;
      by_cohort: { real: { reason: string } };
      predictions: { rows?: { cohort: string; subject: string; baseline?: string }[] }[];
    }[]) {
      expect(v.cohort).toBe("real");
      for (const row of v.predictions.flatMap((p) => p.rows ?? []).filter((x) => x.cohort === "real"))
        for (const id of [row.subject, row.baseline ?? row.subject]) expect(real.has(id), id).toBe(true);
      expect(v.by_cohort.real.reason).not.toMatch(/analog/);
    }
    // Every plant came out as planted. The tests' runs are on the hand-written prompts: the effects planted at their
    // bounds were solved on the default sample, so those presets are left out and their verdicts named as not planted.
    expect(r.results.harness_check).toMatchObject({ passed: true });
    for (const h of specs) expect(r.results.harness_check.unplanted).toContain(`${h}: inconclusive`);
    for (const h of specs)
      expect(r.results.harness_check.plants).toContainEqual(
        expect.objectContaining({ hypothesis: h, planted: "confirmed", got: "confirmed" }),
      );
    expect(r.output).toMatch(/harness check: (\d+) of \1 as planted/);
  });
});
