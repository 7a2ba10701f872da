/**
 * A linear weight kept as a block format's integer codes, for ONNX Runtime's MatMulNBits (4-bit,
 * accuracy_level 0, no zero points: its one path both fast and exact). Each weight of a block is
 * w = s·u + o with u a whole code; u is split into 4-bit nibbles, u = Σ_j 16^j·n_j, and
 *
 *   x·w = Σ_j MatMulNBits(x; n_j, scales 16^j·s)   (MatMulNBits computes (n − 8)·scale)
 *       + Σ_blocks o'·(the block's sum of x),       o' = o + 8·s·Σ_j 16^j
 *
 * Every product s·(n − 8) is exact in float32, so the result is x · dequantised(W) within float32
 * rounding of the sums (and of o', where a format has a per-block offset). The offset term, where a
 * format needs one, is an Einsum on the input's block sums (1/block of the work): a contraction on
 * derived activations, not a linear on the stream, so the locator never takes it for one; and the terms'
 * sum ends in an Identity, so that the linear's output is one tensor (the locator reads an Add of
 * computed terms as branches of the stream).
 */
import type { GraphBuilder } from "../../onnx/graph.js";
import { floatTensor, uint8Tensor } from "../../onnx/graph.js";

export interface QuantizedLinear {
  /** Output rows (N) and input columns (K): HF's Linear [out, in]. */
  rows: number;
  cols: number;
  /** Values per block along a row: 16..256, a power of two. */
  blockSize: number;
  /** One MatMulNBits B per nibble: [rows, cols / blockSize, blockSize / 2], low nibble first. */
  planes: Uint8Array[];
  /** The scale of each plane, [rows · blocks]: 16^j·s. */
  scales: Float32Array[];
  /** o' per [row, block], where any is non-zero. */
  offsets?: Float32Array;
}

/**
 * A converter's lazy weights are Float32Arrays; one that stands for a QuantizedLinear is an empty
 * array registered here, which the writer's linear() asks for before it reads any values.
 */
const STANDS_FOR = new WeakMap<Float32Array, QuantizedLinear>();

export function standIn(q: QuantizedLinear): Float32Array {
  const a = new Float32Array(0);
  STANDS_FOR.set(a, q);
  return a;
}

export const quantizedOf = (w: Float32Array | undefined): QuantizedLinear | undefined =>
  w ? STANDS_FOR.get(w) : undefined;

/** The rows in a new order: row i of the result is row `from[i]` of q (q's and k's rotary permutation). */
export function permuteRows(q: QuantizedLinear, from: ArrayLike<number>): QuantizedLinear {
  const blocks = q.cols / q.blockSize;
  const move = <T extends Uint8Array | Float32Array>(a: T, per: number): T => {
    const out = new (a.constructor as { new (n: number): T })(a.length);
    for (let i = 0; i < q.rows; i++) out.set(a.subarray(from[i] * per, (from[i] + 1) * per), i * per);
    return out;
  };
  return {
    ...q,
    planes: q.planes.map((p) => move(p, (blocks * q.blockSize) / 2)),
    scales: q.scales.map((s) => move(s, blocks)),
    offsets: q.offsets && move(q.offsets, blocks),
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
      q.planes.forEach((p, j) => (v += q.scales[j][b] * (((c & 1 ? p[byte] >> 4 : p[byte]) & 15) - 8)));
      out[r * q.cols + c] = v;
    }
  return out;
}

/** x [.., cols] · Wᵀ as MatMulNBits nodes (and the offsets' Einsum), summed; `module` names the initializers. */
export function emitQuantizedLinear(
  g: GraphBuilder,
  scope: string,
  x: string,
  q: QuantizedLinear,
  module: string,
): string {
  const ms = "com.microsoft";
  const blocks = q.cols / q.blockSize;
  const terms = q.planes.map((p, j) =>
    g.o(
      scope,
      "MatMulNBits",
      [
        x,
        g.init(uint8Tensor(`${module}.weight_Q4_${j}`, [q.rows, blocks, q.blockSize / 2], p)),
        g.init(floatTensor(`${module}.weight_scales_${j}`, [q.rows * blocks], q.scales[j])),
      ],
      { K: q.cols, N: q.rows, bits: 4, block_size: q.blockSize, accuracy_level: 0 },
      ms,
    ),
  );
  if (q.offsets) {
    const sums = g.o(
      scope,
      "ReduceSum",
      [g.o(scope, "Reshape", [x, g.ints([0, 0, blocks, q.blockSize])]), g.ints([-1])],
      {
        keepdims: 0,
      },
    );
    // [blocks, rows]: the offsets transposed, so the Einsum contracts the block axis.
    const t = new Float32Array(q.offsets.length);
    for (let r = 0; r < q.rows; r++) for (let b = 0; b < blocks; b++) t[b * q.rows + r] = q.offsets[r * blocks + b];
    terms.push(
      g.o(scope, "Einsum", [sums, g.init(floatTensor(`${module}.weight_offsets`, [blocks, q.rows], t))], {
        equation: { string: "bsk,kn->bsn" },
      }),
    );
  }
  // One tensor for the linear's output: the locator reads an Add of computed terms as several branches.
  const sum = terms.reduce((a, b) => g.o(scope, "Add", [a, b]));
  return terms.length > 1 ? g.o(scope, "Identity", [sum]) : sum;
}

/** One 4-bit plane and no offsets: the form GatherBlockQuantized and a lone MatMulNBits read as they are. */
export const onePlane = (q: QuantizedLinear) => q.planes.length === 1 && !q.offsets;

/**
 * An embedding [vocab, d] of one plane as MatMulNBits blocks, gathered by GatherBlockQuantized (4-bit, no zero
 * points: (n − 8)·scale, bit-exact) through a Reshape of the same blocks, as onnxruntime-genai's builder
 * does for a tied int4 embedding: a tied lm_head reads them with MatMulNBits.
 */
export function emitQuantizedEmbedding(
  g: GraphBuilder,
  scope: string,
  ids: string,
  q: QuantizedLinear,
  name: string,
): { out: string; weight: string; scales: string } {
  const blocks = q.cols / q.blockSize;
  const weight = g.init(uint8Tensor(`${name}_Q4`, [q.rows, blocks, q.blockSize / 2], q.planes[0]));
  // [vocab, blocks]: GatherBlockQuantized takes them so, MatMulNBits too.
  const scales = g.init(floatTensor(`${name}_scales`, [q.rows, blocks], q.scales[0]));
  const out = g.o(
    scope,
    "GatherBlockQuantized",
    [g.o(scope, "Reshape", [weight, g.ints([q.rows, q.cols / 2])]), ids, scales],
    { bits: 4, block_size: q.blockSize, gather_axis: 0, quantize_axis: 1 },
    "com.microsoft",
  );
  return { out, weight, scales };
}
