/**
 * Silent exit's measure, the readout's softmax-relevant gain, through the real
 * probe path on generated models: vocabulary size and width cannot fake it, a
 * shift common to every logit does not move it, and a planted ×k reads as k.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { analogConfig, type AnalogConfig } from "../models/analogs/config.js";
import { emitModel } from "../models/writer/emit.js";
import { byteTokenizerJson } from "../models/analogs/tokenizers.js";
import { tokenizerConfigJson } from "../models/writer/tokenizer.js";
import { generateWeights } from "../models/analogs/weights.js";
import type { ModelWeights } from "../models/writer/types.js";
import { hfConfig, writeModelFolder } from "../models/writer/folder.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { softmaxGain } from "../probes/metrics.js";
import { probeModel, type ProbeResult } from "../probes/probe.js";
import { measure } from "../hypotheses/measures.js";
import { runProbes } from "../probes/run.js";
import { TEST_CACHE, tmpDir } from "./helpers.js";
import { notebookNumbers } from "../reports/results.js";

/** Probes a llama analog of this config (its weights edited by `edit`) and returns its readout gains. */
async function readoutGain(
  over: Partial<AnalogConfig>,
  edit: (w: ModelWeights<Float32Array>, c: AnalogConfig) => void = () => {},
) {
  const c = analogConfig("llama", { layers: 2, heads: 4, hidden: 64, seed: 5, calibrationIds: [1, 2], ...over });
  const w = generateWeights(c);
  edit(w, c);
  const dir = path.join(tmpDir(), "m");
  writeModelFolder(dir, {
    proto: emitModel(c, w, { dialect: "torchscript" }),
    dialect: "torchscript",
    external: false,
    config: hfConfig(c),
    tokenizer: byteTokenizerJson(c.vocab),
    tokenizerConfig: tokenizerConfigJson(128),
  });
  const r = await probeModel(
    ModelEntrySchema.parse({ id: "m", family: "llama", source: { dir } }),
    dir,
    ["The capital of France is"],
    { device: "cpu" },
  );
  return { gain: gain(r, "readout.gain"), spectral: notebookNumbers(r).unembedding_eff!.spectral_normalized };
}

describe("the readout gain that silent-exit is judged on", () => {
  it("equals √((‖W‖²_F − V‖w̄‖²) / V), the centred rows' RMS by the parallel-axis identity, in float64", () => {
    const [V, d] = [300, 7];
    const W = Float32Array.from({ length: V * d }, (_, i) => Math.sin(i * 0.37) + 0.3 * ((i % d) - 3));
    let fro = 0;
    const mean = new Array(d).fill(0);
    W.forEach((v, i) => {
      fro += v * v;
      mean[i % d] += v / V;
    });
    const expected = Math.sqrt((fro - V * mean.reduce((a, m) => a + m * m, 0)) / V);
    expect(Math.abs(softmaxGain(W, V, d) / expected - 1)).toBeLessThan(1e-12);
  });

  it("does not grow with the vocabulary: 512 against 32000 tokens, within 5% (σ/√d grows about 8x)", async () => {
    const [small, large] = [await readoutGain({ vocab: 512, d: 32 }), await readoutGain({ vocab: 32000, d: 32 })];
    expect(Math.abs(large.gain / small.gain - 1)).toBeLessThan(0.05);
    expect(large.spectral / small.spectral).toBeGreaterThan(3);
  });

  it("does not grow with the width: d 64 against 256 with the usual 1/√d initialisation, within 5%", async () => {
    const [narrow, wide] = [await readoutGain({ d: 64, vocab: 512 }), await readoutGain({ d: 256, vocab: 512 })];
    expect(Math.abs(wide.gain / narrow.gain - 1)).toBeLessThan(0.05);
  });

  it("ignores a vector added to every row of W_U, which shifts every logit alike", async () => {
    const plain = await readoutGain({ d: 32, vocab: 512 });
    const shifted = await readoutGain({ d: 32, vocab: 512 }, (w, c) => {
      for (let r = 0; r < c.vocab; r++) for (let j = 0; j < c.d; j++) w.lmHead[r * c.d + j] += 0.8 * Math.cos(j);
    });
    expect(Math.abs(shifted.gain / plain.gain - 1)).toBeLessThan(1e-5);
    expect(shifted.spectral / plain.spectral).toBeGreaterThan(2);
  });

  it("reads W_U planted ×k as k, within 5%", async () => {
    const plain = await readoutGain({ d: 32, vocab: 512 });
    for (const k of [1.5, 3]) {
      const planted = await readoutGain({ d: 32, vocab: 512 }, (w) =>
        w.lmHead.forEach((v, i) => (w.lmHead[i] = v * k)),
      );
      expect(Math.abs(planted.gain / plain.gain / k - 1)).toBeLessThan(0.05);
    }
  });
});

const gain = (r: ProbeResult, name: string) => measure(r, name).value;

describe("the default run's synthetic cohort reads as planted", () => {
  it("mistral-analog against llama-analog (32000 vs 512 tokens): W_U and W_U_eff both 1.5x as planted", async () => {
    const run = await runProbes({
      env: {
        PROBESPEC_MODELS: "mistral-analog,llama-analog",
        PROBESPEC_CACHE_DIR: TEST_CACHE,
        PROBESPEC_DEVICE: "cpu",
      },
      promptSet: { name: "one", file: "-", prompts: ["The capital of France is"] },
    });
    const [m, l] = ["mistral-analog", "llama-analog"].map((id) => run.results.find((r) => r.id === id)!);
    expect(Math.abs(gain(m, "readout.gain_wu") / gain(l, "readout.gain_wu") / 1.5 - 1)).toBeLessThan(0.05);
    expect(Math.abs(gain(m, "readout.gain") / gain(l, "readout.gain") / 1.5 - 1)).toBeLessThan(0.05);
    // The notebook's σ(W_U_eff)/√d reads the vocabulary too (σ grows about as √V): over four times the planted 1.5.
    expect(
      notebookNumbers(m).unembedding_eff!.spectral_normalized / notebookNumbers(l).unembedding_eff!.spectral_normalized,
    ).toBeGreaterThan(4 * 1.5);
  });
});
