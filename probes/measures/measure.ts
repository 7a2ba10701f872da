/**
 * What a measure is. A measure names the probe points it reads, reduces each
 * prompt's tensors to a value (in float64, while they are in memory: nothing
 * is kept past its prompt), aggregates those values over the prompt set, and
 * says how it is drawn. Weight measures read the readout matrices instead of
 * prompts. One file a measure in this folder; `registry.ts` finds them.
 */
import { frobenius } from "../metrics.js";
import type { LayerPointKind, ProbePoint } from "../points.js";

/** A measured value: a number, one per layer, one per layer and position, or named statistics. */
export type Value = number | number[] | number[][] | Record<string, number>;

/** The shape of the model being probed. */
export interface ModelShape {
  layers: number;
  d: number;
  vocab: number;
}

/** One prompt's tensors, as a measure reads them: float32 views, valid during `reduce` only. */
export interface PromptView extends ModelShape {
  /** Tokens in the prompt. */
  seq: number;
  /** A probe point's tensor, [1, seq, d] (logits [1, seq, vocab]; pattern.L [1, heads, seq, seq]). */
  tensor(p: ProbePoint): Float32Array;
  /** The logit lens: the last position's logits read from resid_post.L through the final norm and W_U. */
  lens(layer: number): Float32Array;
}

/** The readout, for weight measures: W_U and W_U_eff (the final norm's gain folded in), [vocab, d] row-major. */
export interface Readout {
  W_U: Float32Array;
  W_U_eff: Float32Array;
  rows: number;
  cols: number;
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
  /** Every probe point the reduction reads, for a model of this shape; "lens" for the logit lens. */
  points(m: ModelShape): (ProbePoint | "lens")[];
  reduce(x: PromptView): Value;
  /** Over the prompt set; the mean (per layer, per statistic) unless a measure says otherwise. */
  aggregate?(perPrompt: Value[]): Value;
}

export interface WeightMeasure extends Common {
  weights(w: Readout): number;
}

export type Measure = PromptMeasure | WeightMeasure;

export const isWeightMeasure = (m: Measure): m is WeightMeasure => "weights" in m;

/** What a model's result holds for a measure: its value over the prompt set and per prompt, or why it has none. */
export type MeasureResult = { unit: string; value: Value; perPrompt?: Value[] } | { unit: string; unavailable: string };

/** Every layer's point of one kind: the usual `points`. */
export const everyLayer =
  (...kinds: LayerPointKind[]) =>
  (m: ModelShape): ProbePoint[] =>
    Array.from({ length: m.layers }, (_, L) => kinds.map((k) => `${k}.${L}` as ProbePoint)).flat();

/** The mean over prompts, element by element (per layer, per statistic). */
export function meanValue(values: Value[]): Value {
  const n = values.length;
  const first = values[0];
  if (typeof first === "number") return (values as number[]).reduce((a, b) => a + b, 0) / n;
  if (Array.isArray(first))
    return first.map((_, i) => meanValue(values.map((v) => (v as Value[])[i] as Value))) as Value;
  return Object.fromEntries(
    Object.keys(first).map((k) => [k, meanValue(values.map((v) => (v as Record<string, number>)[k]))]),
  ) as Value;
}

/** ‖a.L‖ / ‖b.L‖ at every layer, over the whole tensor, or from position `from` on. */
export const normRatio = (x: PromptView, a: LayerPointKind, b: LayerPointKind, from = 0): number[] =>
  Array.from(
    { length: x.layers },
    (_, L) =>
      frobenius(x.tensor(`${a}.${L}`).subarray(from * x.d)) / frobenius(x.tensor(`${b}.${L}`).subarray(from * x.d)),
  );

/** The last position's logits. */
export const lastLogits = (x: PromptView) => x.tensor("logits").subarray((x.seq - 1) * x.vocab);
