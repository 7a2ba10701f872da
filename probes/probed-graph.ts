/**
 * The graph probespec runs: the model with fused norms given their residual
 * outputs, the logit lens where asked, each measure's in-graph reductions, and the
 * probe points a measure reads whole (or that a diagnosis needs) exposed, as
 * TransformerLens' names_filter would. Reductions run where the tensor lives, on
 * whatever device runs the model: a pass returns their small outputs, not the
 * residual stream or the attention probabilities.
 */
import type { ModelProto } from "onnx-buf";
import { DT, GraphBuilder, floatTensor, int64Tensor } from "../onnx/graph.js";
import { attr, indexGraph, opsetVersion } from "../onnx/io.js";
import { elementType, exposeOutputs, setOptionalOutput } from "../onnx/surgery.js";
import { addForks, forked } from "./intervene.js";
import { addLogitLens, lastRow, lensOutput, refeedHead, sharesHead, type LensOf } from "./lens.js";
import type { Located } from "./locate.js";
import type { Provider } from "./session.js";
import { isWeightMeasure, type Measure, type PromptMeasure, type Read } from "./measures/measure.js";
import { parsePoint, point, streamOrder, type ProbePoint } from "./points.js";

/** The graph output that holds a read's reduction, in the plain pass or in a fork (probes/intervene.ts). */
export const reductionOutput = (r: Read, fork?: string) =>
  fork ? forked(`probespec::${r.as}::${r.point}`, fork) : `probespec::${r.as}::${r.point}`;

/**
 * Sums of squares are taken in float32 over chunks of this many elements at most, and the
 * partial sums finished in float64: within 4e-7 of an exact sum, where one float32 sum over
 * d = 2048–4096 is off by up to 3.2e-6 (DESIGN.md), and with no double op a GPU may lack.
 */
const SUMSQ_CHUNK = 64;

/** The largest power of two up to SUMSQ_CHUNK that divides `width`: the chunk a row of that width is summed in. */
export const sumsqChunk = (width: number) => {
  let c = SUMSQ_CHUNK;
  while (width % c) c /= 2;
  return c;
};

/** What a graph computes for one set of measures: points exposed whole, in-graph reductions, the logit lens. */
export interface GraphReads {
  lens?: boolean;
  points?: Iterable<ProbePoint>;
  reductions?: readonly Read[];
}

/** Providers with a LogSoftmax kernel: WebGPU has none, and a node it cannot run would leave it for the CPU. */
const LOG_SOFTMAX: ReadonlySet<Provider> = new Set(["cpu", "cuda"]);

/**
 * The probed graph, and with each fork (an intervention's branch, probes/intervene.ts) that fork's reads, computed
 * in the same pass; `located[k]` is fork k's view of the points. `provider`: the one the session will run on, whose
 * kernels the reductions may use (the CPU's unless told).
 */
export function probedGraph(
  proto: ModelProto,
  located: Located,
  modelId?: string,
  reads: GraphReads = {},
  forks: readonly (GraphReads & { tag: string; point: ProbePoint })[] = [],
  provider: Provider = "cpu",
): { proto: ModelProto; outputs: string[]; located: Located[] } {
  let edited = proto;
  for (const e of located.edits) edited = setOptionalOutput(edited, e.node, e.index, e.name);
  const lastLogitsOnly = (r: GraphReads) =>
    ![...(r.points ?? (r.reductions?.length ? [] : located.points.keys()))].includes("logits") &&
    (r.reductions ?? []).every((x) => x.point !== "logits" || x.as === "last");
  const lastOnly = located.rowWiseHead && [reads, ...forks].every(lastLogitsOnly);
  // With no fork, the lens shares the lm_head (probes/lens.ts, sharedHead), which it feeds the last position too.
  const shared =
    lastOnly && !forks.length && (reads.lens ?? true) && sharesHead(edited, located.rowWiseHead)
      ? located.rowWiseHead
      : undefined;
  if (lastOnly && !shared) edited = headOnLastPosition(edited, located.rowWiseHead!);
  const pointsRead = (r: GraphReads) => [
    ...(r.points ?? []),
    ...(r.reductions ?? []).map((x) => x.point),
    ...(r.lens ? Array.from({ length: located.layers }, (_, L) => point("resid_post", L)) : []),
  ];
  const branches = addForks(
    edited,
    located,
    forks.map((f) => ({ tag: f.tag, point: f.point, reads: pointsRead(f) })),
    modelId,
  );
  edited = branches.proto;
  const outputs: string[] = [];
  const graphs: [GraphReads, Located, string | undefined][] = [
    [reads, located, undefined],
    ...forks.map((f, k) => [f, branches.located[k], f.tag] as [GraphReads, Located, string]),
  ];
  const lenses: LensOf[] = [];
  for (const [{ lens = true, points, reductions = [] }, at, fork] of graphs) {
    const tensors = (p: ProbePoint): string[] => {
      const src = at.points.get(p);
      return !src ? [] : "tensor" in src ? [src.tensor] : src.minus.flatMap((q) => tensors(q as ProbePoint));
    };
    outputs.push(...new Set([...(points ?? (reductions.length ? [] : at.points.keys()))].flatMap(tensors)));
    if (lens) {
      lenses.push({ located: at, fork });
      outputs.push(lensOutput(fork));
    }
  }
  if (lenses.length) edited = addLogitLens(edited, lenses, shared);
  // ONNX Runtime orders the nodes by a depth-first walk back from the graph's leaves, the last-added leaf first: the
  // reductions are added last and latest point first, so that each runs as soon as its tensor is made and frees it.
  // Added in the graph's own order, every layer's attention probabilities were held to the end of the pass (TinyLlama
  // at 512 tokens: 7.3 GB at its peak where the plain pass takes 4.7).
  for (const [{ reductions = [] }, at, fork] of graphs) {
    if (!reductions.length) continue;
    const latestFirst = [...reductions].sort((a, b) => streamOrder(b.point) - streamOrder(a.point));
    edited = addReductions(edited, at, latestFirst, fork, LOG_SOFTMAX.has(provider));
    outputs.push(...reductions.map((r) => reductionOutput(r, fork)));
  }
  const unique = [...new Set(outputs)];
  return { proto: exposeOutputs(edited, unique, modelId), outputs: unique, located: branches.located };
}

/**
 * The lm_head fed the last position alone, where nothing reads the logits of any other and each position's logits
 * depend on its own row of the lm_head's input (Located.rowWiseHead): the lm_head is the one matmul a pass that grows
 * with tokens × vocabulary, and a matmul's rows are independent, so that row's product is the same. At 512 tokens
 * it was 6% of TinyLlama's probed pass.
 */
function headOnLastPosition(proto: ModelProto, head: NonNullable<Located["rowWiseHead"]>): ModelProto {
  if (opsetVersion(proto) < 10) return proto; // Slice takes its starts as attributes before 10: not worth a second form
  const g = new GraphBuilder();
  return refeedHead(proto, head, lastRow(g, "/probespec/last_position", head.input), g);
}

/** What a set of measures reads of a model, and the graph options (probedGraph's) that compute just that. */
export interface ReadPlan {
  /** The prompt measures the graph can serve. */
  taken: PromptMeasure[];
  /** Those it cannot, with the first point it lacks and why. */
  unavailable: { measure: PromptMeasure; point: ProbePoint; reason: string }[];
  /** Every read, by its output name. */
  reads: Map<string, Read>;
  graph: { points: ProbePoint[]; reductions: Read[]; lens: boolean };
}

export function planReads(measures: readonly Measure[], located: Located): ReadPlan {
  const plan: ReadPlan = {
    taken: [],
    unavailable: [],
    reads: new Map(),
    graph: { points: [], reductions: [], lens: false },
  };
  for (const m of measures) {
    if (isWeightMeasure(m)) continue;
    const rs = m.points(located);
    const missing = rs.find((r): r is Read => r !== "lens" && !located.points.has(r.point));
    if (missing) {
      const reason = located.unavailable.find((u) => u.point === missing.point)?.reason ?? "not located in the graph";
      plan.unavailable.push({ measure: m, point: missing.point, reason });
      continue;
    }
    for (const r of rs) {
      if (r === "lens") plan.graph.lens = true;
      else plan.reads.set(reductionOutput(r), r);
    }
    plan.taken.push(m);
  }
  for (const r of plan.reads.values()) {
    if (r.as === "whole") plan.graph.points.push(r.point);
    else plan.graph.reductions.push(r);
  }
  return plan;
}

/** Each read's reduction as nodes on its point's tensor, in float32 (an fp16 export's tensors are cast first). */
function addReductions(
  proto: ModelProto,
  located: Located,
  reads: readonly Read[],
  fork: string | undefined,
  logSoftmax: boolean,
): ModelProto {
  const g = new GraphBuilder();
  const opset = opsetVersion(proto);
  const s = fork ? `/probespec/${fork}/reduce` : "/probespec/reduce";
  // Constants named under the scope, once each: a model's own initializers may be called const_f_0.
  const consts = new Map<string, string>();
  const ints = (v: number[], scalar = false) => {
    const key = `${scalar ? "s" : "v"}:${v.join(",")}`;
    if (!consts.has(key))
      consts.set(key, g.init(int64Tensor(`${s}/const_${consts.size}`, scalar ? [] : [v.length], v)));
    return consts.get(key)!;
  };
  const float = (v: number) => {
    const key = `f:${v}`;
    if (!consts.has(key)) consts.set(key, g.init(floatTensor(`${s}/const_${consts.size}`, [], [v])));
    return consts.get(key)!;
  };
  const idx = indexGraph(proto.graph!);
  // ReduceSum takes its axes as an input from opset 13, ReduceSumSquare from 18; attributes before.
  const reduce = (op: "ReduceSum" | "ReduceSumSquare", x: string, outputs?: string[]) =>
    g.op(s, op, opset >= (op === "ReduceSum" ? 13 : 18) ? [x, ints([-1])] : [x], {
      attrs: opset >= (op === "ReduceSum" ? 13 : 18) ? { keepdims: 0 } : { axes: [-1], keepdims: 0 },
      outputs,
    })[0];
  const source = new Map<ProbePoint, string>();
  const tensorOf = (p: ProbePoint): string => {
    let t = source.get(p);
    if (t) return t;
    const src = located.points.get(p);
    if (!src) throw new Error(`${p} is not located`);
    // A branch a fused norm never materialises is the difference of the two sums around it.
    t =
      "tensor" in src
        ? g.o(s, "Cast", [src.tensor], { to: DT.FLOAT })
        : g.o(
            s,
            "Sub",
            src.minus.map((m) => tensorOf(m as ProbePoint)),
          );
    source.set(p, t);
    return t;
  };
  for (const r of reads) {
    const x = tensorOf(r.point);
    const opts = { outputs: [reductionOutput(r, fork)] };
    const width = parsePoint(r.point).kind === "logits" ? located.vocab : located.d;
    switch (r.as) {
      case "sumsq": {
        // [seq × width/c, c] rows of c: the rank of the point's tensor does not matter, only its row-major order.
        reduce("ReduceSumSquare", g.o(s, "Reshape", [x, ints([-1, sumsqChunk(width)])]), opts.outputs);
        break;
      }
      case "last": {
        const rows = g.o(s, "Reshape", [x, ints([-1, width])]);
        g.op(s, "Gather", [rows, ints([-1], true)], { ...opts, attrs: { axis: 0 } });
        break;
      }
      case "first_key":
        g.op(s, "Gather", [x, ints([0], true)], { ...opts, attrs: { axis: -1 } });
        break;
      case "row_entropy": {
        // p · ln p with ln p as the Softmax that made p would give it: LogSoftmax of the same float32 scores on the
        // same axis (the two ops share their axis rule in every opset), within float32 rounding of ln p and nearer
        // ln of the exact softmax. ONNX Runtime's Log is five times its LogSoftmax: at 512 tokens it was 0.4 s of
        // TinyLlama's 4.1 s probed pass. Elsewhere (fp16 scores, no Softmax in sight, a provider without the op such
        // as WebGPU), ln max(p, 1e-30).
        // Either way 0 where p is 0 (a causal row's masked keys add nothing, −∞ scores clamped to −1e30), and NaN
        // where p is NaN (to be found). Four passes over [heads, seq, seq], where a Where between products took six.
        const src = located.points.get(r.point);
        const softmax = src && "tensor" in src ? idx.producer.get(src.tensor) : undefined;
        const lnp =
          logSoftmax && softmax?.opType === "Softmax" && elementType(idx, softmax.input[0]) === DT.FLOAT
            ? g.o(s, "Max", [
                g.o(s, "LogSoftmax", [softmax.input[0]], {
                  axis: attr(softmax, "axis") ?? (opset >= 13 ? -1 : 1),
                }),
                float(-1e30),
              ])
            : g.o(s, "Log", [g.o(s, "Max", [x, float(1e-30)])]);
        g.op(s, "Neg", [reduce("ReduceSum", g.o(s, "Mul", [x, lnp]))], opts);
        break;
      }
      case "whole":
        throw new Error(`${r.point} is read whole: expose it as a point, not a reduction`);
    }
  }
  const graph = proto.graph!;
  return {
    ...proto,
    graph: { ...graph, node: [...graph.node, ...g.nodes], initializer: [...graph.initializer, ...g.initializers] },
  };
}
