/**
 * Locating probe points in a real export. Structure is primary, names are a
 * hint: the residual stream is the chain of tensors, each the sum of the
 * previous one and a branch computed from a norm of it, from the embedding to
 * the final norm. Works on TorchScript / Optimum exports (`/model/layers.N/Add`,
 * `Add_1`), GenAI builder exports (the Skip norms' 4th outputs) and ORT
 * transformers-optimizer exports (EmbedLayerNormalization, SkipLayerNormalization).
 */
import type { ModelProto, NodeProto, TensorProto } from "onnx-buf";
import { LocateError } from "./errors.js";
import { attr, indexGraph, type GraphIndex } from "./onnx.js";
import { point, type ProbePoint } from "./points.js";
import { dimsOf } from "./tensor.js";

const ATTENTION_OPS = new Set(["Softmax", "Attention", "MultiHeadAttention", "GroupQueryAttention", "PackedAttention", "SparseAttention"]);
const MATMUL_OPS = new Set(["MatMul", "Gemm", "MatMulNBits", "FusedMatMul", "MatMulInteger"]);
const SKIP_NORMS = new Set(["SkipSimplifiedLayerNormalization", "SkipLayerNormalization"]);
const NORM_OPS = new Set(["SimplifiedLayerNormalization", "LayerNormalization", "RMSNormalization", ...SKIP_NORMS]);

/** Where a probe point's value comes from: a graph tensor, or a difference of two (a branch a fused norm never materialises). */
export type PointSource = { tensor: string } | { minus: [ProbePoint, ProbePoint] };

export interface FinalNorm {
  kind: "rms" | "layernorm";
  eps: number;
  /** The gain as the graph applies it (Gemma's 1 + w already folded). */
  gain: string;
  bias?: string;
}

export interface WeightRef {
  /** The initializer holding it. */
  initializer: string;
  /** How the graph stores W_U relative to [vocab, d]. */
  layout: "vocab_d" | "d_vocab" | "matmulnbits";
  /** MatMulNBits: scales, optional zero points, and attributes. */
  scales?: string;
  zeroPoints?: string;
  K?: number;
  N?: number;
  blockSize?: number;
}

export interface Located {
  layers: number;
  parallel: boolean;
  d: number;
  vocab: number;
  points: Map<ProbePoint, PointSource>;
  /** Optional outputs to create by surgery: node name, output index, tensor name. */
  edits: { node: string; index: number; name: string }[];
  W_E: WeightRef;
  W_U: WeightRef;
  /** How tying was seen in the graph, if it was. */
  tiedInGraph: string | undefined;
  finalNorm: FinalNorm;
  /** Model inputs: ids, and the others the session must be fed. */
  inputs: { ids: string; idsType: "int64" | "int32"; mask?: string; positions?: string; past: { name: string; dims: number[] }[] };
  /** What was found, for doctor and for error messages. */
  summary: string[];
}

interface Step {
  from: string;
  to: string;
  /** The branch tensor added to `from` (undefined when a fused norm adds a bias it never exposes). */
  branch: string | undefined;
  node: NodeProto;
  hasAttention: boolean;
  /** Inputs of the branch's first matmuls: the normalised inputs it reads. */
  branchInputs: string[];
  /** The branch's nodes, between the residual and the add. */
  nodes: Set<NodeProto>;
}

/** A constant input: an initializer, or the value of a Constant node (the TorchScript exporter emits both). */
function constantOf(idx: GraphIndex, name: string): TensorProto | undefined {
  const init = idx.initializer.get(name);
  if (init) return init;
  const n = idx.producer.get(name);
  return n?.opType === "Constant" ? n.attribute.find((a) => a.name === "value")?.t : undefined;
}

function initDims(idx: GraphIndex, name: string): number[] | undefined {
  const t = idx.initializer.get(name);
  return t ? dimsOf(t) : undefined;
}

/**
 * Walks back from `tensor` to `stop`, collecting op types; bounded, so a huge
 * graph cannot stall it. A sibling output of the node producing `stop` counts as
 * reaching it: a fused Skip norm emits the residual sum and its normalised form together.
 */
function ancestry(idx: GraphIndex, tensor: string, stop: string, limit = 4000): { reaches: boolean; ops: Set<string>; nodes: NodeProto[] } {
  const stopNode = idx.producer.get(stop);
  const ops = new Set<string>();
  const nodes: NodeProto[] = [];
  const seen = new Set<string>();
  const stack = [tensor];
  let reaches = false;
  while (stack.length && seen.size < limit) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (t === stop) { reaches = true; continue; }
    const n = idx.producer.get(t);
    if (!n) continue;
    if (n === stopNode && (NORM_OPS.has(n.opType) || n.opType === "EmbedLayerNormalization")) { reaches = true; continue; }
    ops.add(n.opType);
    nodes.push(n);
    for (const i of n.input) if (i && !idx.initializer.has(i)) stack.push(i);
  }
  return { reaches, ops, nodes };
}

/** The activation inputs of a branch's first matmuls: tensors between the residual and a weight. */
function firstMatmulInputs(idx: GraphIndex, nodes: NodeProto[], from: string): string[] {
  const inputs = new Set<string>();
  for (const n of nodes) {
    if (!MATMUL_OPS.has(n.opType) && n.opType !== "Attention") continue;
    const x = n.input[0];
    if (!x || idx.initializer.has(x)) continue;
    const up = ancestry(idx, x, from, 400);
    if (up.reaches && ![...up.ops].some((o) => MATMUL_OPS.has(o) || ATTENTION_OPS.has(o))) inputs.add(x);
  }
  return [...inputs];
}

/** The next residual tensor after `h`: an Add of h and a branch of it, or a Skip norm's sum. */
function nextStep(idx: GraphIndex, h: string): Step | undefined {
  for (const n of idx.consumers.get(h) ?? []) {
    let branch: string | undefined, to: string | undefined;
    if (n.opType === "Add" && n.input.length === 2) {
      branch = n.input[0] === h ? n.input[1] : n.input[1] === h ? n.input[0] : undefined;
      to = n.output[0];
    } else if (SKIP_NORMS.has(n.opType) && n.input[1] === h) {
      branch = n.input[0];
      to = n.output[3] || `probespec::${n.name || n.output[0]}::sum`;
      // A bias input is added inside the node: the branch proper is never materialised.
      const biasIndex = n.opType === "SkipLayerNormalization" ? 4 : 3;
      if (n.input[biasIndex]) branch = undefined;
    }
    if (!to || (branch === undefined && !SKIP_NORMS.has(n.opType))) continue;
    const probe = branch ?? n.input[0];
    const a = ancestry(idx, probe, h);
    if (!a.reaches || idx.initializer.has(probe)) continue;
    // A residual branch reads h through a norm and does real work (a matmul or attention).
    if (![...a.ops].some((o) => MATMUL_OPS.has(o) || ATTENTION_OPS.has(o))) continue;
    return { from: h, to, branch, node: n, hasAttention: [...a.ops].some((o) => ATTENTION_OPS.has(o)), branchInputs: firstMatmulInputs(idx, a.nodes, h), nodes: new Set(a.nodes) };
  }
  return undefined;
}

function findEmbedding(idx: GraphIndex, proto: ModelProto, modelId?: string): { h: string; W_E: string } {
  const g = proto.graph!;
  for (const n of g.node) {
    if (n.opType === "EmbedLayerNormalization") {
      // ORT's fused embedding: output 2 is the embedding sum, before its LayerNorm.
      if (!n.output[2]) throw new LocateError(modelId, `EmbedLayerNormalization "${n.name}" does not output its embedding sum (output 2)`);
      return { h: n.output[2], W_E: n.input[2] };
    }
  }
  for (const n of g.node) {
    if (n.opType !== "Gather") continue;
    const dims = initDims(idx, n.input[0]);
    if (!dims || dims.length !== 2) continue;
    const ids = ancestry(idx, n.input[1], "", 50);
    const fromIds = g.input.some((i) => i.name === n.input[1]) || [...ids.nodes].some((m) => m.input.some((x) => g.input.some((i) => i.name === x && /ids/.test(x))));
    if (!fromIds) continue;
    let h = n.output[0];
    // Gemma scales the embedding by √d in a Mul by a scalar constant.
    const cons = idx.consumers.get(h) ?? [];
    if (cons.length === 1 && cons[0].opType === "Mul") {
      const t = constantOf(idx, cons[0].input.find((x) => x !== h)!);
      if (t && dimsOf(t).reduce((a, b) => a * b, 1) === 1) h = cons[0].output[0];
    }
    return { h, W_E: n.input[0] };
  }
  throw new LocateError(modelId, "found no token embedding: no Gather of a [vocab, d] initializer by the input ids, and no EmbedLayerNormalization");
}

/** The node that produces `logits` and its weight, read as [vocab, d] whatever the storage. */
function findUnembedding(idx: GraphIndex, proto: ModelProto, W_E: string, modelId?: string): { node: NodeProto; x: string; W_U: WeightRef; tiedInGraph?: string } {
  const out = proto.graph!.output.find((o) => o.name === "logits") ?? proto.graph!.output[0];
  const node = idx.producer.get(out.name);
  if (!node || !MATMUL_OPS.has(node.opType)) throw new LocateError(modelId, `"${out.name}" is produced by ${node ? `${node.opType} "${node.name}"` : "no node"}, not a MatMul, Gemm or MatMulNBits on W_U`);
  const [x, b] = node.input;
  if (node.opType === "MatMulNBits") {
    return { node, x, W_U: { initializer: b, layout: "matmulnbits", scales: node.input[2], zeroPoints: node.input[3] || undefined, K: attr(node, "K"), N: attr(node, "N"), blockSize: attr(node, "block_size") } };
  }
  const transB = node.opType === "Gemm" && attr(node, "transB") === 1;
  if (idx.initializer.has(b)) {
    const layout = transB ? "vocab_d" : "d_vocab";
    return { node, x, W_U: { initializer: b, layout }, tiedInGraph: b === W_E ? "W_U is the embedding initializer itself" : undefined };
  }
  const t = idx.producer.get(b);
  if (t?.opType === "Transpose" && idx.initializer.has(t.input[0])) {
    return { node, x, W_U: { initializer: t.input[0], layout: transB ? "d_vocab" : "vocab_d" }, tiedInGraph: t.input[0] === W_E ? "W_U is a Transpose of the embedding" : undefined };
  }
  throw new LocateError(modelId, `the weight of "${node.name}" (${b}) is neither an initializer nor a Transpose of one`);
}

/** The final norm between the last residual tensor and the lm_head input. */
function findFinalNorm(idx: GraphIndex, lnFinal: string, modelId?: string): FinalNorm {
  const n = idx.producer.get(lnFinal);
  if (n && NORM_OPS.has(n.opType)) {
    const gi = SKIP_NORMS.has(n.opType) ? 2 : 1;
    const kind = n.opType.includes("Simplified") || n.opType === "RMSNormalization" ? "rms" : "layernorm";
    return { kind, eps: attr(n, "epsilon") ?? 1e-5, gain: n.input[gi], bias: n.input[gi + 1] || undefined };
  }
  // Decomposed: … Mul(gain, normalised) with the gain a [d] initializer; RMS if no mean is subtracted.
  if (n?.opType === "Mul" || n?.opType === "Add") {
    let mul = n, bias: string | undefined;
    if (n.opType === "Add") {
      bias = n.input.find((i) => idx.initializer.has(i));
      mul = idx.producer.get(n.input.find((i) => !idx.initializer.has(i))!)!;
    }
    const gain = mul?.input.find((i) => idx.initializer.has(i));
    if (gain) {
      const a = ancestry(idx, mul.input.find((i) => i !== gain)!, "", 20);
      const kind = a.ops.has("Sub") ? "layernorm" : "rms";
      // eps: the scalar constant added to the mean square (or variance) before the square root.
      let eps = 1e-5;
      for (const m of a.nodes.filter((x) => x.opType === "Add")) {
        const t = m.input.map((i) => constantOf(idx, i)).find((c) => c && dimsOf(c).reduce((x, y) => x * y, 1) === 1 && c.dataType === 1);
        if (t) {
          eps = t.rawData.length ? new DataView(t.rawData.buffer, t.rawData.byteOffset, 4).getFloat32(0, true) : t.floatData[0];
          break;
        }
      }
      return { kind, eps, gain, bias };
    }
  }
  throw new LocateError(modelId, `cannot read the final norm that produces "${lnFinal}" (${n ? `${n.opType} "${n.name}"` : "no node"})`);
}

function inputsOf(proto: ModelProto, idx: GraphIndex): Located["inputs"] {
  const g = proto.graph!;
  const inits = new Set(idx.initializer.keys());
  const real = g.input.filter((i) => !inits.has(i.name));
  const ids = real.find((i) => i.name === "input_ids") ?? real[0];
  const elem = ids.type?.value.case === "tensorType" ? ids.type.value.value.elemType : 7;
  const past = real
    .filter((i) => /past|cache/.test(i.name))
    .map((i) => {
      const dims = i.type?.value.case === "tensorType" ? i.type.value.value.shape?.dim ?? [] : [];
      // Fed empty: batch 1, the past length 0, fixed sizes as declared.
      return {
        name: i.name,
        dims: dims.map((d) => (d.value.case === "dimValue" ? Number(d.value.value) : /batch/i.test(String(d.value.value)) ? 1 : 0)),
      };
    });
  return {
    ids: ids.name,
    idsType: elem === 6 ? "int32" : "int64",
    mask: real.find((i) => i.name === "attention_mask")?.name,
    positions: real.find((i) => i.name === "position_ids")?.name,
    past,
  };
}

export interface LocateContext {
  modelId?: string;
  /** The layer count config.json (or genai_config.json) declares. */
  declaredLayers?: number;
  /** Explicit tensor names from the model entry; they win over what structure finds. */
  overrides?: Partial<Record<string, string>>;
}

export function locate(proto: ModelProto, ctx: LocateContext = {}): Located {
  const { modelId } = ctx;
  const idx = indexGraph(proto.graph!);
  const summary: string[] = [];
  const emb = findEmbedding(idx, proto, modelId);
  const [vocab, d] = initDims(idx, emb.W_E)!;
  summary.push(`embedding: ${emb.W_E} [${vocab}, ${d}] → ${emb.h}`);
  const steps: Step[] = [];
  for (let h = emb.h; ;) {
    const s = nextStep(idx, h);
    if (!s) break;
    steps.push(s);
    h = s.to;
    if (steps.length > 4096) break;
  }
  summary.push(`residual chain: ${steps.length} adds (${steps.map((s) => (s.hasAttention ? "a" : "m")).join("")})`);
  const head = findUnembedding(idx, proto, emb.W_E, modelId);
  // Sequential blocks alternate attention and MLP branches; a parallel block's branch holds both.
  const parallel = steps.length > 0 && steps.every((s) => s.hasAttention && s.branchInputs.length >= 2);
  const layers = parallel ? steps.length : steps.length / 2;
  const fail = (why: string) => new LocateError(modelId, `${why}; found ${summary.join("; ")}`);
  if (!parallel && (steps.length % 2 || steps.some((s, i) => s.hasAttention !== (i % 2 === 0)))) {
    if (!ctx.overrides) throw fail("the residual chain does not alternate attention and MLP branches");
  }
  if (ctx.declaredLayers !== undefined && layers !== ctx.declaredLayers && !ctx.overrides) {
    throw fail(`found ${layers} layers where the config declares ${ctx.declaredLayers}`);
  }
  const points = new Map<ProbePoint, PointSource>();
  const edits: Located["edits"] = [];
  const tensorOf = (s: Step) => {
    if (!s.node.output[3] && SKIP_NORMS.has(s.node.opType)) edits.push({ node: s.node.name, index: 3, name: s.to });
    return s.to;
  };
  points.set("embed", { tensor: emb.h });
  let h = emb.h;
  for (let L = 0; L < layers; L++) {
    points.set(point("resid_pre", L), { tensor: h });
    if (parallel) {
      const s = steps[L];
      const post = tensorOf(s);
      points.set(point("resid_post", L), { tensor: post });
      // The branch is Add(mlp, attn): the side without attention is the MLP.
      const sum = s.branch ? idx.producer.get(s.branch) : undefined;
      if (sum?.opType === "Add") {
        const [x, y] = sum.input;
        const xAttn = [...ancestry(idx, x, h).ops].some((o) => ATTENTION_OPS.has(o));
        points.set(point("attn_out", L), { tensor: xAttn ? x : y });
        points.set(point("mlp_out", L), { tensor: xAttn ? y : x });
      }
      const mlpIn = s.branchInputs.find((t) => !reachesAttention(idx, t, s.nodes));
      if (mlpIn) points.set(point("mlp_in", L), { tensor: mlpIn });
      h = post;
    } else {
      const [a, m] = [steps[2 * L], steps[2 * L + 1]];
      const mid = tensorOf(a), post = tensorOf(m);
      points.set(point("resid_mid", L), { tensor: mid });
      points.set(point("resid_post", L), { tensor: post });
      points.set(point("attn_out", L), a.branch ? { tensor: a.branch } : { minus: [point("resid_mid", L), point("resid_pre", L)] });
      points.set(point("mlp_out", L), m.branch ? { tensor: m.branch } : { minus: [point("resid_post", L), point("resid_mid", L)] });
      // The MLP reads the normalised mid stream: a Skip norm's output 0, or its first matmul's input.
      const mlpIn = SKIP_NORMS.has(a.node.opType) ? a.node.output[0] : m.branchInputs[0];
      if (mlpIn) points.set(point("mlp_in", L), { tensor: mlpIn });
      h = post;
    }
  }
  points.set("ln_final", { tensor: head.x });
  points.set("logits", { tensor: head.node.output[0] });
  for (const [name, tensor] of Object.entries(ctx.overrides ?? {})) {
    if (tensor && !/^W_|^ln_final\.[wb]$/.test(name)) points.set(name as ProbePoint, { tensor });
  }
  const finalNorm = findFinalNorm(idx, head.x, modelId);
  const W_U = ctx.overrides?.W_U ? { initializer: ctx.overrides.W_U, layout: "d_vocab" as const } : head.W_U;
  summary.push(`${layers} ${parallel ? "parallel" : "sequential"} layers`, `final norm: ${finalNorm.kind} (gain ${finalNorm.gain})`, `lm_head: ${head.node.opType} "${head.node.name}" on ${W_U.initializer} (${W_U.layout})`);
  return {
    layers, parallel, d, vocab, points, edits,
    W_E: { initializer: ctx.overrides?.W_E ?? emb.W_E, layout: "vocab_d" },
    W_U, tiedInGraph: head.tiedInGraph, finalNorm, inputs: inputsOf(proto, idx), summary,
  };
}

/** Does `t` flow into an attention op inside the branch `within`? */
function reachesAttention(idx: GraphIndex, t: string, within: Set<NodeProto>): boolean {
  const seen = new Set<string>();
  const stack = [t];
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x)) continue;
    seen.add(x);
    for (const n of idx.consumers.get(x) ?? []) {
      if (!within.has(n)) continue;
      if (ATTENTION_OPS.has(n.opType)) return true;
      for (const o of n.output) if (o) stack.push(o);
    }
  }
  return false;
}
