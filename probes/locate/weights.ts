/**
 * The weights the locator finds by dataflow: the token embedding W_E (a Gather,
 * a Gather on a tied lm_head's Transpose, quantize_dynamic's DequantizeLinear,
 * GatherBlockQuantized, ORT's EmbedLayerNormalization), the lm_head's W_U read as
 * [vocab, d] whatever the storage, and the final norm between them.
 */
import type { ModelProto, NodeProto, TensorProto } from "onnx-buf";
import { LocateError } from "../errors.js";
import { DT, attr, type GraphIndex } from "../../onnx/io.js";
import { perRunZeros } from "../../onnx/graph.js";
import { dimsOf, toFloat32 } from "../../onnx/tensor.js";
import { MATMUL_OPS, RESHAPES, SKIP_NORMS } from "../dataflow.js";

const NORM_OPS = new Set(["SimplifiedLayerNormalization", "LayerNormalization", "RMSNormalization", ...SKIP_NORMS]);

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
  /** Where 4-bit planes on these scales are summed (onnx/nbits.ts): each plane and its factor, `initializer` first. */
  planes?: { initializer: string; factor: number }[];
  /** And the per-block offsets added to them: [N, blocks], or [blocks, N] (offsetsT). */
  offsets?: string;
  offsetsT?: string;
  zeroPoints?: string;
  K?: number;
  N?: number;
  blockSize?: number;
}

/** A constant input: an initializer, or the value of a Constant node (the TorchScript exporter emits both). */
export function constantOf(idx: GraphIndex, name: string): TensorProto | undefined {
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
export function through(idx: GraphIndex, name: string, ops: readonly string[]): string {
  const p = idx.producer.get(name);
  return p && ops.includes(p.opType) ? through(idx, p.input[0], ops) : name;
}

/**
 * The initializer a matmul's weight input reads: itself, or widened to float32 by a Cast, directly or
 * through the Reshape that defers it to each run (onnx/graph.ts, castPerRun: a 16-bit checkpoint's weights).
 */
export function weightInit(idx: GraphIndex, name: string): string | undefined {
  if (idx.initializer.has(name)) return name;
  const cast = idx.producer.get(name);
  if (cast?.opType !== "Cast" || attr(cast, "to") !== DT.FLOAT) return undefined;
  // Only castPerRun's Reshape, which keeps the weight's shape: another would change the dims W is read with.
  const r = idx.producer.get(cast.input[0]);
  const w = r && perRunZeros(idx.producer, r) ? r.input[0] : cast.input[0];
  return idx.initializer.has(w) ? w : undefined;
}

export function initDims(idx: GraphIndex, name: string): number[] | undefined {
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

export function findEmbedding(
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
      const sum = planeSum(idx, n, idsInput);
      return { node: sum?.node ?? n, W_E: { ...nbits(n, q, K, N), ...sum?.weight } };
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
    const readers = idx.consumers.get(n.output[0]) ?? [];
    const dq = readers.find((c) => c.opType === "DequantizeLinear");
    if (dq && idx.initializer.get(W_E.initializer)?.dataType !== 1) {
      return { node: dq, W_E: { ...W_E, dequantize: { scale: dq.input[1], zeroPoint: dq.input[2] || undefined } } };
    }
    // A 16-bit table gathered as it is and then widened (a 16-bit checkpoint's): the embedding is the float32 rows.
    if (readers.length === 1 && readers[0].opType === "Cast" && attr(readers[0], "to") === DT.FLOAT)
      return { node: readers[0], W_E };
    return { node: n, W_E };
  }
  throw new LocateError(
    modelId,
    "found no token embedding: no Gather of a [vocab, d] initializer by the input ids, and no EmbedLayerNormalization",
  );
}

/** The activation a matmul reads: through a DynamicQuantizeLinear to the float tensor it quantises. */
export function activationOf(idx: GraphIndex, x: string): string {
  const q = idx.producer.get(x);
  return q?.opType === "DynamicQuantizeLinear" ? q.input[0] : x;
}

/** The lm_head's weight, read as [vocab, d] whatever the storage. */
export function unembeddingWeight(
  idx: GraphIndex,
  node: NodeProto,
  W_E: string,
  modelId?: string,
): { W_U: WeightRef; tiedInGraph?: string } {
  const b = node.input[1];
  if (node.opType === "MatMulNBits") {
    const sum = planeSum(idx, node);
    const W_U = { ...nbits(node, b, attr(node, "K"), attr(node, "N")), ...sum?.weight };
    return {
      W_U,
      tiedInGraph: W_U.initializer === W_E ? "the embedding gathers from W_U's own int4 blocks" : undefined,
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
  const w = weightInit(idx, b);
  if (w) {
    return {
      W_U: { initializer: w, layout: transB ? "vocab_d" : "d_vocab" },
      tiedInGraph: w === W_E ? "W_U is the embedding initializer itself" : undefined,
    };
  }
  const t = idx.producer.get(b);
  const wt = t?.opType === "Transpose" ? weightInit(idx, t.input[0]) : undefined;
  if (wt) {
    return {
      W_U: { initializer: wt, layout: transB ? "d_vocab" : "vocab_d" },
      tiedInGraph: wt === W_E ? "W_U is a Transpose of the embedding" : undefined,
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

/**
 * The sum a 4-bit plane enters where a weight is held as several (onnx/nbits.ts): an Add tree ending in an
 * Identity whose every leaf is a plane on the same scales (MatMulNBits, or GatherBlockQuantized by the ids),
 * perhaps times a constant, or the per-block offsets: an Einsum with an [N, blocks] or [blocks, N] initializer, or a Gather of
 * one by the ids, spread over the blocks. Anything else there, and the plane is read alone, as before.
 */
function planeSum(
  idx: GraphIndex,
  plane: NodeProto,
  ids?: string,
): { node: NodeProto; weight: Pick<WeightRef, "initializer" | "planes" | "offsets" | "offsetsT"> } | undefined {
  const sole = (t: string) => {
    const c = idx.consumers.get(t) ?? [];
    return c.length === 1 ? c[0] : undefined;
  };
  const scalarOf = (name: string) => {
    const t = constantOf(idx, name);
    return t && dimsOf(t).reduce((a, b) => a * b, 1) === 1 && t.dataType === DT.FLOAT ? toFloat32(t, "")[0] : undefined;
  };
  let top = sole(plane.output[0]);
  if (top?.opType === "Mul") top = sole(top.output[0]);
  if (top?.opType !== "Add") return undefined;
  for (let up = sole(top.output[0]); up?.opType === "Add"; up = sole(up.output[0])) top = up;
  const end = sole(top.output[0]);
  if (end?.opType !== "Identity") return undefined;
  const planes: { initializer: string; factor: number }[] = [];
  let offsets: string | undefined, offsetsT: string | undefined;
  const blocks =
    plane.opType === "MatMulNBits" ? Number(attr(plane, "K")) / Number(attr(plane, "block_size")) : undefined;
  const asPlane = (n: NodeProto | undefined, factor: number) => {
    // The same scales, and the same x (MatMulNBits) or ids (GatherBlockQuantized).
    const read = plane.opType === "MatMulNBits" ? 0 : 1;
    if (n?.opType !== plane.opType || n.input[2] !== plane.input[2] || n.input[read] !== plane.input[read])
      return false;
    const B = plane.opType === "MatMulNBits" ? n.input[1] : through(idx, n.input[0], ["Reshape", "Identity"]);
    if (!idx.initializer.has(B)) return false;
    planes.push({ initializer: B, factor });
    return true;
  };
  const asOffsets = (n: NodeProto | undefined) => {
    if (offsets !== undefined || offsetsT !== undefined || !n) return false;
    if (n.opType === "Einsum" && ids === undefined) {
      // Its equation says which way round the offsets are: "…,nk->…" ([N, blocks]) or "…,kn->…".
      const eq = n.attribute.find((a) => a.name === "equation")?.s;
      const w = eq && new TextDecoder().decode(eq).replace(/\s/g, "").split("->")[0].split(",")[1];
      const dims = initDims(idx, n.input[1]);
      const N = Number(attr(plane, "N"));
      if (w === "nk" && dims?.join() === [N, blocks].join()) offsets = n.input[1];
      else if (w === "kn" && dims?.join() === [blocks, N].join()) offsetsT = n.input[1];
      return offsets !== undefined || offsetsT !== undefined;
    }
    const g = idx.producer.get(through(idx, n.output[0], ["Reshape", "Expand", "Unsqueeze"]));
    if (ids === undefined || g?.opType !== "Gather" || g.input[1] !== ids || initDims(idx, g.input[0])?.length !== 2)
      return false;
    offsets = g.input[0];
    return true;
  };
  const leaves = [top];
  while (leaves.length) {
    const add = leaves.pop()!;
    for (const t of add.input) {
      const n = idx.producer.get(t);
      if (n?.opType === "Add") leaves.push(n);
      else if (asPlane(n, 1) || asOffsets(n)) continue;
      else if (n?.opType !== "Mul") return undefined;
      else {
        const factor = scalarOf(n.input[1]);
        if (factor === undefined || !asPlane(idx.producer.get(n.input[0]), factor)) return undefined;
      }
    }
  }
  planes.sort((a, b) => a.factor - b.factor);
  return { node: end, weight: { initializer: planes[0].initializer, planes, offsets, offsetsT } };
}

/** A matmul on a weight (an initializer, or a Transpose of one, either perhaps widened: weightInit), not on two activations. */
export function onWeight(idx: GraphIndex, n: NodeProto): boolean {
  const b = n.input[1];
  if (!MATMUL_OPS.has(n.opType) || !b) return false;
  const t = idx.producer.get(b);
  return !!weightInit(idx, b) || (t?.opType === "Transpose" && !!weightInit(idx, t.input[0]));
}

/** The final norm between the last residual tensor and the lm_head input. */
export function findFinalNorm(idx: GraphIndex, lnFinal: string, modelId?: string): FinalNorm {
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
