/**
 * What a graph does with 16-bit weights it widens on each run (onnx/graph.ts, castPerRun: a bf16 or fp16
 * checkpoint's matrices), said in the result, and what it costs the logits: one prompt through the graph
 * as it is and through the float32 forward of the same weights (the same graph with its casts folded at
 * load, as ONNX Runtime folds a constant Cast), where that float32 form fits in memory. Where it does not,
 * the result says why and what bounds the difference: the widening is exact, so only MatMul's summation
 * order differs, float32 rounding.
 */
import os from "node:os";
import type { ModelProto, TensorProto } from "onnx-buf";
import { DT, perRunZeros } from "../onnx/graph.js";
import { attr, indexGraph } from "../onnx/io.js";
import { dimsOf, numel } from "../onnx/tensor.js";

export interface WeightForm {
  /** "bf16 weights kept at 16 bits (…), cast to float32 per operation". */
  form: string;
  /** max |logit − float32's| over the prompt, alone and over max |logit|; or why it was not measured. */
  logitError: { maxAbs: number; relative: number; tokens: number; against: string } | { unmeasured: string };
}

/** The initializers widened per run, and the zeros initializer each one's Reshape is to be folded with. */
function perRun(proto: ModelProto): { weights: TensorProto[]; reshapes: Map<string, string> } {
  const idx = indexGraph(proto.graph!);
  const weights: TensorProto[] = [];
  const reshapes = new Map<string, string>();
  for (const n of proto.graph!.node) {
    const zeros = perRunZeros(idx.producer, n);
    const w = idx.initializer.get(n.input[0]);
    if (!zeros || !w) continue;
    weights.push(w);
    reshapes.set(n.name || n.output[0], zeros);
  }
  return { weights, reshapes };
}

/**
 * The 16-bit initializers a float32 graph widens: those cast per run, and tables whose gathered rows are cast
 * (a 16-bit checkpoint's embedding), by name.
 */
export function widenedWeights(proto: ModelProto): Map<string, TensorProto> {
  const idx = indexGraph(proto.graph!);
  const out = new Map(perRun(proto).weights.map((t) => [t.name, t]));
  for (const n of proto.graph!.node) {
    const t = n.opType === "Gather" ? idx.initializer.get(n.input[0]) : undefined;
    if (!t || (t.dataType !== DT.BFLOAT16 && t.dataType !== DT.FLOAT16)) continue;
    const readers = idx.consumers.get(n.output[0]) ?? [];
    if (readers.length && readers.every((r) => r.opType === "Cast")) out.set(t.name, t);
  }
  return out;
}

/** The same graph with its per-run casts constant: ONNX Runtime folds them at load, to float32 initializers. */
export function foldCasts(proto: ModelProto): ModelProto {
  const { reshapes } = perRun(proto);
  const graph = proto.graph!;
  const node = graph.node.map((n) => {
    const zeros = n.opType === "Reshape" ? reshapes.get(n.name || n.output[0]) : undefined;
    return zeros ? { ...n, input: [n.input[0], zeros] } : n;
  });
  return { ...proto, graph: { ...graph, node } };
}

const GB = 1e9;

/**
 * What the graph's weights are, where it widens any per run; undefined for a graph that does not.
 * `firstPrompt` runs the first prompt through a graph and returns its logits.
 */
export async function weightForm(
  proto: ModelProto,
  firstPrompt: (graph: ModelProto) => Promise<{ logits: Float32Array; tokens: number }>,
  freeBytes: number = os.freemem(),
): Promise<WeightForm | undefined> {
  const { weights } = perRun(proto);
  if (!weights.length) return undefined;
  const kept = [...widenedWeights(proto).values()];
  const types = [...new Set(kept.map((t) => (t.dataType === DT.BFLOAT16 ? "bf16" : "fp16")))].join(" and ");
  const bytes = 2 * kept.reduce((n, t) => n + numel(dimsOf(t)), 0);
  const form = `${types} weights kept at 16 bits (${kept.length} matrices, ${(bytes / GB).toFixed(2)} GB), cast to float32 per operation`;
  // What the float32 form folds: the per-run matrices (a gathered table stays as it is).
  const elements = weights.reduce((n, t) => n + numel(dimsOf(t)), 0);
  // Folded and prepacked, the float32 form holds its weights twice at load (measured: a 256 MB float32 weight took
  // 520 MB at the peak), beside the 16-bit file's mapped pages.
  const need = 2 * 4 * elements + bytes;
  if (need > 0.9 * freeBytes)
    return {
      form,
      logitError: {
        unmeasured:
          `the float32 forward of the same weights would need ${(need / GB).toFixed(1)} GB to load (${((4 * elements) / GB).toFixed(1)} GB ` +
          `of float32 weights, folded and then prepacked) and ${(freeBytes / GB).toFixed(1)} GB are free; the widening is exact, ` +
          "so the logits differ from it only by float32 summation order in MatMul: float32 rounding, which grows with depth as " +
          "float32's own error does (measured: 2.4e-6 on outputs of 6 for one 4096 × 14336 weight, as far as float32 itself is from " +
          "float64; 1.8e-6 of the largest logit for two layers of Mistral-7B's widths)",
      },
    };
  // The model is already probed: a comparison that cannot run, or gives no finite number, is said, never an error.
  let ours, ref;
  try {
    ours = await firstPrompt(proto);
    ref = await firstPrompt(foldCasts(proto));
  } catch (e) {
    return { form, logitError: { unmeasured: `the float32 forward could not run: ${(e as Error).message}` } };
  }
  let maxAbs = 0,
    scale = 0;
  for (let i = 0; i < ref.logits.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ours.logits[i] - ref.logits[i]));
    scale = Math.max(scale, Math.abs(ref.logits[i]));
  }
  if (!Number.isFinite(maxAbs) || !Number.isFinite(scale))
    return { form, logitError: { unmeasured: "the logits of one of the two forwards are not all finite numbers" } };
  return {
    form,
    logitError: {
      maxAbs,
      relative: scale > 0 ? maxAbs / scale : 0,
      tokens: ref.tokens,
      against: "the float32 forward of the same weights (the casts folded at load), on the first prompt",
    },
  };
}

const FLOATS: Partial<Record<number, string>> = {
  [DT.FLOAT]: "float32",
  [DT.FLOAT16]: "float16",
  [DT.BFLOAT16]: "bf16",
};

/**
 * How a model's weights run, in a line for the report: the converter's own account where it left one in config.json
 * (`probespec.weights`: a GGUF's block formats kept as codes), the 16-bit matrices a graph widens per run where
 * `sixteen` says so, else what the graph's matrices are: n-bit MatMulNBits codes, float16, bf16, float32.
 */
export function weightsAsRun(proto: ModelProto, config: Record<string, unknown>, sixteen?: WeightForm): string {
  const said = (config.probespec as { weights?: unknown } | undefined)?.weights;
  if (typeof said === "string") return said;
  if (sixteen) return sixteen.form;
  const graph = proto.graph!;
  const nbits = graph.node.filter((n) => n.opType === "MatMulNBits");
  const counts = new Map<string, number>();
  for (const t of graph.initializer) {
    const type = FLOATS[t.dataType];
    if (type && dimsOf(t).length >= 2) counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  const floats = [...counts].sort((a, b) => b[1] - a[1]);
  if (!nbits.length)
    return floats.length === 1 ? floats[0][0] : floats.map(([t, n]) => `${n} ${t}`).join(", ") || "float32";
  const bits = [...new Set(nbits.map((n) => attr(n, "bits") ?? 4))].join(" and ");
  return `${nbits.length} matrices as ${bits}-bit codes (MatMulNBits)${floats.length ? `; the rest ${floats.map(([t]) => t).join(", ")}` : ""}`;
}
