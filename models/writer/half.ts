/**
 * A weight a checkpoint stores at 16 bits (float16 or bfloat16), kept so in the converted graph and
 * widened to float32 where it is used, on every run (castPerRun): ONNX Runtime's CPU MatMul has no
 * bfloat16 kernel, nor a float16 one on x86, and a Cast folded at load would make the model float32 in
 * memory. The widening is exact, so the graph computes the float32 forward of the checkpoint's own
 * weights; only MatMul's summation order differs from a graph of float32 initializers (measured on a
 * 4096 × 14336 weight: 2.4e-6 against outputs of 6, where float32 itself is 2.3e-6 from float64).
 */
import { castPerRun, DT, halfTensor, type GraphBuilder } from "../../onnx/graph.js";

export interface HalfMatrix {
  type: DT.FLOAT16 | DT.BFLOAT16;
  /** [rows, cols] as nn.Linear stores it: [out, in]; an embedding's [vocab, d]. */
  rows: number;
  cols: number;
  bits: Uint16Array;
}

/** As quantized.ts's stand-ins: an empty Float32Array a converter's lazy weights hand over in its place. */
const STANDS_FOR = new WeakMap<Float32Array, HalfMatrix>();

export function halfStandIn(h: HalfMatrix): Float32Array {
  const a = new Float32Array(0);
  STANDS_FOR.set(a, h);
  return a;
}

export const halfOf = (w: Float32Array | undefined): HalfMatrix | undefined => (w ? STANDS_FOR.get(w) : undefined);

/** Rows [from, to) of h: a view, nothing copied (Phi-3's fused projections). */
export const halfRows = (h: HalfMatrix, from: number, to: number): HalfMatrix => ({
  ...h,
  rows: to - from,
  bits: h.bits.subarray(from * h.cols, to * h.cols),
});

/** [cols, rows]: MatMul's B, as the exporter folds a Linear's weight. */
export function transposeHalf(h: HalfMatrix): Uint16Array {
  const t = new Uint16Array(h.bits.length);
  for (let r = 0; r < h.rows; r++) for (let c = 0; c < h.cols; c++) t[c * h.rows + r] = h.bits[r * h.cols + c];
  return t;
}

/** MatMul's B for x: Wᵀ kept at 16 bits (transposed once, here) and cast to float32 on each run, once x exists. */
export function halfWeight(g: GraphBuilder, scope: string, x: string, h: HalfMatrix, name: string): string {
  const w = g.init(halfTensor(name, [h.cols, h.rows], transposeHalf(h), h.type));
  return castPerRun(g, scope, w, 2, x);
}

/** An embedding's rows gathered at 16 bits, then widened: only the prompt's rows are ever float32. */
export function emitHalfEmbedding(
  g: GraphBuilder,
  scope: string,
  ids: string,
  h: HalfMatrix,
  name: string,
): { out: string; weight: string } {
  const weight = g.init(halfTensor(name, [h.rows, h.cols], h.bits, h.type));
  return { out: g.o(scope, "Cast", [g.o(scope, "Gather", [weight, ids])], { to: DT.FLOAT }), weight };
}

/** What the converted folder says of its weights: "bf16 weights kept at 16 bits, …". */
export const halfName = (type: HalfMatrix["type"]) => (type === DT.BFLOAT16 ? "bf16" : "fp16");
