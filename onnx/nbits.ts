/**
 * A weight [N, K] held as 4-bit planes for ONNX Runtime's MatMulNBits and GatherBlockQuantized, all on one
 * scales tensor [N, K / blockSize]: plane j holds nibbles n_j and weighs factor_j (16^j: u = Σ_j 16^j·n_j),
 * and an optional per-block offset o is added to every value of its block:
 *
 *   w = s·Σ_j factor_j·(n_j − 8) + o
 *
 * Each plane is the one form that is both fast and exact on the CPU (4-bit, no zero points, accuracy_level 0);
 * plane j's product is multiplied by factor_j afterwards, a power of two and so exact, which lets every plane
 * share s. The offset's share of x·wᵀ is an Einsum of x's block sums with o (1/blockSize of the work), and
 * every term is added up and ended in an Identity: one tensor, for the locator (probes/locate/weights.ts),
 * which reads the sum back as this weight.
 */
import type { GraphBuilder } from "./graph.js";
import { floatTensor, int64Tensor } from "./graph.js";

export interface NbitsWeight {
  /** The [N, blocks, blockSize / 2] uint8 initializers, with the factor of each. */
  planes: { B: string; factor: number }[];
  /** [N, blocks] (or [N · blocks]) float: s. */
  scales: string;
  /** MatMulNBits' packed zero points, where a foreign graph has them (one plane only). */
  zeroPoints?: string;
  /** o, [N, blocks] float: the rows' offsets, as a Gather reads them. */
  offsets?: string;
  /** Or o as [blocks, N], as the Einsum reads it without transposing it on every run (a linear's). */
  offsetsT?: string;
  K: number;
  N: number;
  blockSize: number;
}

const MS = "com.microsoft";

/** A constant of this scope, named after it: the lens adds nodes to a graph whose constants are already named. */
const scoped = (g: GraphBuilder, scope: string, key: string, ints: number[] | number) =>
  g.constant(`${scope}/${key}`, () =>
    Array.isArray(ints)
      ? int64Tensor(`${scope}/nbits_${key}`, [ints.length], ints)
      : floatTensor(`${scope}/nbits_${key}`, [], [ints]),
  );

/** One tensor for several terms: their sum, ended in an Identity (named `output` where given); a lone term as it is, where it has that name. */
function sum(g: GraphBuilder, scope: string, terms: string[], output?: string): string {
  if (terms.length === 1 && (!output || terms[0] === output)) return terms[0];
  const s = terms.reduce((a, b) => g.o(scope, "Add", [a, b]));
  return g.op(scope, "Identity", [s], output ? { outputs: [output] } : {})[0];
}

const weighed = (g: GraphBuilder, scope: string, t: string, factor: number) =>
  factor === 1 ? t : g.o(scope, "Mul", [t, scoped(g, scope, `factor_${factor}`, factor)]);

/** x [..., K] · wᵀ → [..., N]; `rank` is x's rank (2 or 3). */
export function nbitsMatMul(
  g: GraphBuilder,
  scope: string,
  x: string,
  w: NbitsWeight,
  rank: number,
  output?: string,
): string {
  const attrs = { K: w.K, N: w.N, bits: 4, block_size: w.blockSize, accuracy_level: 0 };
  const o = w.offsetsT ?? w.offsets;
  // A lone MatMulNBits names `output` itself.
  const lone = w.planes.length === 1 && w.planes[0].factor === 1 && !o && output ? [output] : undefined;
  const terms = w.planes.map(({ B, factor }) =>
    weighed(
      g,
      scope,
      g.op(scope, "MatMulNBits", [x, B, w.scales, ...(w.zeroPoints ? [w.zeroPoints] : [])], {
        attrs,
        domain: MS,
        outputs: lone,
      })[0],
      factor,
    ),
  );
  if (o) {
    const blocks = w.K / w.blockSize;
    const lead = Array<number>(rank - 1).fill(0);
    const sums = g.o(
      scope,
      "ReduceSum",
      [
        g.o(scope, "Reshape", [
          x,
          scoped(g, scope, `blocks_${[...lead, blocks, w.blockSize]}`, [...lead, blocks, w.blockSize]),
        ]),
        scoped(g, scope, "last", [-1]),
      ],
      { keepdims: 0 },
    );
    // A contraction on derived activations, not a matmul on the stream: the locator never takes it for a linear.
    const eq = `${rank === 3 ? "bsk" : "lk"},${w.offsetsT ? "kn" : "nk"}->${rank === 3 ? "bsn" : "ln"}`;
    terms.push(g.o(scope, "Einsum", [sums, o], { equation: { string: eq } }));
  }
  return sum(g, scope, terms, output);
}

/** The rows of w that `ids` [batch, seq] name → [batch, seq, K]: GatherBlockQuantized on each plane (bit-exact). */
export function nbitsGather(g: GraphBuilder, scope: string, ids: string, w: NbitsWeight): string {
  const terms = w.planes.map(({ B, factor }) =>
    weighed(
      g,
      scope,
      g.o(
        scope,
        "GatherBlockQuantized",
        [g.o(scope, "Reshape", [B, scoped(g, scope, `rows_${w.N}x${w.K / 2}`, [w.N, w.K / 2])]), ids, w.scales],
        { bits: 4, block_size: w.blockSize, gather_axis: 0, quantize_axis: 1 },
        MS,
      ),
      factor,
    ),
  );
  if (w.offsetsT) throw new Error("a gathered weight's offsets are [N, blocks]");
  if (w.offsets) {
    // Each gathered row's offsets [batch, seq, blocks] spread over their blocks → [batch, seq, K].
    const blocks = w.K / w.blockSize;
    const o = g.o(scope, "Unsqueeze", [
      g.o(scope, "Gather", [w.offsets, ids], { axis: 0 }),
      scoped(g, scope, "last", [-1]),
    ]);
    const spread = g.o(scope, "Expand", [
      o,
      scoped(g, scope, `spread_${blocks}x${w.blockSize}`, [1, 1, blocks, w.blockSize]),
    ]);
    terms.push(g.o(scope, "Reshape", [spread, scoped(g, scope, `row_${w.K}`, [0, 0, w.K])]));
  }
  return sum(g, scope, terms);
}
