/**
 * What this CPU's exact kernels can do: ONNX Runtime's float32 MatMul and its 4-bit MatMulNBits (accuracy level 0,
 * the form every GGUF block format runs as: onnx/nbits.ts) on a 7B MLP's matrix, 4096 × 14336, at each prompt
 * length, in GFLOPS. A pass cannot beat its linears' FLOPs at these rates, so a target below that floor is out of
 * reach for any graph on these kernels: the bench prints each floor beside the target it bounds.
 */
import * as ort from "onnxruntime-node";
import { DT, GraphBuilder, floatTensor, uint8Tensor, valueInfo } from "../../onnx/graph.js";
import { encodeModel } from "../../onnx/io.js";
import { stats, type Timing } from "./cost.js";

const [K, N, BLOCK] = [4096, 14336, 32];

export interface KernelRate {
  tokens: number;
  fp32_gflops: number;
  nbits4_gflops: number;
  fp32_s: Timing;
  nbits4_s: Timing;
}

/** A one-node graph: x [tokens, K] times the weight, in one of the two forms. */
function kernelGraph(form: "fp32" | "nbits4"): Uint8Array {
  const g = new GraphBuilder();
  g.inputs.push(valueInfo("x", DT.FLOAT, ["tokens", K]));
  g.outputs.push(valueInfo("y", DT.FLOAT, ["tokens", N]));
  // Deterministic, varied values: the kernels' speed does not depend on them, only on their form.
  if (form === "fp32") {
    const w = new Float32Array(K * N).map((_, i) => (((i * 2654435761) >>> 0) / 2 ** 32 - 0.5) * 0.04);
    g.op("/k", "MatMul", ["x", g.init(floatTensor("W", [K, N], w))], { outputs: ["y"] });
  } else {
    const codes = new Uint8Array((N * K) / 2).map((_, i) => (i * 2654435761) >>> 24);
    const scales = new Float32Array((N * K) / BLOCK).map((_, i) => 0.001 + (i % 97) * 1e-5);
    g.op(
      "/k",
      "MatMulNBits",
      [
        "x",
        g.init(uint8Tensor("B", [N, K / BLOCK, BLOCK / 2], codes)),
        g.init(floatTensor("S", [N * (K / BLOCK)], scales)),
      ],
      { attrs: { K, N, bits: 4, block_size: BLOCK, accuracy_level: 0 }, domain: "com.microsoft", outputs: ["y"] },
    );
  }
  return encodeModel(g.model({ "": 17, "com.microsoft": 1 }, "probespec-bench"));
}

/** Each form's rate at each length: a warm-up, then `runs` timed products (at least 2 s of them at short lengths). */
export async function kernelRates(lengths: number[], threads: number, runs: number): Promise<KernelRate[]> {
  const timings = new Map<string, Timing>();
  for (const form of ["fp32", "nbits4"] as const) {
    const s = await ort.InferenceSession.create(kernelGraph(form), {
      executionProviders: ["cpu"],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    });
    for (const m of lengths) {
      const x = {
        x: new ort.Tensor(
          "float32",
          new Float32Array(m * K).map((_, i) => Math.sin(i)),
          [m, K],
        ),
      };
      await s.run(x);
      const ts: number[] = [];
      for (let r = 0; r < Math.max(runs, Math.ceil(512 / m)); r++) {
        const t = performance.now();
        await s.run(x);
        ts.push((performance.now() - t) / 1000);
      }
      timings.set(`${form}:${m}`, stats(ts));
    }
    await s.release();
  }
  const gflops = (m: number, t: Timing) => (2 * m * K * N) / t.median / 1e9;
  return lengths.map((m) => {
    const [f, q] = [timings.get(`fp32:${m}`)!, timings.get(`nbits4:${m}`)!];
    return { tokens: m, fp32_gflops: gflops(m, f), nbits4_gflops: gflops(m, q), fp32_s: f, nbits4_s: q };
  });
}

/**
 * The least time a pass's linears take at `gflops`: 2 × tokens × the parameters outside the embedding and the
 * lm_head (left out, as the lm_head runs on one position: a lower bound), plus `extraFlops` (the logit lens).
 */
export const linearFloorS = (layerParams: number, tokens: number, gflops: number, extraFlops = 0) =>
  (2 * tokens * layerParams + extraFlops) / (gflops * 1e9);

/** The parameters outside the embedding and the lm_head, from a config.json and the whole count. */
export const layerParameters = (c: Record<string, unknown>, parameters: number) =>
  parameters - (c.vocab_size as number) * (c.hidden_size as number) * (c.tie_word_embeddings ? 1 : 2);

export const kernelSummary = (rates: KernelRate[]) =>
  rates
    .map(
      (k) =>
        `${k.tokens} tokens: float32 MatMul ${k.fp32_gflops.toFixed(0)}, MatMulNBits ${k.nbits4_gflops.toFixed(0)}`,
    )
    .join("; ");
