/**
 * A linear weight kept as a block format's integer codes, for ONNX Runtime's MatMulNBits (onnx/nbits.ts: 4-bit
 * planes on one scales tensor, the one form both fast and exact). Each weight of a block is w = s·u + o with u a
 * whole code; u is split into 4-bit nibbles, u = Σ_j 16^j·n_j, and since MatMulNBits computes (n − 8)·s,
 *
 *   w = s·Σ_j 16^j·(n_j − 8) + o',   o' = o + 8·s·Σ_j 16^j
 *
 * Every product s·(n − 8) is exact in float32, so x·wᵀ is x · dequantised(W) within float32 rounding of the
 * sums (and of o', where a format has a per-block offset).
 */
import type { GraphBuilder } from "../../onnx/graph.js";
import { floatTensor, uint8Tensor } from "../../onnx/graph.js";
import { nbitsGather, nbitsMatMul, type NbitsWeight } from "../../onnx/nbits.js";
import type { Matrix } from "./types.js";

export interface QuantizedLinear {
  form: "codes";
  /** Output rows (N) and input columns (K): HF's Linear [out, in]. */
  rows: number;
  cols: number;
  /** Values per block along a row: 16..256, a power of two. */
  blockSize: number;
  /** One MatMulNBits B per nibble: [rows, cols / blockSize, blockSize / 2], low nibble first. */
  planes: Uint8Array[];
  /** s per [row, block], shared by the planes: plane j weighs 16^j. */
  scales: Float32Array;
  /** o' per [row, block], where any is non-zero. */
  offsets?: Float32Array;
}

/** w's codes, where it is a block format's. */
export const quantizedOf = (w: Matrix | undefined): QuantizedLinear | undefined =>
  w && !(w instanceof Float32Array) && w.form === "codes" ? w : undefined;

/** Row i of the result is row `from[i]` of q: q's and k's rotary permutation, a fused projection's part, a head's rows. */
export function gatherRows(q: QuantizedLinear, from: ArrayLike<number>): QuantizedLinear {
  const blocks = q.cols / q.blockSize;
  const move = <T extends Uint8Array | Float32Array>(a: T, per: number): T => {
    const out = new (a.constructor as { new (n: number): T })(from.length * per);
    for (let i = 0; i < from.length; i++) out.set(a.subarray(from[i] * per, (from[i] + 1) * per), i * per);
    return out;
  };
  return {
    ...q,
    rows: from.length,
    planes: q.planes.map((p) => move(p, (blocks * q.blockSize) / 2)),
    scales: move(q.scales, blocks),
    offsets: q.offsets && move(q.offsets, blocks),
  };
}

/** The rows in a new order, every row kept. */
export const permuteRows = (q: QuantizedLinear, from: ArrayLike<number>): QuantizedLinear => gatherRows(q, from);

/** Several linears of one input width and one block format as one, their rows one after another. */
export function stackRows(qs: readonly QuantizedLinear[]): QuantizedLinear {
  const [first] = qs;
  const joined = <T extends Uint8Array | Float32Array>(parts: T[]): T => {
    const out = new (parts[0].constructor as { new (n: number): T })(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  };
  if (
    qs.some((q) => q.cols !== first.cols || q.blockSize !== first.blockSize || q.planes.length !== first.planes.length)
  )
    throw new Error("stackRows: the linears differ in width, block size or planes");
  const offsets = qs.some((q) => q.offsets)
    ? joined(qs.map((q) => q.offsets ?? new Float32Array(q.scales.length)))
    : undefined;
  return {
    form: "codes",
    rows: qs.reduce((n, q) => n + q.rows, 0),
    cols: first.cols,
    blockSize: first.blockSize,
    planes: first.planes.map((_, j) => joined(qs.map((q) => q.planes[j]))),
    scales: joined(qs.map((q) => q.scales)),
    ...(offsets ? { offsets } : {}),
  };
}

/** The [rows, cols] float64 matrix q stands for: what the tests check the codes against. */
export function dequantizeLinear(q: QuantizedLinear): Float64Array {
  const blocks = q.cols / q.blockSize,
    out = new Float64Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++)
    for (let c = 0; c < q.cols; c++) {
      const b = r * blocks + Math.floor(c / q.blockSize),
        byte = (r * blocks * q.blockSize + c) >> 1;
      let v = q.offsets ? q.offsets[b] : 0;
      q.planes.forEach((p, j) => (v += 16 ** j * q.scales[b] * (((c & 1 ? p[byte] >> 4 : p[byte]) & 15) - 8)));
      out[r * q.cols + c] = v;
    }
  return out;
}

/**
 * q's planes, scales and offsets as initializers named after `module`; the offsets [rows, blocks] where
 * rows are gathered (an embedding), else [blocks, rows], as a linear's Einsum reads them.
 */
export function quantizedInits(g: GraphBuilder, q: QuantizedLinear, module: string, gathered = false): NbitsWeight {
  const blocks = q.cols / q.blockSize;
  const offsets = (dims: number[], o: Float32Array) => g.init(floatTensor(`${module}.weight_offsets`, dims, o));
  let byBlock: Float32Array | undefined;
  if (q.offsets && !gathered) {
    byBlock = new Float32Array(q.offsets.length);
    for (let r = 0; r < q.rows; r++)
      for (let b = 0; b < blocks; b++) byBlock[b * q.rows + r] = q.offsets[r * blocks + b];
  }
  return {
    planes: q.planes.map((p, j) => ({
      B: g.init(uint8Tensor(`${module}.weight_Q4_${j}`, [q.rows, blocks, q.blockSize / 2], p)),
      factor: 16 ** j,
    })),
    // [rows, blocks]: how GatherBlockQuantized takes them; MatMulNBits too.
    scales: g.init(floatTensor(`${module}.weight_scales`, [q.rows, blocks], q.scales)),
    offsets: q.offsets && gathered ? offsets([q.rows, blocks], q.offsets) : undefined,
    offsetsT: byBlock && offsets([blocks, q.rows], byBlock),
    K: q.cols,
    N: q.rows,
    blockSize: q.blockSize,
  };
}

/** x [batch, seq, cols] · Wᵀ; `module` names the initializers. */
export const emitQuantizedLinear = (g: GraphBuilder, scope: string, x: string, q: QuantizedLinear, module: string) =>
  nbitsMatMul(g, scope, x, quantizedInits(g, q, module), 3);

/**
 * An embedding [vocab, d] kept as codes, gathered by GatherBlockQuantized (bit-exact) from the same blocks
 * MatMulNBits reads, as onnxruntime-genai's builder does for a tied int4 embedding: a tied lm_head reads them too.
 */
export function emitQuantizedEmbedding(
  g: GraphBuilder,
  scope: string,
  ids: string,
  q: QuantizedLinear,
  name: string,
): { out: string; weight: NbitsWeight } {
  const weight = quantizedInits(g, q, name.replace(/\.weight$/, ""), true);
  return { out: nbitsGather(g, scope, ids, weight), weight };
}
