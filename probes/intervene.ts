/**
 * Interventions as graph surgery, TransformerLens' editing hooks in ONNX. Each intervention of a run is a fork: the
 * nodes downstream of its site (a probe point), cloned to read Where(positions ∧ dims, edit, T) where the model reads
 * the point's tensor T, with masks and operands as run-time inputs. The plain graph is left as it was, so one session
 * and one pass a prompt give the plain forward and every intervention, on any source and provider, with no second
 * load; an edit at the last layer costs that layer. The edit is a·T + c·mean + b: zero (0, 0, 0), scale by k
 * (k, 0, 0), add v (1, 0, v), the mean of the prompt's other positions (0, 1, 0), or patch, another prompt's value of
 * the same point (0, 0, value).
 */
import * as ort from "onnxruntime-node";
import type { ModelProto, NodeProto } from "onnx-buf";
import { ProbeError } from "./errors.js";
import { DT, GraphBuilder, floatTensor, int64Tensor, valueInfo } from "../onnx/graph.js";
import { indexGraph, opsetVersion, type GraphIndex } from "../onnx/io.js";
import { elementType } from "../onnx/surgery.js";
import { SKIP_NORMS } from "./dataflow.js";
import type { Located } from "./locate.js";
import { LAYER_POINTS, parsePoint, streamOrder, type ProbePoint } from "./points.js";

/** Positions of a prompt: an index (negative from the end), several, the first, the last, or all of them. */
export type Positions = number | readonly number[] | "first" | "last" | "all";

export type Edit =
  | { op: "zero" }
  /** The mean over the prompt's other positions (those not chosen), dimension by dimension. */
  | { op: "mean" }
  | { op: "scale"; by: number }
  /** A vector of the point's width, added at every chosen position (steering). */
  | { op: "add"; vector: ArrayLike<number> }
  /** The point's [seq, width] value from another prompt's plain pass (activation patching), read at the same positions. */
  | { op: "patch"; value: Float32Array; seq: number };

export interface Intervention {
  point: ProbePoint;
  positions: Positions;
  /** The dimensions edited; every one where absent. */
  dims?: readonly number[];
  edit: Edit;
}

/** Points whose value is a [batch, seq, d] stream tensor a node reads: the logits end the graph, a pattern is no row of d. */
const EDITABLE = new Set<string>(["embed", "ln_final", ...LAYER_POINTS.filter((k) => k !== "pattern")]);

/** A fork's run-time inputs: the positions and dimensions it edits, and the edit's operands. */
export const forkInput = (tag: string, what: "positions" | "dims" | "scale" | "mean" | "add") =>
  `probespec::${tag}::${what}`;

/** Why a point cannot be edited in this graph, or undefined where it can. */
export function siteProblem(idx: GraphIndex, located: Located, p: ProbePoint): string | undefined {
  const src = located.points.get(p);
  if (!EDITABLE.has(parsePoint(p).kind)) return "only a point of the residual stream's width can be edited";
  if (!src) return located.unavailable.find((u) => u.point === p)?.reason ?? "it is not located";
  if (!("tensor" in src)) return `the graph never computes it as a tensor (it is ${src.minus.join(" − ")})`;
  const T = src.tensor;
  // A fused norm computes its normalised output from the sum inside the node: an edit of the sum would miss it.
  const made = located.edits.find((e) => e.name === T);
  const p0 = idx.producer.get(T);
  if (made) return `it is the sum inside the fused norm "${made.node}", which normalises it before any edit could`;
  if (p0 && (SKIP_NORMS.has(p0.opType) || p0.opType === "EmbedLayerNormalization") && p0.output[0] !== T)
    return `it is the sum inside ${p0.opType} "${p0.name}", which normalises it before any edit could`;
  if (!idx.consumers.get(T)?.length) return `no node reads "${T}"`;
  return undefined;
}

/** An intervention's branch: its site, and the points read under it. */
export interface Fork {
  /** Names the branch's inputs, tensors and nodes. */
  tag: string;
  point: ProbePoint;
  reads: Iterable<ProbePoint>;
}

/** A graph tensor's name in a fork. */
export const forked = (name: string, tag: string) => `${name}::${tag}`;

/**
 * The model with one branch a fork: the nodes between the fork's site and the points it reads (those the site's
 * tensor T reaches and that reach a read), cloned with renamed outputs, the clone of each reader of T reading
 * Where(positions ∧ dims, edit, T). The plain graph is left as it was, so one pass computes the plain forward and
 * every intervention, each costing only the layers downstream of its site; the weights are shared, not copied.
 * Each fork's located points: its site and any later point on T read the edited tensor, earlier ones (resid_post.(L−1)
 * before an edit at resid_pre.L) still read T, as TransformerLens' hooks would have cached them; points the edit
 * cannot reach read the plain graph's tensors.
 */
export function addForks(
  proto: ModelProto,
  located: Located,
  forks: readonly Fork[],
  modelId?: string,
): { proto: ModelProto; located: Located[] } {
  // No fork, no walk over the graph: the plain probed graph is built on every run.
  if (!forks.length) return { proto, located: [] };
  const g0 = proto.graph!;
  const idx = indexGraph(g0);
  const opset = opsetVersion(proto);
  const g = new GraphBuilder();
  const cloned: NodeProto[] = [];
  const tensorsOf = (p: ProbePoint): string[] => {
    const src = located.points.get(p);
    return !src ? [] : "tensor" in src ? [src.tensor] : src.minus.flatMap((q) => tensorsOf(q as ProbePoint));
  };
  const all = forks.map(({ tag, point: p, reads }) => {
    const why = siteProblem(idx, located, p);
    if (why) throw new ProbeError(modelId, `cannot intervene at ${p}: ${why}`);
    const T = (located.points.get(p) as { tensor: string }).tensor;
    const out = editNodes(g, opset, `/probespec/${tag}`, tag, T, elementType(idx, T), located.d);
    // The nodes T reaches, then of those the ones a read tensor needs: walked back through the reached set only.
    const reached = new Set<NodeProto>();
    const queue = [T];
    while (queue.length)
      for (const n of idx.consumers.get(queue.pop()!) ?? [])
        if (!reached.has(n)) (reached.add(n), queue.push(...n.output.filter(Boolean)));
    const needed = new Set<NodeProto>();
    const back = [...reads].flatMap(tensorsOf);
    while (back.length) {
      const n = idx.producer.get(back.pop()!);
      if (n && reached.has(n) && !needed.has(n)) (needed.add(n), back.push(...n.input.filter(Boolean)));
    }
    const renamed = new Map<string, string>([[T, out]]);
    for (const n of g0.node) if (needed.has(n)) for (const o of n.output) if (o) renamed.set(o, forked(o, tag));
    for (const n of g0.node)
      if (needed.has(n))
        cloned.push({
          ...n,
          name: n.name && forked(n.name, tag),
          input: n.input.map((i) => renamed.get(i) ?? i),
          output: n.output.map((o) => renamed.get(o) ?? o),
        });
    const points = new Map(located.points);
    for (const [q, src] of located.points) {
      if (!("tensor" in src)) continue;
      if (src.tensor === T) points.set(q, { tensor: streamOrder(q) >= streamOrder(p) ? out : T });
      else if (renamed.has(src.tensor)) points.set(q, { tensor: renamed.get(src.tensor)! });
    }
    return { ...located, points };
  });
  return {
    proto: {
      ...proto,
      graph: {
        ...g0,
        node: [...g0.node, ...g.nodes, ...cloned],
        input: [...g0.input, ...g.inputs],
        initializer: [...g0.initializer, ...g.initializers],
      },
    },
    located: all,
  };
}

/** The edit of T, a·T + c·mean + b at the chosen positions and dimensions, T elsewhere; its operands run-time inputs. */
function editNodes(g: GraphBuilder, opset: number, s: string, tag: string, T: string, type: DT | undefined, d: number) {
  const f32 = (x: string) => (type === DT.FLOAT ? x : g.o(s, "Cast", [x], { to: DT.FLOAT }));
  const input = (what: Parameters<typeof forkInput>[1], t: DT, dims: (number | string)[]) => {
    g.inputs.push(valueInfo(forkInput(tag, what), t, dims));
    return forkInput(tag, what);
  };
  const positions = input("positions", DT.BOOL, ["seq", 1]);
  const dims = input("dims", DT.BOOL, [d]);
  const [a, c] = [input("scale", DT.FLOAT, []), input("mean", DT.FLOAT, [])];
  const b = input("add", DT.FLOAT, ["seq", d]);
  // ReduceSum takes its axes as an input from opset 13, as an attribute before.
  const axis = opset >= 13 ? g.init(int64Tensor(`${s}/axis`, [1], [-2])) : "";
  const sumOverPositions = (x: string) =>
    opset >= 13
      ? g.o(s, "ReduceSum", [x, axis], { keepdims: 1 })
      : g.o(s, "ReduceSum", [x], { axes: [-2], keepdims: 1 });
  const x = f32(T);
  const zero = g.init(floatTensor(`${s}/zero`, [], [0]));
  const one = g.init(floatTensor(`${s}/one`, [], [1]));
  const others = g.o(s, "Cast", [g.o(s, "Not", [positions])], { to: DT.FLOAT });
  // Of no other position (every one chosen) the mean is 0, not 0/0: the edit's other terms stay finite.
  const mean = g.o(s, "Div", [
    sumOverPositions(g.o(s, "Where", [positions, zero, x])),
    g.o(s, "Max", [sumOverPositions(others), one]),
  ]);
  let edited = g.o(s, "Add", [g.o(s, "Add", [g.o(s, "Mul", [x, a]), g.o(s, "Mul", [mean, c])]), b]);
  if (type !== DT.FLOAT) edited = g.o(s, "Cast", [edited], { to: type! });
  return g.o(s, "Where", [g.o(s, "And", [positions, dims]), edited, T]);
}

/** A prompt's positions as indices, each checked against its length. */
export function positionsOf(p: Positions, seq: number, modelId?: string): number[] {
  const list =
    p === "all"
      ? Array.from({ length: seq }, (_, q) => q)
      : p === "first"
        ? [0]
        : p === "last"
          ? [seq - 1]
          : (typeof p === "number" ? [p] : [...p]).map((q) => (q < 0 ? seq + q : q));
  const bad = list.find((q) => !Number.isInteger(q) || q < 0 || q >= seq);
  if (bad !== undefined) throw new ProbeError(modelId, `position ${bad} is outside a prompt of ${seq} tokens`);
  return list;
}

/** A fork's feeds for a prompt of `seq` tokens: its intervention's, or, where none is given, masks all false (the plain pass). */
export function forkFeeds(
  tag: string,
  seq: number,
  d: number,
  on?: Intervention,
  modelId?: string,
): Record<string, ort.Tensor> {
  const positions = new Uint8Array(seq);
  const dims = new Uint8Array(d);
  let [a, c] = [0, 0];
  const b = new Float32Array(seq * d);
  if (on) {
    const p = on.point;
    const chosen = positionsOf(on.positions, seq, modelId);
    for (const q of chosen) positions[q] = 1;
    for (const k of on.dims ?? Array.from({ length: d }, (_, k) => k)) {
      if (!Number.isInteger(k) || k < 0 || k >= d)
        throw new ProbeError(modelId, `dimension ${k} is outside ${p}'s width ${d}`);
      dims[k] = 1;
    }
    const e = on.edit;
    if (e.op === "scale") a = e.by;
    else if (e.op === "mean") c = 1;
    else if (e.op === "add") {
      a = 1;
      if (e.vector.length !== d)
        throw new ProbeError(modelId, `the vector added at ${p} has ${e.vector.length} elements, not ${d}`);
      for (const q of chosen) b.set(Float32Array.from(e.vector), q * d);
    } else if (e.op === "patch") {
      const past = chosen.find((q) => q >= e.seq);
      if (past !== undefined || e.value.length !== e.seq * d)
        throw new ProbeError(
          modelId,
          `the value patched into ${p} is ${e.seq} positions of ${e.value.length / e.seq}, which ${past !== undefined ? `has no position ${past}` : `is not ${d} wide`}`,
        );
      for (const q of chosen) b.set(e.value.subarray(q * d, (q + 1) * d), q * d);
    }
  }
  return {
    [forkInput(tag, "positions")]: new ort.Tensor("bool", positions, [seq, 1]),
    [forkInput(tag, "dims")]: new ort.Tensor("bool", dims, [d]),
    [forkInput(tag, "scale")]: new ort.Tensor("float32", Float32Array.of(a), []),
    [forkInput(tag, "mean")]: new ort.Tensor("float32", Float32Array.of(c), []),
    [forkInput(tag, "add")]: new ort.Tensor("float32", b, [seq, d]),
  };
}

/** The same intervention, the same key: one pass per distinct intervention of a run. */
export const interventionKey = (i: Intervention): string =>
  JSON.stringify(i, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v));
