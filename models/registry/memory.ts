/**
 * What a probing session will hold, for selection: not a flat margin on the files, but the parts ONNX
 * Runtime 1.30 was measured to keep (CPU provider; DESIGN.md, "What ONNX Runtime 1.30 does here"):
 *
 * - the weights read as stored: 16-bit ones, embeddings, norms, MatMulNBits' scales. External data is
 *   mapped from the file, and every page a run reads is resident while it runs;
 * - prepacking's copies in anonymous memory, in place of their originals (ORT unmaps those): 1.00× a
 *   float32 MatMul weight, 0.94× a 4-bit MatMulNBits one; a float32 weight the graph transposes (a tied
 *   lm_head) is folded at load and prepacked, 2× beside the table itself;
 * - transient float32 copies of 16-bit weights widened per run (onnx/graph.ts, castPerRun): each lives
 *   for its one MatMul, and the arena holds about two of the largest (eight 64 MB casts peaked at 135 MB
 *   over the session's own);
 * - the activations of the longest prompt: the probed points kept (layers × seq × d × 4 bytes × points),
 *   the logits (seq × vocab × 4) and, where the attention is captured, layers × heads × seq² × 4.
 */
import type { ModelProto, TensorProto } from "onnx-buf";
import { DT, perRunZeros } from "../../onnx/graph.js";
import { indexGraph } from "../../onnx/io.js";
import { dimsOf, numel } from "../../onnx/tensor.js";

/** The probe points per layer a session may keep: resid_pre, attn_out, resid_mid, mlp_in, mlp_out, resid_post. */
export const POINTS_PER_LAYER = 6;
/** 4-bit MatMulNBits' prepacked copy, per byte of its codes (measured). */
const NBITS_PREPACK = 0.94;

/** One weight: its bytes as stored, its elements, and how the graph uses it. */
export interface WeightUse {
  bytes: number;
  elements: number;
  /** matmul: a float32 MatMul's B (prepacked); nbits: MatMulNBits codes; transposed: a float32 table a MatMul reads through a Transpose (folded, then prepacked); perRun: 16-bit, widened on each run; other: read as it is. */
  use: "matmul" | "nbits" | "transposed" | "perRun" | "other";
}

export interface ModelShape {
  layers: number;
  d: number;
  heads: number;
  vocab: number;
}

export interface Probing {
  /** The longest prompt, in tokens (a bound is fine). */
  seq: number;
  /** Probe points kept per layer; POINTS_PER_LAYER by default. */
  points?: number;
  /** Whether the attention probabilities are captured. */
  attention: boolean;
}

/** Bytes, part by part, and their sum. */
export interface SessionMemory {
  weights: number;
  prepacked: number;
  transient: number;
  activations: number;
  total: number;
}

export function sessionMemory(
  weights: readonly WeightUse[],
  shape: ModelShape | undefined,
  probing: Probing,
): SessionMemory {
  let stored = 0,
    prepacked = 0;
  const casts: number[] = [];
  for (const w of weights) {
    // A prepacked weight is held once, as its copy: ORT lets the mapped original go after packing it (a 7B
    // Q4_0 session: 3.59 GB anonymous, 0.07 GB of file pages, after load).
    if (w.use === "matmul") prepacked += w.bytes;
    else if (w.use === "nbits") prepacked += NBITS_PREPACK * w.bytes;
    else stored += w.bytes;
    if (w.use === "transposed") prepacked += 2 * w.bytes;
    else if (w.use === "perRun") casts.push(4 * w.elements);
  }
  const [first = 0, second = 0] = casts.sort((a, b) => b - a);
  const activations = shape ? activationBytes(shape, probing) : 0;
  const transient = first + second;
  return { weights: stored, prepacked, transient, activations, total: stored + prepacked + transient + activations };
}

/** The longest prompt's activations a session keeps: probed points, logits, attention if captured. */
export function activationBytes({ layers, d, heads, vocab }: ModelShape, p: Probing): number {
  const points = layers * p.seq * d * 4 * (p.points ?? POINTS_PER_LAYER);
  const logits = p.seq * vocab * 4;
  const attention = p.attention ? layers * heads * p.seq * p.seq * 4 : 0;
  return points + logits + attention;
}

/** How a graph uses each weight initializer: by its consumers. */
export function graphWeights(proto: ModelProto): WeightUse[] {
  const g = proto.graph!;
  const idx = indexGraph(g);
  const FLOATS = [DT.FLOAT, DT.FLOAT16, DT.BFLOAT16, DT.UINT8, DT.INT8];
  return g.initializer
    .filter((t) => FLOATS.includes(t.dataType))
    .map((t) => ({ bytes: storedBytes(t), elements: numel(dimsOf(t)), use: useOf(t) }));
  function useOf(t: TensorProto): WeightUse["use"] {
    const readers = idx.consumers.get(t.name) ?? [];
    for (const n of readers) {
      if (n.opType === "MatMulNBits" && n.input[1] === t.name) return "nbits";
      if (n.input[0] === t.name && perRunZeros(idx.producer, n)) return "perRun";
      if (t.dataType !== DT.FLOAT) continue;
      if ((n.opType === "MatMul" || n.opType === "Gemm") && n.input[1] === t.name) return "matmul";
      if (n.opType === "Transpose" && (idx.consumers.get(n.output[0]) ?? []).some((m) => m.opType === "MatMul"))
        return "transposed";
    }
    return "other";
  }
}

function storedBytes(t: TensorProto): number {
  const per = t.dataType === DT.FLOAT ? 4 : t.dataType === DT.UINT8 || t.dataType === DT.INT8 ? 1 : 2;
  return per * numel(dimsOf(t));
}

/** A model's shape from config.json, where it names one (transformers' keys, GPT-2's and llama2.c-style ones). */
export function shapeOf(config: Record<string, unknown>): ModelShape | undefined {
  const num = (...keys: string[]) => keys.map((k) => config[k]).find((v): v is number => typeof v === "number");
  const layers = num("num_hidden_layers", "n_layer", "num_layers"),
    d = num("hidden_size", "n_embd", "d_model"),
    heads = num("num_attention_heads", "n_head"),
    vocab = num("vocab_size");
  return layers && d && heads && vocab ? { layers, d, heads, vocab } : undefined;
}

/** A bound on a prompt's tokens: byte-level BPE and SentencePiece with byte fallback never make more than its UTF-8 bytes, plus BOS and EOS. */
export const tokenBound = (prompt: string) => Buffer.byteLength(prompt, "utf8") + 2;

export const describeMemory = (m: SessionMemory) =>
  `${gb(m.weights)} GB of weights read as stored, ${gb(m.prepacked)} GB of ONNX Runtime's prepacked copies, ${gb(m.transient)} GB of per-run float32 casts and ${gb(m.activations)} GB of activations`;

const gb = (b: number) => (b / 1e9).toFixed(1);
