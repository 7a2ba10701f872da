/**
 * Locating probe points in a real export, by dataflow alone. The residual
 * stream is what every path from the token embedding to the logits passes
 * through: the dominators of the value-flow graph. Whatever computes the sum (an
 * Add in either operand order, a chain of Adds, Sum, a fused Skip norm with the
 * residual on either input) is such a node; between two consecutive ones lies
 * one sub-block (attention or MLP) or, with a parallel residual, one block.
 * Edges that carry only shapes (Shape, Size) are not followed, and no input but
 * the ids is a source, so masks, positions and past key/values never join it.
 */
import type { ModelProto, NodeProto, TensorProto } from "onnx-buf";
import { LocateError } from "../onnx/errors.js";
import { DT, attr, indexGraph, type GraphIndex } from "../onnx/io.js";
import { LAYER_POINTS, point, type LayerPointKind, type ProbePoint } from "./points.js";
import { dimsOf, toFloat32 } from "../onnx/tensor.js";
import {
  FUSED_ATTENTION,
  MATMUL_OPS,
  SKIP_NORMS,
  attends,
  between,
  computes,
  dominatorChain,
  upstream,
  valueFlow,
} from "./dataflow.js";

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
  /** An int8/uint8 table (quantize_dynamic): (q − zero point) × scale, per tensor or per column. */
  dequantize?: { scale: string; zeroPoint?: string };
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
  inputs: { ids: string; idsType: "int64" | "int32"; idsDims: (number | string)[]; extra: ExtraInput[] };
  /** What was found, for doctor and for error messages. */
  summary: string[];
  /** Points this graph cannot provide, each with the reason: reported, never probed as NaN. */
  unavailable: { point: ProbePoint; reason: string }[];
}

/** A constant input: an initializer, or the value of a Constant node (the TorchScript exporter emits both). */
function constantOf(idx: GraphIndex, name: string): TensorProto | undefined {
  const init = idx.initializer.get(name);
  if (init) return init;
  const n = idx.producer.get(name);
  return n?.opType === "Constant" ? n.attribute.find((a) => a.name === "value")?.t : undefined;
}

/**
 * The tensor behind a name, back through ops that pass their first input on unchanged in value:
 * TorchScript shares equal initializers through Identity, the GenAI builder reshapes int4 blocks,
 * and a Dropout is the identity at inference.
 */
function through(idx: GraphIndex, name: string, ops: readonly string[]): string {
  const p = idx.producer.get(name);
  return p && ops.includes(p.opType) ? through(idx, p.input[0], ops) : name;
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
function ancestry(
  idx: GraphIndex,
  tensor: string,
  stop: string,
  limit = 4000,
): { reaches: boolean; ops: Set<string>; nodes: NodeProto[] } {
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
    if (t === stop) {
      reaches = true;
      continue;
    }
    const n = idx.producer.get(t);
    if (!n) continue;
    if (n === stopNode && (NORM_OPS.has(n.opType) || n.opType === "EmbedLayerNormalization")) {
      reaches = true;
      continue;
    }
    ops.add(n.opType);
    nodes.push(n);
    for (const i of n.input) if (i && !idx.initializer.has(i)) stack.push(i);
  }
  return { reaches, ops, nodes };
}

function findEmbedding(
  idx: GraphIndex,
  proto: ModelProto,
  idsInput: string,
  modelId?: string,
): { node: NodeProto; W_E: WeightRef } {
  const g = proto.graph!;
  // ORT's fused embedding: output 2 is the embedding sum, before its LayerNorm.
  const fused = g.node.find((n) => n.opType === "EmbedLayerNormalization");
  if (fused) return { node: fused, W_E: { initializer: fused.input[2], layout: "vocab_d" } };
  for (const n of g.node) {
    if (n.opType === "GatherBlockQuantized" && attr(n, "bits") === 4 && n.input[1] === idsInput) {
      // The GenAI builder's tied int4 embedding gathers from the lm_head's own MatMulNBits blocks.
      const q = through(idx, n.input[0], ["Reshape", "Identity"]);
      const dims = initDims(idx, q);
      if (!dims) continue;
      const N = dims[0],
        K = (dims.reduce((a, b) => a * b, 1) / N) * 2;
      return { node: n, W_E: nbits(n, q, K, N) };
    }
    if (n.opType !== "Gather") continue;
    // The table, or a Transpose of a [d, vocab] lm_head weight (the GenAI builder ties Gemma's that way).
    const t = idx.producer.get(n.input[0]);
    const W_E: WeightRef | undefined = idx.initializer.has(n.input[0])
      ? { initializer: n.input[0], layout: "vocab_d" }
      : t?.opType === "Transpose" && idx.initializer.has(t.input[0])
        ? { initializer: t.input[0], layout: "d_vocab" }
        : undefined;
    if (!W_E || initDims(idx, W_E.initializer)?.length !== 2) continue;
    const fromIds =
      n.input[1] === idsInput || ancestry(idx, n.input[1], "", 50).nodes.some((m) => m.input.includes(idsInput));
    if (!fromIds) continue;
    // quantize_dynamic stores the table as uint8 and dequantises the rows it gathers.
    const dq = (idx.consumers.get(n.output[0]) ?? []).find((c) => c.opType === "DequantizeLinear");
    if (dq && idx.initializer.get(W_E.initializer)?.dataType !== 1) {
      return { node: dq, W_E: { ...W_E, dequantize: { scale: dq.input[1], zeroPoint: dq.input[2] || undefined } } };
    }
    return { node: n, W_E };
  }
  throw new LocateError(
    modelId,
    "found no token embedding: no Gather of a [vocab, d] initializer by the input ids, and no EmbedLayerNormalization",
  );
}

/** The activation a matmul reads: through a DynamicQuantizeLinear to the float tensor it quantises. */
function activationOf(idx: GraphIndex, x: string): string {
  const q = idx.producer.get(x);
  return q?.opType === "DynamicQuantizeLinear" ? q.input[0] : x;
}

/** The lm_head's weight, read as [vocab, d] whatever the storage. */
function unembeddingWeight(
  idx: GraphIndex,
  node: NodeProto,
  W_E: string,
  modelId?: string,
): { W_U: WeightRef; tiedInGraph?: string } {
  const b = node.input[1];
  if (node.opType === "MatMulNBits") {
    return {
      W_U: nbits(node, b, attr(node, "K"), attr(node, "N")),
      tiedInGraph: b === W_E ? "the embedding gathers from W_U's own int4 blocks" : undefined,
    };
  }

  if (node.opType === "MatMulInteger" && idx.initializer.has(b)) {
    // quantize_dynamic: Mul(Cast(MatMulInteger(x_q, W_q)), Mul(x_scale, W_scale)); W_scale is the initializer there.
    const scaleMul = (idx.consumers.get(node.output[0]) ?? [])
      .flatMap((c) => idx.consumers.get(c.output[0]) ?? [])
      .find((m) => m.opType === "Mul");
    const scales = scaleMul?.input
      .map((i) => idx.producer.get(i))
      .find((m) => m?.opType === "Mul")
      ?.input.find((i) => idx.initializer.has(i));
    if (!scales)
      throw new LocateError(
        modelId,
        `the int8 lm_head "${node.name}" has no weight scale that can be read (expected quantize_dynamic's Mul by x_scale × W_scale)`,
      );
    return {
      W_U: { initializer: b, layout: "d_vocab", dequantize: { scale: scales, zeroPoint: node.input[3] || undefined } },
    };
  }
  const transB = node.opType === "Gemm" && attr(node, "transB") === 1;
  if (idx.initializer.has(b)) {
    return {
      W_U: { initializer: b, layout: transB ? "vocab_d" : "d_vocab" },
      tiedInGraph: b === W_E ? "W_U is the embedding initializer itself" : undefined,
    };
  }
  const t = idx.producer.get(b);
  if (t?.opType === "Transpose" && idx.initializer.has(t.input[0])) {
    return {
      W_U: { initializer: t.input[0], layout: transB ? "d_vocab" : "vocab_d" },
      tiedInGraph: t.input[0] === W_E ? "W_U is a Transpose of the embedding" : undefined,
    };
  }
  throw new LocateError(
    modelId,
    `the weight of the lm_head "${node.name}" (${b}) is neither an initializer nor a Transpose of one`,
  );
}

/** A weight held as MatMulNBits int4 blocks (the lm_head's, or the embedding GatherBlockQuantized reads from it). */
function nbits(node: NodeProto, initializer: string, K: number | undefined, N: number | undefined): WeightRef {
  const scales = node.input[2],
    zeroPoints = node.input[3] || undefined;
  return { initializer, layout: "matmulnbits", scales, zeroPoints, K, N, blockSize: attr(node, "block_size") };
}

/** A matmul on a weight (an initializer, or a Transpose of one), not on two activations. */
function onWeight(idx: GraphIndex, n: NodeProto): boolean {
  const b = n.input[1];
  return (
    MATMUL_OPS.has(n.opType) &&
    !!b &&
    (idx.initializer.has(b) ||
      (idx.producer.get(b)?.opType === "Transpose" && idx.initializer.has(idx.producer.get(b)!.input[0])))
  );
}

/** The final norm between the last residual tensor and the lm_head input. */
function findFinalNorm(idx: GraphIndex, lnFinal: string, modelId?: string): FinalNorm {
  let n = idx.producer.get(lnFinal);
  // GPT-2 flattens the normed stream to [batch·seq, d] before its lm_head: look through such ops.
  while (n && RESHAPES.has(n.opType)) n = idx.producer.get(n.input[0]);
  if (n && NORM_OPS.has(n.opType)) {
    const gi = SKIP_NORMS.has(n.opType) ? 2 : 1;
    const kind = n.opType.includes("Simplified") || n.opType === "RMSNormalization" ? "rms" : "layernorm";
    const bias = n.input[gi + 1];
    return {
      kind,
      eps: attr(n, "epsilon") ?? 1e-5,
      gain: through(idx, n.input[gi], ["Identity"]),
      bias: bias ? through(idx, bias, ["Identity"]) : undefined,
    };
  }
  // Decomposed: … Mul(gain, normalised) with the gain a [d] initializer; RMS if no mean is subtracted.
  if (n?.opType === "Mul" || n?.opType === "Add") {
    let mul = n,
      bias: string | undefined;
    if (n.opType === "Add") {
      bias = n.input.find((i) => idx.initializer.has(i));
      mul = idx.producer.get(n.input.find((i) => !idx.initializer.has(i))!)!;
    }
    const gain = mul?.input.find((i) => idx.initializer.has(i));
    if (gain) {
      const a = ancestry(
        idx,
        mul.input.find((i) => i !== gain)!,
        "",
        20,
      );
      const kind = a.ops.has("Sub") ? "layernorm" : "rms";
      // eps: the scalar constant added to the mean square (or variance) before the square root.
      let eps = 1e-5;
      for (const m of a.nodes.filter((x) => x.opType === "Add")) {
        // A float scalar of the model's dtype: fp16 exports add an fp16 eps.
        const t = m.input
          .map((i) => constantOf(idx, i))
          .find(
            (c) =>
              c &&
              dimsOf(c).reduce((x, y) => x * y, 1) === 1 &&
              [DT.FLOAT, DT.FLOAT16, DT.BFLOAT16, DT.DOUBLE].includes(c.dataType),
          );
        if (t) {
          eps = toFloat32(t, "")[0];
          break;
        }
      }
      return { kind, eps, gain, bias };
    }
  }
  throw new LocateError(
    modelId,
    `cannot read the final norm that produces "${lnFinal}" (${n ? `${n.opType} "${n.name}"` : "no node"})`,
  );
}

/** Every graph input but the ids, fed as its exporter expects: a mask of ones, positions 0..n-1, token types 0, an empty past. */
export interface ExtraInput {
  name: string;
  role: "mask" | "positions" | "segments" | "past";
  elemType: number;
  /** Declared dims; symbolic ones by name (batch, past length, or a size the config gives, such as kv_cache_dim). */
  dims: (number | string)[];
}

function inputsOf(proto: ModelProto, idx: GraphIndex): Located["inputs"] {
  const g = proto.graph!;
  const real = g.input.filter((i) => !idx.initializer.has(i.name));
  const ids =
    real.find((i) => i.name === "input_ids") ??
    real.find((i) => /ids/.test(i.name) && !/position|type/.test(i.name)) ??
    real[0];
  const tensorType = (i: (typeof real)[number]) =>
    i.type?.value.case === "tensorType" ? i.type.value.value : undefined;
  const extra = real
    .filter((i) => i !== ids)
    .map((i): ExtraInput => ({
      name: i.name,
      role: /mask/i.test(i.name)
        ? "mask"
        : /position|cache_position/i.test(i.name)
          ? "positions"
          : /token_type/i.test(i.name)
            ? "segments"
            : "past",
      elemType: tensorType(i)?.elemType ?? 1,
      dims: (tensorType(i)?.shape?.dim ?? []).map((d) =>
        d.value.case === "dimValue" ? Number(d.value.value) : String(d.value.value ?? ""),
      ),
    }));
  const idsDims = (tensorType(ids)?.shape?.dim ?? []).map((d) =>
    d.value.case === "dimValue" ? Number(d.value.value) : String(d.value.value ?? ""),
  );
  return { ids: ids.name, idsType: tensorType(ids)?.elemType === 6 ? "int32" : "int64", idsDims, extra };
}

export interface LocateContext {
  modelId?: string;
  /** The layer count config.json (or genai_config.json) declares. */
  declaredLayers?: number;
  /** Whether config.json declares a parallel residual, where it says. */
  declaredParallel?: boolean;
  /** Explicit tensor names from the model entry; they win over what structure finds. */
  overrides?: Partial<Record<string, string>>;
}

/** One segment of the stream that does real work: a sub-block, or a whole parallel block. */
interface Block {
  from: NodeProto;
  to: NodeProto;
  /** The branch terms summed into the stream, with whether each reads attention; undefined where a fused norm never materialises it. */
  attn?: string | null;
  mlp?: string | null;
  mlpIn?: string;
  /** The attention probabilities: a Softmax's output, or why there is none. */
  pattern?: { tensor: string } | { reason: string };
  what: string;
  /** Ops of a custom domain in the segment: probespec cannot see inside them. */
  custom: string[];
}

const SUMS = new Set(["Add", "Sum"]);

const RESHAPES = new Set(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Cast"]);

/** Reads the sum that ends a segment: which of its terms are branches, and which of them attend. */
function readBlock(idx: GraphIndex, from: NodeProto, to: NodeProto, nodes: Set<NodeProto>): Block {
  const isConst = (t: string) => idx.initializer.has(t) || idx.producer.get(t)?.opType === "Constant";
  const leaves: (string | null)[] = [];
  let constant = false;
  const expand = (inputs: string[]) => {
    for (const t of inputs) {
      if (!t) continue;
      if (isConst(t)) {
        constant = true;
        continue;
      }
      const up = upstream(idx, t, nodes);
      if (!computes(up)) continue; // the residual itself, or a pass-through of it
      const p = idx.producer.get(t)!;
      const terms = p.input.filter((i) => i && !isConst(i));
      if (nodes.has(p) && SUMS.has(p.opType) && terms.length >= 2) expand(terms);
      else leaves.push(t);
    }
  };
  if (SKIP_NORMS.has(to.opType)) {
    // A bias added inside the node means the branch proper is never materialised.
    const bias = to.input[to.opType === "SkipLayerNormalization" ? 4 : 3];
    expand([to.input[0], to.input[1]]);
    constant = !!bias;
  } else if (SUMS.has(to.opType)) {
    expand(to.input);
  }
  // A bias summed in with the branch (Sum(h, W·x, b), or a fused norm's bias input): the branch proper is never
  // materialised, and is read as the difference of the stream across the segment.
  if (constant && leaves.length === 1) leaves[0] = null;
  const custom = [
    ...new Set(
      [...nodes]
        .filter((n) => !["", "ai.onnx", "com.microsoft"].includes(n.domain))
        .map((n) => `${n.domain}:${n.opType}`),
    ),
  ];
  const block: Block = { from, to, what: `${to.opType} "${to.name}"`, custom };
  const mlpLeaves: string[] = [];
  for (const leaf of leaves) {
    const up = leaf === null ? nodes : upstream(idx, leaf, nodes);
    if (attends(up)) {
      block.attn = block.attn === undefined ? leaf : block.attn;
      block.pattern ??= patternOf(up);
    } else {
      block.mlp = block.mlp === undefined ? leaf : block.mlp;
      if (leaf) mlpLeaves.push(leaf);
    }
  }
  // The MLP's input: what its first matmuls read, before any matmul has run on the stream.
  const mlpNodes = mlpLeaves.length
    ? new Set(mlpLeaves.flatMap((l) => [...upstream(idx, l, nodes)]))
    : block.attn === undefined
      ? nodes
      : new Set<NodeProto>();
  for (const n of mlpNodes) {
    if (!onWeight(idx, n)) continue;
    const x = activationOf(idx, n.input[0]);
    if (!computes(upstream(idx, x, nodes))) {
      block.mlpIn = x;
      break;
    }
  }
  return block;
}

/** The attention probabilities among an attention branch's nodes: its one Softmax, unless a fused op hides them. */
function patternOf(nodes: Set<NodeProto>): Block["pattern"] {
  const fused = [...nodes].find((n) => FUSED_ATTENTION.has(n.opType));
  if (fused)
    return {
      reason: `attention is fused into ${fused.opType} "${fused.name}", whose probabilities are never a tensor of the graph`,
    };
  const softmax = [...nodes].filter((n) => n.opType === "Softmax");
  return softmax.length === 1
    ? { tensor: softmax[0].output[0] }
    : { reason: `the attention branch holds ${softmax.length} Softmax nodes, not one` };
}

function describeBlock(b: Block): string {
  const kind =
    b.attn !== undefined && b.mlp !== undefined
      ? "attention + MLP"
      : b.attn !== undefined
        ? "attention"
        : b.mlp !== undefined
          ? "MLP"
          : "no branch";
  const custom = b.custom.length
    ? ` (it holds the custom op${b.custom.length > 1 ? "s" : ""} ${b.custom.join(", ")}, which probespec cannot see inside; an attention op of a custom domain reads as no attention)`
    : "";
  return `${kind} summed by ${b.what}${custom}`;
}

export function locate(proto: ModelProto, ctx: LocateContext = {}): Located {
  const { modelId } = ctx;
  const g = proto.graph!;
  const idx = indexGraph(g);
  const summary: string[] = [];
  const inputs = inputsOf(proto, idx);
  const emb = findEmbedding(idx, proto, inputs.ids, modelId);
  const dims = initDims(idx, emb.W_E.initializer)!;
  const [vocab, d] =
    emb.W_E.layout === "matmulnbits"
      ? [emb.W_E.N!, emb.W_E.K!]
      : emb.W_E.layout === "vocab_d"
        ? dims
        : [dims[1], dims[0]];
  const logitsOut = g.output.find((o) => o.name === "logits") ?? g.output[0];
  const sink = idx.producer.get(logitsOut.name);
  if (!sink) throw new LocateError(modelId, `no node produces the output "${logitsOut.name}"`);
  const flow = valueFlow(idx, g.node, emb.node, sink);
  if (!flow.order.has(sink))
    throw new LocateError(
      modelId,
      `"${logitsOut.name}" does not depend on the token embedding ${emb.W_E.initializer}; is it the logits?`,
    );
  // The lm_head: the last matmul on a weight before the logits (anything after it is element-wise).
  const lmHead = [...flow.nodes].reverse().find((n) => onWeight(idx, n));
  if (!lmHead)
    throw new LocateError(modelId, `no MatMul, Gemm or MatMulNBits on a weight produces "${logitsOut.name}"`);
  const chain = dominatorChain(flow);
  const edits: Located["edits"] = [];
  // The stream's tensor at a dominator: a fused norm's sum output (made by surgery where it is left empty), else its output.
  const streamOf = (n: NodeProto): string => {
    const index = SKIP_NORMS.has(n.opType) ? 3 : n.opType === "EmbedLayerNormalization" ? 2 : 0;
    if (index === 0) return n.output[0];
    if (n.output[index]) return n.output[index];
    const name = `probespec::${n.name || n.output[0]}::sum`;
    if (!edits.some((e) => e.name === name)) edits.push({ node: n.name, index, name });
    return name;
  };
  const blocks: Block[] = [];
  const headAt = flow.order.get(lmHead)!;
  for (let i = 0; i + 1 < chain.length && flow.order.get(chain[i + 1])! < headAt; i++) {
    const nodes = between(flow, chain[i], chain[i + 1]);
    if (computes(nodes)) blocks.push(readBlock(idx, chain[i], chain[i + 1], nodes));
  }
  summary.push(
    `embedding: ${emb.W_E.initializer} [${vocab}, ${d}] → ${blocks.length ? streamOf(blocks[0].from) : streamOf(emb.node)}`,
  );
  summary.push(
    `residual stream: ${blocks.length} segments (${blocks.map((b) => (b.attn !== undefined && b.mlp !== undefined ? "p" : b.attn !== undefined ? "a" : "m")).join("")})`,
  );
  const parallel = blocks.length > 0 && blocks.every((b) => b.attn !== undefined && b.mlp !== undefined);
  const layers = parallel ? blocks.length : Math.floor(blocks.length / 2);
  const fail = (why: string) =>
    new LocateError(
      modelId,
      `${why}; found ${summary.join("; ")}. Name the tensors in the entry's "probePoints" (npm run doctor -- <id> shows what was found)`,
    );
  if (!parallel && !ctx.overrides) {
    const broken = blocks.findIndex(
      (b, i) => (b.attn !== undefined) !== (i % 2 === 0) || (b.attn !== undefined && b.mlp !== undefined),
    );
    if (broken >= 0 || blocks.length % 2) {
      const at = broken >= 0 ? broken : blocks.length;
      const found = broken >= 0 ? describeBlock(blocks[at]) : "the final norm";
      throw fail(
        `the residual stream breaks at layer ${Math.floor(at / 2)}: expected ${at % 2 === 0 ? "an attention" : "an MLP"} sub-block, found ${found}`,
      );
    }
  }
  if (ctx.declaredLayers !== undefined && layers !== ctx.declaredLayers && !ctx.overrides) {
    throw fail(`found ${layers} layers where the config declares ${ctx.declaredLayers}`);
  }
  if (ctx.declaredParallel !== undefined && blocks.length && parallel !== ctx.declaredParallel && !ctx.overrides) {
    throw fail(
      `found a ${parallel ? "parallel" : "sequential"} residual stream where the config declares a ${ctx.declaredParallel ? "parallel" : "sequential"} one`,
    );
  }
  const points = new Map<ProbePoint, PointSource>();
  // A Dropout is the identity at inference, and ONNX Runtime removes it, unless its output is exposed: then a
  // training_mode input left true (as dynamo exports of GPT-2 have it) really drops. So its input is exposed.
  const set = (p: ProbePoint, s: PointSource | undefined) =>
    s && points.set(p, "tensor" in s ? { tensor: through(idx, s.tensor, ["Dropout", "Identity"]) } : s);
  set("embed", { tensor: streamOf(blocks.length ? blocks[0].from : emb.node) });
  const branch = (b: string | null | undefined, minus: [ProbePoint, ProbePoint]): PointSource | undefined =>
    b ? { tensor: b } : b === null ? { minus } : undefined;
  const patternWhy = new Map<ProbePoint, string>();
  const pattern = (L: number, b: Block) => {
    if (b.pattern && "tensor" in b.pattern) set(point("pattern", L), b.pattern);
    else if (b.pattern) patternWhy.set(point("pattern", L), b.pattern.reason);
  };
  for (let L = 0; L < layers; L++) {
    const pre = point("resid_pre", L),
      mid = point("resid_mid", L),
      post = point("resid_post", L);
    if (parallel) {
      const b = blocks[L];
      set(pre, { tensor: streamOf(b.from) });
      set(post, { tensor: streamOf(b.to) });
      set(point("attn_out", L), branch(b.attn, [post, pre]));
      set(point("mlp_out", L), branch(b.mlp, [post, pre]));
      if (b.mlpIn) set(point("mlp_in", L), { tensor: b.mlpIn });
      pattern(L, b);
    } else {
      const [a, m] = [blocks[2 * L], blocks[2 * L + 1]];
      set(pre, { tensor: streamOf(a.from) });
      set(mid, { tensor: streamOf(a.to) });
      set(post, { tensor: streamOf(m.to) });
      set(point("attn_out", L), branch(a.attn, [mid, pre]));
      set(point("mlp_out", L), branch(m.mlp, [post, mid]));
      if (m.mlpIn) set(point("mlp_in", L), { tensor: m.mlpIn });
      pattern(L, a);
    }
  }
  const unavailable: Located["unavailable"] = [];
  const why: Partial<Record<LayerPointKind, string>> = {
    mlp_in: "no matmul of the MLP reads the normalised stream directly (its input is computed by another matmul)",
    attn_out: "the sum that ends the attention sub-block has no attention branch",
    mlp_out: "the sum that ends the MLP sub-block has no MLP branch",
  };
  for (let L = 0; L < layers; L++) {
    for (const kind of LAYER_POINTS) {
      if (kind === "resid_mid" && parallel) continue;
      const p = point(kind, L);
      if (!points.has(p))
        unavailable.push({ point: p, reason: patternWhy.get(p) ?? why[kind] ?? "not found in the graph" });
    }
  }
  const lnFinal = activationOf(idx, lmHead.input[0]);
  set("ln_final", { tensor: lnFinal });
  points.set("logits", { tensor: logitsOut.name });
  for (const [name, tensor] of Object.entries(ctx.overrides ?? {})) {
    if (tensor && !/^W_|^ln_final\.[wb]$/.test(name)) points.set(name as ProbePoint, { tensor });
  }
  const finalNorm = findFinalNorm(idx, lnFinal, modelId);
  const head = unembeddingWeight(idx, lmHead, emb.W_E.initializer, modelId);
  const W_U = ctx.overrides?.W_U ? { initializer: ctx.overrides.W_U, layout: "d_vocab" as const } : head.W_U;
  summary.push(
    `${layers} ${parallel ? "parallel" : "sequential"} layers`,
    `final norm: ${finalNorm.kind} (gain ${finalNorm.gain})`,
    `lm_head: ${lmHead.opType} "${lmHead.name}" on ${W_U.initializer} (${W_U.layout})`,
  );
  return {
    layers,
    parallel,
    d,
    vocab,
    points,
    edits,
    W_E: ctx.overrides?.W_E ? { initializer: ctx.overrides.W_E, layout: "vocab_d" } : emb.W_E,
    W_U,
    tiedInGraph: head.tiedInGraph,
    finalNorm,
    inputs,
    summary,
    unavailable: unavailable.filter((u) => !points.has(u.point)),
  };
}
