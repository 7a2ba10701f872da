/**
 * The residual stream as the dominators of the value-flow graph from the token
 * embedding to the logits (Cooper, Harvey & Kennedy's "A simple, fast dominance
 * algorithm", on a DAG whose node order is already topological, as ONNX's is).
 * Every path from the embedding to the logits passes through each of them, so
 * the operand order of a sum, n-ary sums and fused Skip norms do not matter.
 */
import type { NodeProto } from "onnx-buf";
import type { GraphIndex } from "../onnx/io.js";

/** Ops whose output is a shape, not data: the stream's value never flows through them. */
const SHAPE_ONLY = new Set(["Shape", "Size"]);
/** Attention ops whose probabilities stay inside them. */
export const FUSED_ATTENTION = new Set([
  "Attention",
  "MultiHeadAttention",
  "GroupQueryAttention",
  "PackedAttention",
  "SparseAttention",
]);
const ATTENTION_OPS = new Set(["Softmax", ...FUSED_ATTENTION]);
export const MATMUL_OPS = new Set([
  "MatMul",
  "Gemm",
  "MatMulNBits",
  "FusedMatMul",
  "MatMulInteger",
  "QGemm",
  "DynamicQuantizeMatMul",
]);
export const SKIP_NORMS = new Set(["SkipSimplifiedLayerNormalization", "SkipLayerNormalization"]);

export interface Flow {
  /** The nodes on some path from the source node to the sink node, in graph order. */
  nodes: NodeProto[];
  order: Map<NodeProto, number>;
  /** Data predecessors and successors within `nodes`. */
  preds: Map<NodeProto, NodeProto[]>;
  succs: Map<NodeProto, NodeProto[]>;
}

export function valueFlow(idx: GraphIndex, graphNodes: readonly NodeProto[], source: NodeProto, sink: NodeProto): Flow {
  const forward = new Set<NodeProto>([source]);
  const stack = [source];
  while (stack.length) {
    const n = stack.pop()!;
    for (const o of n.output) {
      for (const c of o ? (idx.consumers.get(o) ?? []) : []) {
        if (SHAPE_ONLY.has(c.opType) || forward.has(c)) continue;
        forward.add(c);
        stack.push(c);
      }
    }
  }
  const backward = new Set<NodeProto>([sink]);
  stack.push(sink);
  while (stack.length) {
    const n = stack.pop()!;
    if (n === source) continue;
    for (const i of n.input) {
      const p = i ? idx.producer.get(i) : undefined;
      if (p && forward.has(p) && !backward.has(p)) {
        backward.add(p);
        stack.push(p);
      }
    }
  }
  const nodes = graphNodes.filter((n) => forward.has(n) && backward.has(n));
  const order = new Map(nodes.map((n, i) => [n, i]));
  const preds = new Map<NodeProto, NodeProto[]>(nodes.map((n) => [n, []]));
  const succs = new Map<NodeProto, NodeProto[]>(nodes.map((n) => [n, []]));
  for (const n of nodes) {
    if (n === source) continue;
    for (const p of new Set(n.input.map((i) => (i ? idx.producer.get(i) : undefined)))) {
      if (p && order.has(p)) {
        preds.get(n)!.push(p);
        succs.get(p)!.push(n);
      }
    }
  }
  return { nodes, order, preds, succs };
}

/** The dominators of the sink, from the source to the sink. */
export function dominatorChain(flow: Flow): NodeProto[] {
  const { nodes, order, preds } = flow;
  const idom = new Map<NodeProto, NodeProto>([[nodes[0], nodes[0]]]);
  const intersect = (a: NodeProto, b: NodeProto) => {
    while (a !== b) {
      while (order.get(a)! > order.get(b)!) a = idom.get(a)!;
      while (order.get(b)! > order.get(a)!) b = idom.get(b)!;
    }
    return a;
  };
  for (const n of nodes.slice(1)) {
    const ps = preds.get(n)!.filter((p) => idom.has(p));
    if (ps.length) idom.set(n, ps.reduce(intersect));
  }
  const chain = [nodes[nodes.length - 1]];
  while (chain[chain.length - 1] !== nodes[0]) chain.push(idom.get(chain[chain.length - 1])!);
  return chain.reverse();
}

/** The nodes strictly between two consecutive dominators: one segment of the stream. */
export function between(flow: Flow, from: NodeProto, to: NodeProto): Set<NodeProto> {
  const reach = new Set<NodeProto>();
  const stack = [from];
  while (stack.length) {
    for (const s of flow.succs.get(stack.pop()!) ?? []) {
      if (s === to || reach.has(s) || flow.order.get(s)! > flow.order.get(to)!) continue;
      reach.add(s);
      stack.push(s);
    }
  }
  return reach;
}

/** Does `ops` do real work: a matmul or attention? */
export const computes = (nodes: Iterable<NodeProto>) =>
  [...nodes].some((n) => MATMUL_OPS.has(n.opType) || ATTENTION_OPS.has(n.opType));
/**
 * Does `nodes` attend: a fused attention op, or a Softmax other than a mixture of experts' router. A router's Softmax
 * is over the experts, not the positions, and is read by TopK (Mixtral's MixtralTopKRouter: softmax, then top k) or
 * reads TopK's values (routers that pick the top k logits first).
 */
export const attends = (nodes: Iterable<NodeProto>) => {
  const all = [...nodes];
  const topK = all.filter((n) => n.opType === "TopK");
  const routes = (n: NodeProto) => topK.some((t) => t.input[0] === n.output[0] || n.input[0] === t.output[0]);
  return all.some((n) => FUSED_ATTENTION.has(n.opType) || (n.opType === "Softmax" && !routes(n)));
};

/** The nodes of `within` that `tensor` depends on. */
export function upstream(idx: GraphIndex, tensor: string, within: Set<NodeProto>): Set<NodeProto> {
  const out = new Set<NodeProto>();
  const stack = [tensor];
  while (stack.length) {
    const p = idx.producer.get(stack.pop()!);
    if (!p || !within.has(p) || out.has(p)) continue;
    out.add(p);
    for (const i of p.input) if (i) stack.push(i);
  }
  return out;
}

/** Ops that change a value's shape or type, never its numbers: a value is traced through them. */
export const RESHAPES = new Set(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Cast"]);
