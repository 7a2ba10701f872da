/**
 * The logit lens as graph surgery: for every layer, the last position of
 * resid_post.L goes through a copy of the final norm (its gain, bias and eps, as
 * located) and the model's own W_U initializer, inside ONNX Runtime. W_U is
 * shared, not copied, and the lens costs one small matmul a layer on whatever
 * device runs the model; all layers share one matmul, so W_U is read once a pass.
 * Output: one [layers, vocab] tensor.
 */
import type { ModelProto } from "onnx-buf";
import { DT, GraphBuilder, PER_RUN, castPerRun, floatTensor, int64Tensor } from "../onnx/graph.js";
import type { Located, RowWiseHead } from "./locate.js";
import { indexGraph, opsetVersion } from "../onnx/io.js";
import { elementType } from "../onnx/surgery.js";
import { point } from "./points.js";
import { nbitsMatMul } from "../onnx/nbits.js";
import { forked } from "./intervene.js";

export const LENS_OUTPUT = "probespec::logit_lens";

/** The lens' output in the plain pass, or in a fork (an intervention's branch, probes/intervene.ts). */
export const lensOutput = (fork?: string) => (fork ? forked(LENS_OUTPUT, fork) : LENS_OUTPUT);

/** The graphs a lens is read in: the plain pass, and each fork (its view of the points) that reads one. */
export interface LensOf {
  located: Located;
  fork?: string;
}

/**
 * The lens of every graph in `lenses` in one matmul, so that W_U is read once a pass whatever the forks; through the
 * model's own lm_head (sharedHead) where the plain graph's is the only one and `head` allows it.
 */
export function addLogitLens(proto: ModelProto, lenses: readonly LensOf[], head?: RowWiseHead): ModelProto {
  const g = new GraphBuilder();
  const opset = opsetVersion(proto);
  const inits = new Map(proto.graph!.initializer.map((t) => [t.name, t]));
  const s = "/probespec/lens";
  const last = g.init(int64Tensor(`${s}/last_position`, [], [-1]));
  // ReduceMean takes its axes as an attribute before opset 18, as an input from 18 on.
  const axes = opset >= 18 ? g.init(int64Tensor(`${s}/axes`, [1], [-1])) : "";
  const rows: string[] = [];
  let stream = "";
  for (const { located, fork } of lenses) {
    const sf = fork ? `/probespec/${fork}/lens` : s;
    const eps = g.init(floatTensor(`${sf}/eps`, [], [located.finalNorm.eps]));
    // The lens runs in float32 whatever the model's dtype: an fp16 export's rows, gain and W_U are cast.
    const f32 = (x: string) => g.o(sf, "Cast", [x], { to: DT.FLOAT });
    const mean = (x: string) =>
      opset >= 18
        ? g.o(sf, "ReduceMean", [x, axes], { keepdims: 1 })
        : g.o(sf, "ReduceMean", [x], { axes: [-1], keepdims: 1 });
    const gain = f32(located.finalNorm.gain);
    const bias = located.finalNorm.bias ? f32(located.finalNorm.bias) : undefined;
    for (let L = 0; L < located.layers; L++) {
      const src = located.points.get(point("resid_post", L));
      if (!src || !("tensor" in src)) throw new Error(`resid_post.${L} is not a graph tensor`);
      stream = src.tensor;
      let x = f32(g.o(sf, "Gather", [src.tensor, last], { axis: 1 })); // [batch, d]
      if (located.finalNorm.kind === "layernorm") x = g.o(sf, "Sub", [x, mean(x)]);
      const rms = g.o(sf, "Sqrt", [g.o(sf, "Add", [mean(g.o(sf, "Mul", [x, x])), eps])]);
      let y = g.o(sf, "Mul", [g.o(sf, "Div", [x, rms]), gain]);
      if (bias) y = g.o(sf, "Add", [y, bias]);
      rows.push(y);
    }
  }
  // All layers of all graphs in one matmul: W_U is read once a pass, not once a layer or a fork.
  const Y = g.o(s, "Concat", rows, { axis: 0 }); // [graphs × layers, d]
  const { located } = lenses[0];
  if (lenses.length === 1 && !lenses[0].fork && sharesHead(proto, head))
    return sharedHead(proto, g, s, Y, located, head);
  const W = located.W_U;
  // A 16-bit W_U is widened on each run, once the stream [batch, seq, d] exists: a Cast of the initializer alone
  // would be folded at load into a float32 copy of it (onnx/graph.ts, castPerRun).
  const asFloat = (name: string) =>
    inits.get(name)?.dataType === DT.FLOAT ? name : castPerRun(g, s, name, 2, stream, `${PER_RUN}::lens`);
  const alone = lenses.length === 1;
  const opts = { outputs: [alone ? lensOutput(lenses[0].fork) : `${s}/all`] };
  if (W.layout === "matmulnbits") {
    // MatMulNBits computes in its scales' dtype.
    const t = inits.get(W.scales!)?.dataType ?? DT.FLOAT;
    const A = t === DT.FLOAT ? Y : g.o(s, "Cast", [Y], { to: t });
    const planes = W.planes ?? [{ initializer: W.initializer, factor: 1 }];
    const out = nbitsMatMul(
      g,
      s,
      A,
      {
        planes: planes.map((p) => ({ B: p.initializer, factor: p.factor })),
        scales: W.scales!,
        zeroPoints: W.zeroPoints,
        offsets: W.offsets,
        offsetsT: W.offsetsT,
        K: W.K!,
        N: W.N!,
        blockSize: W.blockSize!,
      },
      2,
    );
    g.op(s, "Cast", [out], { ...opts, attrs: { to: DT.FLOAT } });
  } else {
    // quantize_dynamic's int8 W_U is dequantised as the graph's own DequantizeLinear would.
    const w = W.dequantize
      ? g.o(s, "DequantizeLinear", [
          W.initializer,
          W.dequantize.scale,
          ...(W.dequantize.zeroPoint ? [W.dequantize.zeroPoint] : []),
        ])
      : asFloat(W.initializer);
    if (W.layout === "d_vocab") g.op(s, "MatMul", [Y, w], opts);
    else g.op(s, "Gemm", [Y, w], { ...opts, attrs: { transB: 1 } });
  }
  // Each graph's rows of the product.
  if (!alone)
    lenses.forEach(({ fork }, i) => {
      const at = (k: number) => g.init(int64Tensor(`${s}/rows_${i}_${k}`, [1], [k]));
      g.op(s, "Slice", [opts.outputs[0], at(i * located.layers), at((i + 1) * located.layers), at(0)], {
        outputs: [lensOutput(fork)],
      });
    });
  const graph = proto.graph!;
  return {
    ...proto,
    graph: { ...graph, node: [...graph.node, ...g.nodes], initializer: [...graph.initializer, ...g.initializers] },
  };
}

/** Whether the lens can go through the model's own lm_head (sharedHead): a float32 product of W_U alone. */
export function sharesHead(proto: ModelProto, head: RowWiseHead | undefined): head is Required<RowWiseHead> {
  if (!head?.product || opsetVersion(proto) < 13) return false;
  const idx = indexGraph(proto.graph!);
  return elementType(idx, head.input) === DT.FLOAT && elementType(idx, head.product) === DT.FLOAT;
}

/**
 * The lens rows and the last position go through the model's own lm_head together, where it multiplies by W_U and
 * nothing else (Located.rowWiseHead.product) and only the last position's logits are read: W_U is read once a pass,
 * not twice (a pass over a short prompt is bound by reading the weights: W_U is 24% of a pythia-160m-shaped
 * model's). Rows [0, layers) of the product are the lens, the last row the model's logits as before; every step
 * after the product keeps rows apart. The rows are made before the lm_head's first reader, which reads them instead.
 */
function sharedHead(
  proto: ModelProto,
  g: GraphBuilder,
  s: string,
  Y: string,
  located: Located,
  head: Required<RowWiseHead>,
): ModelProto {
  const ints = (name: string, v: number[]) => g.init(int64Tensor(`${s}/${name}`, [v.length], v));
  const last = lastRow(g, s, head.input);
  // Y [layers, d] given the last row's leading dims ([batch, layers, d] or [layers, d]), then the last row after it.
  const lead = g.o(s, "Slice", [g.o(s, "Shape", [last]), ints("lead_from", [0]), ints("lead_to", [-2])]);
  const shape = g.o(s, "Concat", [lead, ints("rows_d", [located.layers, located.d])], { axis: 0 });
  const both = g.o(s, "Concat", [g.o(s, "Reshape", [Y, shape]), last], { axis: -2 });
  const tail = new GraphBuilder();
  const t = `${s}/from_head`;
  const lensRows = tail.o(t, "Slice", [
    head.product,
    tail.init(int64Tensor(`${t}/from`, [1], [0])),
    tail.init(int64Tensor(`${t}/to`, [1], [located.layers])),
    tail.init(int64Tensor(`${t}/axis`, [1], [-2])),
  ]);
  tail.op(t, "Reshape", [lensRows, tail.init(int64Tensor(`${t}/shape`, [2], [located.layers, located.vocab]))], {
    outputs: [LENS_OUTPUT],
  });
  return refeedHead(proto, head, both, g, tail);
}

/** The last position's row of the lm_head's input `x`: [batch, 1, d], or [1, d] where it is flattened (batch 1). */
export const lastRow = (g: GraphBuilder, s: string, x: string) =>
  g.o(s, "Slice", [
    x,
    g.init(int64Tensor(`${s}/last_row_from`, [1], [-1])),
    g.init(int64Tensor(`${s}/last_row_to`, [1], [Number.MAX_SAFE_INTEGER])),
    g.init(int64Tensor(`${s}/last_row_axis`, [1], [-2])),
  ]);

/**
 * The lm_head's readers fed `x` in place of its input: `before`'s nodes (which make x) go ahead of the first reader,
 * `after`'s at the end.
 */
export function refeedHead(
  proto: ModelProto,
  head: RowWiseHead,
  x: string,
  before: GraphBuilder,
  after?: GraphBuilder,
): ModelProto {
  const graph = proto.graph!;
  const readers = new Set(head.readers);
  const node = graph.node.map((n) =>
    readers.has(n.output[0]) ? { ...n, input: n.input.map((i) => (i === head.input ? x : i)) } : n,
  );
  node.splice(
    node.findIndex((n) => readers.has(n.output[0])),
    0,
    ...before.nodes,
  );
  return {
    ...proto,
    graph: {
      ...graph,
      node: [...node, ...(after?.nodes ?? [])],
      initializer: [...graph.initializer, ...before.initializers, ...(after?.initializers ?? [])],
    },
  };
}
