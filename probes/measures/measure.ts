/**
 * What a measure is. A measure names the probe points it reads and how each is
 * reduced inside the graph, where the tensor lives (a sum of squares per position,
 * the last position's row, an attention row's entropy…): only those small tensors
 * come back from the device. It finishes each prompt's value in float64, aggregates
 * the values over the prompt set, and says how it is drawn. Weight measures read the
 * readout matrices (reduced by ONNX Runtime too) instead of prompts. One file a measure in this folder;
 * `registry.ts` finds them.
 */
import { residualStreamStats, type MatrixStats } from "../metrics.js";
import type { Intervention } from "../intervene.js";
import type { LayerPointKind, ProbePoint } from "../points.js";

/** A measured value: a number, one per layer, one per layer and position, or named values (statistics). */
export type Value = number | number[] | number[][] | { [name: string]: Value };

/** The shape of the model being probed. */
export interface ModelShape {
  layers: number;
  d: number;
  vocab: number;
}

/**
 * How a probe point is read, reduced inside the graph (probes/probed-graph.ts), so that a pass returns
 * O(layers × positions) numbers, not O(layers × positions × d) or O(heads × positions²):
 * - `sumsq`: each position's sum of squares, [seq], in float64 (float32 partial sums over chunks of
 *   at most 64 elements, finished in float64: within 4e-7 of an exact sum where a plain float32 one
 *   is off by 3e-6);
 * - `last`: the last position's row, [width] (the logits' is [vocab]);
 * - `first_key`: attention probabilities on key 0, [heads, seq] (pattern points only);
 * - `row_entropy`: each attention row's entropy −Σ p ln p in nats, [heads, seq] (pattern points only);
 * - `whole`: the whole tensor, [seq, width] ([heads, seq, seq] for a pattern), for a measure that truly needs it.
 */
export const REDUCTIONS = ["sumsq", "last", "first_key", "row_entropy", "whole"] as const;
export type Reduction = (typeof REDUCTIONS)[number];

/** A probe point as a measure reads it. */
export interface Read {
  point: ProbePoint;
  as: Reduction;
}

/** One prompt's reduced tensors, as a measure reads them: valid during `reduce` only. */
export interface PromptView extends ModelShape {
  /** Tokens in the prompt. */
  seq: number;
  /** A point's reduction, as its measure's points() declared it. */
  read(p: ProbePoint, as: "sumsq"): Float64Array;
  read(p: ProbePoint, as: Exclude<Reduction, "sumsq">): Float32Array;
  /** The logit lens: the last position's logits read from resid_post.L through the final norm and W_U. */
  lens(layer: number): Float32Array;
}

/** The readout matrices, as [vocab, d]: W_E, W_U, and W_U_eff (W_U with the final norm's gain folded in). */
export type Matrix = "W_E" | "W_U" | "W_U_eff";

/**
 * What a weight measure reads of the matrices: reductions ONNX Runtime runs over them
 * (probes/matrix-graphs.ts), each computed once per model whichever measures ask.
 */
export interface WeightView extends ModelShape {
  /** The notebook's 12 statistics: row norms, |w| moments, the spectral norm by Lanczos. */
  stats(m: Matrix): Promise<MatrixStats>;
  /** The softmax-relevant gain (metrics.softmaxGain): mean row removed, RMS over rows. */
  softmaxGain(m: Matrix): Promise<number>;
}

/**
 * How the report draws a measure: per layer (a line per model), per model (a bar),
 * per layer and position on the first prompt (a heatmap per model), or a table.
 */
export interface Drawing {
  kind: "layers" | "models" | "positions" | "table";
  title: string;
  caption: string;
  /** A log scale on the value axis. */
  log?: boolean;
  /** A reference line at this value. */
  rule?: number;
}

interface Common {
  /** Dotted, from the field: "resid.gain", "logits.entropy". */
  name: string;
  description: string;
  unit: string;
  figure?: Drawing;
}

export interface PromptMeasure extends Common {
  /** Every probe point it reads and how each is reduced in the graph, for a model of this shape; "lens" for the logit lens. */
  points(m: ModelShape): (Read | "lens")[];
  reduce(x: PromptView): Value;
  /**
   * The intervention its reads are taken under (probes/intervene.ts), in a pass of its own through the same
   * session; the plain pass where absent. Its points() are then read as that pass left them.
   */
  intervention?(m: ModelShape): Intervention;
  /** Over the prompt set; the mean (per layer, per statistic) unless a measure says otherwise. */
  aggregate?(perPrompt: Value[]): Value;
}

export interface WeightMeasure extends Common {
  weights(w: WeightView): Promise<Value>;
}

export type Measure = PromptMeasure | WeightMeasure;

export const isWeightMeasure = (m: Measure): m is WeightMeasure => "weights" in m;

/** What a model's result holds for a measure: its value over the prompt set and per prompt, or why it has none. */
export type MeasureResult = { unit: string; value: Value; perPrompt?: Value[] } | { unit: string; unavailable: string };

/** Every layer's points of these kinds, read the same way: the usual `points`. */
export const everyLayer =
  (as: Reduction, ...kinds: LayerPointKind[]) =>
  (m: ModelShape): Read[] =>
    Array.from({ length: m.layers }, (_, L) => kinds.map((k) => ({ point: `${k}.${L}` as ProbePoint, as }))).flat();

/** The mean over prompts, element by element (per layer, per statistic). */
export function meanValue(values: Value[]): Value {
  const n = values.length;
  const first = values[0];
  if (typeof first === "number") return (values as number[]).reduce((a, b) => a + b, 0) / n;
  if (Array.isArray(first))
    return first.map((_, i) => meanValue(values.map((v) => (v as Value[])[i] as Value))) as Value;
  return Object.fromEntries(
    Object.keys(first).map((k) => [k, meanValue(values.map((v) => (v as Record<string, Value>)[k]))]),
  ) as Value;
}

/** A point's L2 norm over the whole [seq, d] tensor, or from position `from` on, from its sums of squares. */
export const norm = (x: PromptView, p: ProbePoint, from = 0): number =>
  Math.sqrt(
    x
      .read(p, "sumsq")
      .subarray(from)
      .reduce((a, b) => a + b, 0),
  );

/** ‖a.L‖ / ‖b.L‖ at every layer, over the whole tensor, or from position `from` on. */
export const normRatio = (x: PromptView, a: LayerPointKind, b: LayerPointKind, from = 0): number[] =>
  Array.from({ length: x.layers }, (_, L) => norm(x, `${a}.${L}`, from) / norm(x, `${b}.${L}`, from));

/** The last position's logits. */
export const lastLogits = (x: PromptView) => x.read("logits", "last");

/**
 * The notebook's residual statistics of one prompt (metrics.residualStreamStats), whole tensor or from
 * position `from` on: its gains are the residual gains of layers 1 on, ‖resid_post.L‖ / ‖resid_pre.L‖,
 * since resid_pre.L is resid_post.(L−1); 0 out of a stream whose norm is 0, as the notebook had it.
 */
export const residualStats = (x: PromptView, from = 0) => {
  const norms = Array.from({ length: x.layers }, (_, L) => norm(x, `resid_post.${L}`, from));
  // The notebook's guard: a step out of a zero stream (no positions left past `from`) is 0, not 0/0.
  const gains = normRatio(x, "resid_post", "resid_pre", from)
    .slice(1)
    .map((g, L) => (norms[L] > 1e-8 ? g : 0));
  return { ...residualStreamStats(norms, gains) };
};
