/**
 * The Brown baseline (models/brown-baseline.json), a small Llama trained by tools/train_baseline.py,
 * through the default registry and the real probe run, against what its GGUF holds run forward
 * in float64 by transformers' own GGUF loader (test/fixtures/brown-baseline/reference.json):
 * tokenisation, each layer's residual norm and the last position's entropy within 1e-4.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadRegistry, PROJECT_ROOT } from "../models/registry/registry.js";
import { partsSha256 } from "../models/writer/cache.js";
import { loadTokenizer } from "../probes/tokenizer.js";
import { runProbes } from "../probes/run.js";
import { at, rel, TEST_CACHE } from "./helpers.js";

const ID = "brown-llama-32k";
const REFERENCE = path.join(import.meta.dirname, "fixtures", "brown-baseline", "reference.json");
const TOLERANCE = 1e-4;

interface Reference {
  model: string;
  sha256: string;
  prompts: { source: string; prompt: string; input_ids: number[]; norms: number[]; entropy: number }[];
}

describe("the Brown baseline against a float64 forward of its GGUF", () => {
  it("is a real trained baseline of the default registry, and the reference is of its committed file", async () => {
    const ref: Reference = JSON.parse(fs.readFileSync(REFERENCE, "utf8"));
    const entry = (await loadRegistry()).entries.find((e) => e.id === ID)!;
    expect(entry).toMatchObject({ family: "llama", role: "baseline", synthetic: false, source: { gguf: ref.model } });
    const sha = "sha256" in entry.source ? entry.source.sha256 : undefined;
    expect(sha).toBe(ref.sha256);
    expect(await partsSha256([path.join(PROJECT_ROOT, ref.model)])).toBe(ref.sha256);
  });

  it("tokenises as transformers does, and gives each layer's residual norm and the last entropy within 1e-4", async () => {
    const ref: Reference = JSON.parse(fs.readFileSync(REFERENCE, "utf8"));
    const run = await runProbes({
      env: {
        ...process.env,
        PROBESPEC_MODELS: ID,
        PROBESPEC_CACHE_DIR: TEST_CACHE,
        PROBESPEC_DEVICE: "cpu",
        PROBESPEC_NO_CACHE: "1",
      },
      promptSet: { name: "brown", file: "-", prompts: ref.prompts.map((p) => p.prompt) },
    });
    expect(run.failures).toEqual([]);
    const r = run.results[0];
    expect([r.id, r.layers, r.d, r.vocab, r.tied.value]).toEqual([ID, 4, 128, 32000, false]);
    const tok = loadTokenizer(path.dirname(r.provenance.onnxFile));
    ref.prompts.forEach((p, i) => {
      expect(tok.encode(p.prompt), `ids of ${p.source}`).toEqual(p.input_ids);
      const norms = at(r, "resid.norm", i);
      expect(norms.length).toBe(p.norms.length);
      norms.forEach((v, L) => expect(rel(v, p.norms[L]), `‖resid_post.${L}‖, ${p.source}`).toBeLessThan(TOLERANCE));
      expect(rel(at<number>(r, "logits.entropy", i), p.entropy), `entropy, ${p.source}`).toBeLessThan(TOLERANCE);
    });
  });
});
