/**
 * A weight a checkpoint stores at 16 bits (float16 or bfloat16), kept so in the converted graph and
 * widened to float32 where it is used, on every run (castPerRun): ONNX Runtime's CPU MatMul has no
 * bfloat16 kernel, nor a float16 one on x86, and a Cast folded at load would make the model float32 in
 * memory. The widening is exact, so the graph computes the float32 forward of the checkpoint's own
 * weights; only MatMul's summation order differs from a graph of float32 initializers (measured on a
 * 4096 × 14336 weight: 2.4e-6 against outputs of 6, where float32 itself is 2.3e-6 from float64).
 */
import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema, type TensorProto } from "onnx-buf";
import { castPerRun, DT, externalEntries, halfTensor, type GraphBuilder } from "../../onnx/graph.js";
import type { Matrix } from "./types.js";

export interface HalfMatrix {
  form: "half";
  type: DT.FLOAT16 | DT.BFLOAT16;
  /** [rows, cols] as nn.Linear stores it: [out, in]; an embedding's [vocab, d]. */
  rows: number;
  cols: number;
  /** The 16-bit patterns, row-major (a converter may read them only when asked). */
  readonly bits: Uint16Array;
  /** Where these very bytes lie in a file the user keeps (its real path), row-major: the graph reads them there. */
  at?: { file: string; offset: number };
}

/** w's 16 bits, where it is a 16-bit matrix. */
export const halfOf = (w: Matrix | undefined): HalfMatrix | undefined =>
  w && !(w instanceof Float32Array) && w.form === "half" ? w : undefined;

/** Rows [from, to) of h: a view, nothing copied (Phi-3's fused projections), and as contiguous in its file. */
export const halfRows = (h: HalfMatrix, from: number, to: number): HalfMatrix => ({
  form: "half",
  type: h.type,
  rows: to - from,
  cols: h.cols,
  get bits() {
    return h.bits.subarray(from * h.cols, to * h.cols);
  },
  at: h.at && { file: h.at.file, offset: h.at.offset + 2 * from * h.cols },
});

/**
 * h as an initializer [rows, cols]: a reference to its bytes where they lie in the user's file (`at`: the
 * location is that file's absolute path, which the folder's writer turns into a link of its own, onnx/io.ts's
 * relocateExternalData resolving it for ONNX Runtime), else its bits.
 */
function halfInit(g: GraphBuilder, h: HalfMatrix, name: string): string {
  if (!h.at) return g.init(halfTensor(name, [h.rows, h.cols], h.bits, h.type));
  const t = create(TensorProtoSchema, {
    name,
    dims: [BigInt(h.rows), BigInt(h.cols)],
    dataType: h.type,
    dataLocation: 1, // EXTERNAL
    externalData: externalEntries(h.at.file, h.at.offset, 2 * h.rows * h.cols),
  });
  return g.init(t);
}

/** An initializer that stands for bytes in the user's file (halfInit), its absolute path as its location. */
export const inPlace = (t: TensorProto): string | undefined => {
  const location = t.dataLocation === 1 ? t.externalData.find((e) => e.key === "location")?.value : undefined;
  return location?.startsWith("/") ? location : undefined;
};

/**
 * MatMul's B for x: W kept at 16 bits as stored ([out, in]), cast to float32 on each run once x exists, and
 * transposed (ONNX Runtime fuses the Transpose into its MatMul: FusedMatMul, transB).
 */
export function halfWeight(g: GraphBuilder, scope: string, x: string, h: HalfMatrix, name: string): string {
  return g.o(scope, "Transpose", [castPerRun(g, scope, halfInit(g, h, name), 2, x)], { perm: [1, 0] });
}

/** An embedding's rows gathered at 16 bits, then widened: only the prompt's rows are ever float32. */
export function emitHalfEmbedding(
  g: GraphBuilder,
  scope: string,
  ids: string,
  h: HalfMatrix,
  name: string,
): { out: string; weight: string } {
  const weight = halfInit(g, h, name);
  return { out: g.o(scope, "Cast", [g.o(scope, "Gather", [weight, ids])], { to: DT.FLOAT }), weight };
}

/** What the converted folder says of its weights: "bf16 weights kept at 16 bits, …". */
export const halfName = (type: HalfMatrix["type"]) => (type === DT.BFLOAT16 ? "bf16" : "fp16");
