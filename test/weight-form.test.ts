/**
 * 16-bit weights widened per run (onnx/graph.ts castPerRun): ONNX Runtime keeps the weight at 16 bits
 * and the Cast in the graph it runs, the result is the float32 product of the exactly widened weight,
 * and foldCasts gives the float32 forward of the same weights (the Cast folded at load) to compare with.
 */
import fs from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { DT, GraphBuilder, castPerRun, halfTensor, valueInfo } from "../onnx/graph.js";
import { decodeModel, encodeModel } from "../onnx/io.js";
import { bf16ToFloat } from "../onnx/tensor.js";
import { foldCasts, weightForm, weightsAsRun, widenedWeights } from "../probes/weight-form.js";
import { ggufWeightForm } from "../models/gguf/form.js";
import { tmpDir } from "./helpers.js";

const [K, N] = [256, 384];

/** x [batch, seq, K] · W, W a bfloat16 [K, N] initializer widened per run. */
function graph(bits: Uint16Array) {
  const g = new GraphBuilder();
  g.inputs.push(valueInfo("x", DT.FLOAT, ["batch", "seq", K]));
  const w = g.init(halfTensor("W", [K, N], bits, DT.BFLOAT16));
  g.op("/lin", "MatMul", ["x", castPerRun(g, "/lin", w, 2, "x")], { outputs: ["logits"] });
  g.outputs.push(valueInfo("logits", DT.FLOAT, ["batch", "seq", N]));
  return g.model({ "": 17 }, "probespec-test");
}

/** The graph ONNX Runtime runs after its optimisations, and the product of one input. */
async function optimised(proto: ReturnType<typeof graph>, x: Float32Array, seq: number) {
  const file = path.join(tmpDir("probespec-wf-"), "optimised.onnx");
  const s = await ort.InferenceSession.create(encodeModel(proto), { optimizedModelFilePath: file });
  const y = (await s.run({ x: new ort.Tensor("float32", x, [1, seq, K]) })).logits.data as Float32Array;
  await s.release();
  return { ran: decodeModel(fs.readFileSync(file)), y };
}

describe("16-bit weights widened on each run", () => {
  // Deterministic bf16 weights around ±0.05, and an input of 5 positions.
  const bits = Uint16Array.from(
    { length: K * N },
    (_, i) => 0x3d00 + (((i * 2654435761) >>> 20) % 0x200) + (i % 2 ? 0x8000 : 0),
  );
  const seq = 5;
  const x = Float32Array.from({ length: seq * K }, (_, i) => Math.sin(i * 0.37));
  const proto = graph(bits);

  it("are kept at 16 bits in the graph ONNX Runtime runs, the Cast with them; foldCasts makes them float32 at load", async () => {
    expect([...widenedWeights(proto).keys()]).toEqual(["W"]);
    const kept = await optimised(proto, x, seq);
    expect(kept.ran.graph!.node.map((n) => n.opType)).toContain("Cast");
    expect(kept.ran.graph!.initializer.find((t) => t.name === "W")?.dataType).toBe(DT.BFLOAT16);
    const folded = await optimised(foldCasts(proto), x, seq);
    expect(folded.ran.graph!.node.map((n) => n.opType)).not.toContain("Cast");
    expect(folded.ran.graph!.initializer.some((t) => t.dataType === DT.BFLOAT16)).toBe(false);
    // Both are x · W with W widened exactly: float32 rounding of 256-term sums apart (about 1e-6 of the largest).
    const ref = new Float64Array(seq * N);
    for (let s = 0; s < seq; s++)
      for (let k = 0; k < K; k++)
        for (let n = 0; n < N; n++) ref[s * N + n] += x[s * K + k] * bf16ToFloat(bits[k * N + n]);
    const scale = Math.max(...ref.map(Math.abs));
    for (const y of [kept.y, folded.y])
      expect(Math.max(...y.map((v, i) => Math.abs(v - ref[i]))) / scale).toBeLessThan(1e-5);
  });

  it("say what was done, and hold the logits to the float32 forward of the same weights where it fits", async () => {
    const run = async (g: ReturnType<typeof graph>) => ({ logits: (await optimised(g, x, seq)).y, tokens: seq });
    const measured = await weightForm(proto, run);
    expect(measured?.form).toBe("bf16 weights kept at 16 bits (1 matrices, 0.00 GB), cast to float32 per operation");
    expect(measured?.logitError).toMatchObject({ tokens: seq });
    // The two differ in MatMul's summation order only (1.1e-6 here): not zero, not more than float32 rounding.
    expect((measured?.logitError as { relative: number }).relative).toBeLessThan(1e-5);
    // Where the float32 form would not fit, nothing is run and the result says why.
    const tight = await weightForm(proto, () => Promise.reject(new Error("must not run")), 1000);
    expect((tight?.logitError as { unmeasured: string }).unmeasured).toMatch(
      /^the float32 forward of the same weights would need 0\.0 GB to load .* and 0\.0 GB are free; the widening is exact/,
    );
  });
});

describe("how a model's weights run, in the report's words", () => {
  // TinyLlama-1.1B-Chat's IQ2_XXS GGUF, as its header lists it (two of 22 ffn_down in Q2_K, every attn_v in Q4_K).
  const tinyllama = [
    { name: "token_embd.weight", type: 10 },
    { name: "output.weight", type: 13 },
    { name: "output_norm.weight", type: 0 },
    ...Array.from({ length: 22 }, (_, L) => [
      { name: `blk.${L}.attn_norm.weight`, type: 0, dims: [2048] },
      { name: `blk.${L}.attn_q.weight`, type: 16 },
      { name: `blk.${L}.attn_k.weight`, type: 16 },
      { name: `blk.${L}.attn_v.weight`, type: 12 },
      { name: `blk.${L}.attn_output.weight`, type: 16 },
      { name: `blk.${L}.ffn_gate.weight`, type: 16 },
      { name: `blk.${L}.ffn_up.weight`, type: 16 },
      { name: `blk.${L}.ffn_down.weight`, type: L < 2 ? 10 : 16 },
    ]).flat(),
  ].map((t) => ({ dims: [2048, 2048], offset: 0, ...t }));

  it("names a GGUF's block formats kept as codes, and what runs them", () => {
    expect(ggufWeightForm(tinyllama)).toBe(
      "154 linears: 130 IQ2_XXS, 22 Q4_K, 2 Q2_K codes (MatMulNBits); embedding: Q2_K codes (GatherBlockQuantized); " +
        "lm_head: Q5_K codes (MatMulNBits); norms and biases: float32",
    );
    const f16Tied = tinyllama
      .filter((t) => t.name !== "output.weight")
      .map((t) => (t.name.startsWith("blk.") && t.type !== 0 ? { ...t, type: 1 } : t));
    expect(ggufWeightForm(f16Tied)).toMatch(
      /^154 linears: float32 \(F16 in the file\); embedding: Q2_K codes \(GatherBlockQuantized\); lm_head: the embedding's own \(tied\)/,
    );
  });

  it("takes the converter's account where config.json holds one, else says what the graph's matrices are", () => {
    const proto = graph(new Uint16Array(K * N));
    expect(weightsAsRun(proto, { probespec: { weights: "as the converter says" } })).toBe("as the converter says");
    expect(weightsAsRun(proto, {})).toBe("bf16");
    const sixteen = { form: "bf16 weights kept at 16 bits", logitError: { unmeasured: "-" } };
    expect(weightsAsRun(proto, {}, sixteen)).toBe("bf16 weights kept at 16 bits");
  });
});
