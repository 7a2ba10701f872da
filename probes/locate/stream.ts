/** The residual stream's segments: what sum ends each, which of its terms are branches, and which attend. */
import type { NodeProto } from "onnx-buf";
import type { GraphIndex } from "../../onnx/io.js";
import { FUSED_ATTENTION, SKIP_NORMS, attends, computes, upstream } from "../dataflow.js";
import { activationOf, onWeight } from "./weights.js";

/** One segment of the stream that does real work: a sub-block, or a whole parallel block. */
export interface Block {
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

/** Reads the sum that ends a segment: which of its terms are branches, and which of them attend. */
export function readBlock(idx: GraphIndex, from: NodeProto, to: NodeProto, nodes: Set<NodeProto>): Block {
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

export function describeBlock(b: Block): string {
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
