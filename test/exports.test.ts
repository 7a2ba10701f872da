/**
 * Exports from the real exporters (tools/make_exports.py): HuggingFace's own
 * modeling classes through torch.onnx.export (TorchScript and dynamo, opsets 17,
 * 18 and 23), ONNX Runtime's transformers optimizer and quantisers, and
 * onnxruntime-genai's model builder; each probed as a user's plain `dir` entry
 * and held to the reference torch computed on the same weights.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { probeModel } from "../probes/probe.js";
import { runProbes } from "../probes/run.js";
import { locate } from "../probes/locate.js";
import { decodeModel, encodeModel } from "../onnx/io.js";
import { EXPORTS, EXPORTS_MISSING } from "./exports.js";
import { at, rel, tmpDir } from "./helpers.js";
import { notebookNumbers } from "../reports/results.js";

const FAMILY: Record<string, string> = { mistral: "mistral", llama: "llama", gemma: "gemma", gpt_neox: "pythia" };

/**
 * The tolerance a metric is held to: 1e-5 in fp32 and against onnxruntime's own run, 1e-3 in fp16 against torch; quantised
 * exports against torch on their dequantised weights, within the error their
 * quantisation itself makes on the logits (activations are quantised too).
 */
function tolerance(
  name: string,
  ref: { quant_error?: number; reference?: string },
): { weights: number; activations: number } {
  // onnxruntime's own run of the same file (fp16 and q4f16 graphs): the same computation, but which tensors are
  // exposed changes what ORT fuses (a fused norm computes in float32), so fp16 roundings differ by ~2e-5.
  if (ref.reference === "onnxruntime") return { weights: 1e-5, activations: 1e-4 };
  if (ref.quant_error !== undefined) return { weights: 1e-5, activations: Math.max(1e-4, 3 * ref.quant_error) };
  return name.endsWith("fp16") ? { weights: 1e-3, activations: 1e-3 } : { weights: 1e-5, activations: 1e-5 };
}

describe(`real exporters' graphs${EXPORTS_MISSING ? ` — skipped: ${EXPORTS_MISSING}` : ""}`, () => {
  for (const [name, dir] of EXPORTS) {
    it(`${name}: located with no code change, every seed metric matches the exporter's own framework`, async () => {
      const ref = JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8"));
      const entry = ModelEntrySchema.parse({ id: name, family: FAMILY[ref.family] ?? "other", source: { dir } });
      const r = await probeModel(entry, dir, [ref.prompt], { device: "cpu" });
      const tol = tolerance(name, ref);
      expect(r.layers).toBe(ref.norms.length);
      expect(r.parallel).toBe(ref.family === "gpt_neox");
      notebookNumbers(r).residual!.norms.forEach((n, L) =>
        expect(rel(n, ref.norms[L]), `norm ${L}`).toBeLessThan(tol.activations),
      );
      notebookNumbers(r).residual!.gains.forEach((g, L) =>
        expect(rel(g, ref.gains[L]), `gain ${L}`).toBeLessThan(tol.activations),
      );
      for (const m of ["unembedding", "embedding"] as const) {
        for (const [k, v] of Object.entries(ref[m])) {
          if (typeof v === "number")
            expect(rel(((notebookNumbers(r) as never)[m] as never)[k], v), `${m}.${k}`).toBeLessThan(tol.weights);
          else expect(((notebookNumbers(r) as never)[m] as never)[k]).toEqual(v);
        }
      }
      expect(r.tied.value).toBe(ref.tied_embeddings);
      // The logit lens re-applies the final norm the locator read (kind, eps, gain): at the last layer it is the model's output.
      expect(
        Math.abs(at(r, "lens.entropy")[r.layers - 1] - ref.entropy.entropy) / ref.entropy.entropy,
        "lens at the last layer",
      ).toBeLessThan(tol.activations);
      // Every point but the attention probabilities of fused attention ops is found.
      for (const u of r.provenance.unavailable) expect(u.reason).toMatch(/^attention is fused into/);
      // The attention probabilities against eager attention's own (torch references only).
      if (ref.attention && "value" in r.measures["pattern.entropy"])
        at(r, "pattern.entropy").forEach((h, L) =>
          expect(Math.abs(h - ref.attention.entropy[L]), `attention entropy ${L}`).toBeLessThan(tol.activations),
        );
      expect(
        Math.abs(
          (r.measures["logits.entropy_lnv"] as { value: number }).value - ref.entropy.entropy / Math.log(r.vocab),
        ) / ref.entropy.entropy,
        "entropy ÷ ln V",
      ).toBeLessThan(tol.activations);
      for (const k of ["logit_mean", "logit_std", "logit_max", "logit_min", "entropy", "top10_prob_mass"]) {
        const scale = k === "logit_mean" ? ref.entropy.logit_std : ref.entropy[k];
        expect(
          Math.abs((notebookNumbers(r).entropy! as never)[k] - ref.entropy[k]) / Math.abs(scale),
          `entropy.${k}`,
        ).toBeLessThan(tol.activations);
      }
      // The measures the comparative predictions read, against the same reference (one prompt: value = that prompt's).
      expect(rel(at<number>(r, "logits.spread"), ref.entropy.logit_std), "logits.spread").toBeLessThan(tol.activations);
      expect(rel(at<number>(r, "logits.entropy"), ref.entropy.entropy), "logits.entropy").toBeLessThan(tol.activations);
    });
  }
});

describe("an export added as one config entry", () => {
  it("probes a GenAI builder fp16 folder (genai_config.json only, model.onnx.data) and a dynamo opset-23 export through the registry, with no code change", async () => {
    const models = tmpDir("probespec-entries-");
    const dirs = { "genai-fp16": "llama-genai-fp16", "dynamo-23": "qwen3-dynamo23" } as const;
    for (const [id, name] of Object.entries(dirs)) {
      fs.writeFileSync(
        path.join(models, `${id}.json`),
        JSON.stringify({
          id,
          family: "other",
          source: { dir: path.join(import.meta.dirname, "fixtures", "exports", name) },
        }),
      );
    }
    const run = await runProbes({
      env: {
        ...process.env,
        PROBESPEC_MODELS_DIR: models,
        PROBESPEC_MODELS: Object.keys(dirs).join(","),
        PROBESPEC_CACHE_DIR: tmpDir(),
        PROBESPEC_DEVICE: "cpu",
      },
      promptSet: { name: "one", file: "-", prompts: ["The capital of France is"] },
    });
    expect(run.failures).toEqual([]);
    for (const [id, name] of Object.entries(dirs)) {
      const ref = JSON.parse(
        fs.readFileSync(path.join(import.meta.dirname, "fixtures", "exports", name, "reference.json"), "utf8"),
      );
      const r = run.results.find((x) => x.id === id)!;
      notebookNumbers(r).residual!.norms.forEach((n, L) =>
        expect(rel(n, ref.norms[L]), `${id} norm ${L}`).toBeLessThan(1e-3),
      );
    }
  });
});

describe("inputs besides the ids, fed as their exporter declares them", () => {
  it("feeds token_type_ids zeros of [1, n], not an empty past", async () => {
    const dir = path.join(tmpDir(), "with-token-types");
    fs.cpSync(path.join(import.meta.dirname, "fixtures", "exports", "llama-dynamo23"), dir, { recursive: true });
    const m = decodeModel(fs.readFileSync(path.join(dir, "model.onnx")));
    const ids = m.graph!.input.find((i) => i.name === "input_ids")!;
    m.graph!.input.push({ ...ids, name: "token_type_ids" });
    fs.writeFileSync(path.join(dir, "model.onnx"), encodeModel(m));
    const ref = JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8"));
    const entry = ModelEntrySchema.parse({ id: "types", family: "llama", source: { dir } });
    const located = locate(m, {});
    expect(located.inputs.extra.find((i) => i.name === "token_type_ids")?.role).toBe("segments");
    const r = await probeModel(entry, dir, [ref.prompt], { device: "cpu" });
    notebookNumbers(r).residual!.norms.forEach((n, L) => expect(rel(n, ref.norms[L]), `norm ${L}`).toBeLessThan(1e-5));
  });
});
