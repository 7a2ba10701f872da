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
import type { Located } from "./locate.js";
import { opsetVersion } from "../onnx/io.js";
import { point } from "./points.js";
import { nbitsMatMul } from "../onnx/nbits.js";
import { forked } from "./intervene.js";

export const LENS_OUTPUT = "probespec::logit_lens";

/** The lens' output in the plain pass, or in a fork (an intervention's branch, probes/intervene.ts). */
export const lensOutput = (fork?: string) => (fork ? forked(LENS_OUTPUT, fork) : LENS_OUTPUT);

export function addLogitLens(proto: ModelProto, located: Located, fork?: string): ModelProto {
  const g = new GraphBuilder();
  const opset = opsetVersion(proto);
  const inits = new Map(proto.graph!.initializer.map((t) => [t.name, t]));
  const s = fork ? `/probespec/${fork}/lens` : "/probespec/lens";
  const last = g.init(int64Tensor(`${s}/last_position`, [], [-1]));
  const eps = g.init(floatTensor(`${s}/eps`, [], [located.finalNorm.eps]));
  // The lens runs in float32 whatever the model's dtype: an fp16 export's rows, gain and W_U are cast.
  const f32 = (x: string) => g.o(s, "Cast", [x], { to: DT.FLOAT });
  // ReduceMean takes its axes as an attribute before opset 18, as an input from 18 on.
  const mean = (x: string) =>
    opset >= 18
      ? g.o(s, "ReduceMean", [x, g.init(int64Tensor(`${s}/axes`, [1], [-1]))], { keepdims: 1 })
      : g.o(s, "ReduceMean", [x], { axes: [-1], keepdims: 1 });
  const gain = f32(located.finalNorm.gain);
  const bias = located.finalNorm.bias ? f32(located.finalNorm.bias) : undefined;
  const rows: string[] = [];
  let stream = "";
  for (let L = 0; L < located.layers; L++) {
    const src = located.points.get(point("resid_post", L));
    if (!src || !("tensor" in src)) throw new Error(`resid_post.${L} is not a graph tensor`);
    stream = src.tensor;
    let x = f32(g.o(s, "Gather", [src.tensor, last], { axis: 1 })); // [batch, d]
    if (located.finalNorm.kind === "layernorm") x = g.o(s, "Sub", [x, mean(x)]);
    const rms = g.o(s, "Sqrt", [g.o(s, "Add", [mean(g.o(s, "Mul", [x, x])), eps])]);
    let y = g.o(s, "Mul", [g.o(s, "Div", [x, rms]), gain]);
    if (bias) y = g.o(s, "Add", [y, bias]);
    rows.push(y);
  }
  // All layers in one matmul: W_U is read once a pass, not once a layer.
  const Y = g.o(s, "Concat", rows, { axis: 0 }); // [layers, d]
  const W = located.W_U;
  // A 16-bit W_U is widened on each run, once the stream [batch, seq, d] exists: a Cast of the initializer alone
  // would be folded at load into a float32 copy of it (onnx/graph.ts, castPerRun).
  const asFloat = (name: string) =>
    inits.get(name)?.dataType === DT.FLOAT
      ? name
      : castPerRun(g, s, name, 2, stream, `${PER_RUN}::lens${fork ? `::${fork}` : ""}`);
  const opts = { outputs: [lensOutput(fork)] };
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
  const graph = proto.graph!;
  return {
    ...proto,
    graph: { ...graph, node: [...graph.node, ...g.nodes], initializer: [...graph.initializer, ...g.initializers] },
  };
}
