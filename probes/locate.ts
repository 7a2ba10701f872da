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
import type { ModelProto, NodeProto } from "onnx-buf";
import { LocateError } from "./errors.js";
import { attr, indexGraph, type GraphIndex } from "../onnx/io.js";
import { toInts } from "../onnx/tensor.js";
import { LAYER_POINTS, point, type LayerPointKind, type ProbePoint } from "./points.js";
import { RESHAPES, SKIP_NORMS, between, computes, dominatorChain, valueFlow, type Flow } from "./dataflow.js";
import { inputsOf, type ExtraInput } from "./locate/inputs.js";
import { describeBlock, readBlock, type Block } from "./locate/stream.js";
import {
  activationOf,
  constantOf,
  findEmbedding,
  findFinalNorm,
  initDims,
  onWeight,
  through,
  unembeddingWeight,
  type FinalNorm,
  type WeightRef,
} from "./locate/weights.js";

export type { ExtraInput, FinalNorm, WeightRef };

/** Where a probe point's value comes from: a graph tensor, or a difference of two (a branch a fused norm never materialises). */
export type PointSource = { tensor: string } | { minus: [ProbePoint, ProbePoint] };

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
  /** Where the last position's logits are those of the last row of the lm_head's input. */
  rowWiseHead?: RowWiseHead;
}

/**
 * The lm_head's input and its readers (by first output), where each position's logits depend on that position's row
 * of it alone; and, where no bias or scale is added on the way, the tensor holding input · W_U.
 */
export interface RowWiseHead {
  input: string;
  readers: string[];
  product?: string;
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
    rowWiseHead: rowWiseHead(idx, flow, lmHead),
  };
}

/** Element-wise ops: with constants that broadcast along a row, position t's output is a function of its row alone. */
const ROW_WISE = new Set(["Add", "Sub", "Mul", "Div", "Tanh", "Cast", "Identity", "Relu", "Sigmoid"]);

/**
 * The lm_head's input and the nodes reading it, where each position's logits are a function of that position's
 * row of it alone: every node from there to the logits is element-wise with constants of one row ([vocab], a
 * scalar), a matmul on a weight, or one of the row-keeping steps of a weight held as planes and offsets
 * (onnx/nbits.ts: a Reshape keeping the leading dims, a sum over the last axis, the offsets' Einsum). A dynamic
 * quantisation (one scale for all positions), a reshape that counts positions or another path into the logits says no.
 */
function rowWiseHead(idx: GraphIndex, flow: Flow, head: NodeProto): Located["rowWiseHead"] {
  const input = head.input[0];
  const made = idx.producer.get(input);
  // The stream is [batch, seq, d]; a flattening Reshape before the lm_head leaves its rank unknown here.
  const rank = made && !RESHAPES.has(made.opType) ? 3 : undefined;
  const fromInput = new Set([input]);
  const oneRow = (name: string) => {
    const c = constantOf(idx, name);
    return !!c && c.dims.slice(0, -1).every((d) => Number(d) === 1);
  };
  const ints = (name: string | undefined) => {
    const c = name ? constantOf(idx, name) : undefined;
    return c ? Array.from(toInts(c, "")) : undefined;
  };
  const keepsRows = (n: NodeProto): boolean => {
    // Either operand of an element-wise op (bias + x as well as x + bias); the first of any other.
    if (ROW_WISE.has(n.opType))
      return n.input.some((i) => fromInput.has(i)) && n.input.every((i) => fromInput.has(i) || oneRow(i));
    const [x, ...rest] = n.input;
    if (!fromInput.has(x)) return false;
    if (onWeight(idx, n)) return true;
    if (n.opType === "Reshape") {
      const shape = ints(n.input[1]);
      return !!shape && rank !== undefined && shape.slice(0, rank - 1).every((v) => v === 0) && !shape.includes(-1);
    }
    if (n.opType === "ReduceSum") {
      const axes = ints(n.input[1]) ?? n.attribute.find((a) => a.name === "axes")?.ints.map(Number);
      return !!axes && axes.length === 1 && axes[0] === -1;
    }
    if (n.opType === "Einsum") {
      const eq = n.attribute.find((a) => a.name === "equation")?.s;
      const m = eq && /^(\w*)\w,(\w+)->(\w*)$/.exec(new TextDecoder().decode(eq));
      return (
        !!m && !!constantOf(idx, rest[0] ?? "") && m[3].startsWith(m[1]) && ![...m[1]].some((c) => m[2].includes(c))
      );
    }
    return false;
  };
  const readers = (idx.consumers.get(input) ?? []).filter((n) => flow.order.has(n));
  const after = flow.nodes.filter((n) => flow.order.get(n)! >= Math.min(...readers.map((r) => flow.order.get(r)!)));
  // The product input · W_U: the first tensor every reader reaches (a lone matmul's output; a weight held as planes
  // and offsets, their sum), where no bias is added on the way.
  const reach = new Map<string, { readers: Set<NodeProto>; multiplied: boolean }>();
  let product: string | undefined;
  for (const n of after) {
    if (!keepsRows(n)) return undefined;
    const ins = n.input.flatMap((i) => reach.get(i) ?? []);
    const from = new Set(ins.flatMap((r) => [...r.readers]));
    if (readers.includes(n)) from.add(n);
    const multiplied = onWeight(idx, n) || ins.some((r) => r.multiplied);
    n.output.forEach((o) => {
      fromInput.add(o);
      reach.set(o, { readers: from, multiplied });
    });
    if (product === undefined && multiplied && from.size === readers.length)
      product = biasFree(n) && readers.every(biasFree) ? n.output[0] : "";
  }
  return { input, readers: readers.map((n) => n.output[0]), ...(product && { product }) };
}

/**
 * Whether a node adds nothing but its product, in float32 as the lens would take it: no Gemm C, no MatMulNBits bias,
 * no scaling, and no activations quantised (MatMulNBits' accuracy level 4, the GenAI builder's int4: the lens's own
 * product keeps them float32, 5e-3 apart on its int4 Qwen3).
 */
function biasFree(n: NodeProto): boolean {
  if (n.opType === "Gemm") return !n.input[2] && (attr(n, "alpha") ?? 1) === 1 && !attr(n, "transA");
  if (n.opType === "MatMulNBits") return !n.input[5] && (attr(n, "accuracy_level") ?? 0) <= 1;
  return true;
}
