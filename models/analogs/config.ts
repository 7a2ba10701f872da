/**
 * An analog: a small, seeded, decoder-only model with one family's real
 * structure, and named knobs that plant the properties the hypotheses test.
 */
import type { KNOWN_FAMILIES } from "../registry/schema.js";
import { type Family, traitsOf } from "../writer/traits.js";
import { type ModelConfig, modelConfig, rotaryDim } from "../writer/config.js";

export { type Dialect, headDim, MAX_POSITIONS, rotaryDim } from "../writer/config.js";

/** The notebook's prompt: planted gains are calibrated on it, as the notebook measured on it. */
export const CALIBRATION_PROMPT = "The capital of France is";

/**
 * The families an analog can be built as: their own list, so that a family added to the
 * registry's entry schema (for real exports) asks nothing of the generator. Each is a known
 * entry family too, since an analog is probed through an entry, and one the writer has traits for.
 */
export const ANALOG_FAMILIES = [
  "mistral",
  "llama",
  "gemma",
  "pythia",
  "apertus",
] as const satisfies readonly ((typeof KNOWN_FAMILIES)[number] & Family)[];
export type AnalogFamily = (typeof ANALOG_FAMILIES)[number];

export interface MassiveActivation {
  /** Residual dimension that carries it. */
  dim: number;
  /** Its value in resid_post.layer at position 0. */
  magnitude: number;
  /** The layer whose MLP writes it. */
  layer: number;
  /** Fraction of it the last layer's MLP removes (0 keeps it, as real attention sinks do). */
  removedAtLast: number;
}

/**
 * An attention sink in every head of `layers`, built as a real sink is (a head whose queries share a
 * component that position 0's key alone aligns with; Xiao et al. 2023, "Efficient Streaming Language Models with
 * Attention Sinks"): two private residual dimensions that only the embedding writes, `marker` (1 for BOS, 0 for every
 * other token: position 0's) and `shared` (1 for every token). In a sink layer each key reads `marker` alone and each
 * query `shared` alone, both on the head's slowest rotary pair, so every key after position 0 is exactly 0 and the score
 * of query q on key 0 is exactly strength · cos(q ω) / (rms(x_q) rms(x_0)), x the residual entering the layer and ω the
 * pair's frequency (q ω < 0.05 rad on a 50-token prompt at head dim 8). Its values are 0: a sink head writes nothing, so
 * the sink leaves the residual stream as it was.
 */
export interface Sink {
  layers: number[];
  marker: number;
  shared: number;
  strength: number;
}

export interface Knobs {
  /** Multiplies W_U (and W_E, where they are tied). */
  wUScale: number;
  /** ‖resid_post.L-1‖ / ‖resid_pre.L-1‖ over the whole calibration-prompt tensor; unplanted when undefined. */
  lastLayerGain?: number;
  /** ‖resid_post.layer‖ / ‖resid_pre.layer‖ over the whole calibration-prompt tensor, by scaling that layer's MLP. */
  expansion?: { layer: number; gain: number };
  massive?: MassiveActivation;
  sink?: Sink;
  /** Multiplies the final norm's gain: logits scale with it, so entropy falls as it grows. */
  sharpness: number;
}

/** A generated model's config: the writer's, with what only a generator needs (its seed and planted knobs). */
export interface AnalogConfig extends ModelConfig {
  seed: number;
  knobs: Knobs;
  /** Token ids the planted gain is calibrated on (the notebook's prompt, tokenised). */
  calibrationIds: number[];
  /** "mistral" uses Mistral's real 32000-token vocabulary; "bytes" a 512-token byte-level one. */
  tokenizer: "mistral" | "bytes" | "llama2c";
}

export const NO_KNOBS: Knobs = { wUScale: 1, sharpness: 1 };

export function analogConfig(family: Family, over: Partial<AnalogConfig> = {}): AnalogConfig {
  const heads = over.heads ?? 4;
  const traits = traitsOf({ family });
  const base: AnalogConfig = {
    family,
    seed: 1,
    layers: 4,
    d: 32,
    heads,
    kvHeads: heads,
    hidden: 64,
    vocab: 512,
    maxPositions: 128,
    ropeTheta: 10000,
    rotaryPct: traits.rotaryFraction,
    ropeStyle: "half",
    eps: traits.analog.eps,
    tied: traits.tied,
    knobs: NO_KNOBS,
    calibrationIds: [1, 2, 3, 4, 5, 6],
    tokenizer: "bytes",
  };
  const cfg = { ...base, ...over, knobs: { ...NO_KNOBS, ...over.knobs } };
  const group = traits.analog.kvGroup;
  if (over.kvHeads === undefined) cfg.kvHeads = group > 1 ? Math.max(1, cfg.heads / group) : cfg.heads;
  validate(cfg);
  return cfg;
}

/** The knobs: each plants a property in a model it can be planted in, or is refused. */
function validate(c: AnalogConfig): void {
  modelConfig(c);
  const fail = (m: string) => {
    throw new Error(`analog ${c.family}: ${m}`);
  };
  const m = c.knobs.massive;
  if (m) {
    if (traitsOf(c).norm === "layer")
      fail("the massive-activation knob needs an RMSNorm family; LayerNorm's centring leaks it to every position");
    if (m.dim < 0 || m.dim >= c.d) fail(`massive.dim ${m.dim} is outside 0..${c.d - 1}`);
    if (m.layer < 0 || m.layer >= c.layers - (m.removedAtLast > 0 ? 1 : 0))
      fail(`massive.layer ${m.layer} must precede the last layer`);
  }
  const sink = c.knobs.sink;
  if (sink) {
    const t = traitsOf(c);
    if (t.norm === "layer" || t.analog.qkNorm || t.analog.biases || c.tied)
      fail(
        "the sink knob needs an untied RMSNorm family without QK-norm or biases: its private dimensions must reach the keys and queries unchanged",
      );
    if (rotaryDim(c) < 2) fail("the sink knob needs a rotary pair");
    const dims = [sink.marker, sink.shared, ...(m ? [m.dim] : [])];
    if (dims.some((x) => x < 0 || x >= c.d) || new Set(dims).size !== dims.length)
      fail(
        `sink.marker ${sink.marker}, sink.shared ${sink.shared} and massive.dim must be distinct dimensions in 0..${c.d - 1}`,
      );
    if (!sink.layers.length || sink.layers.some((l) => !Number.isInteger(l) || l < 0 || l >= c.layers))
      fail(`sink.layers ${JSON.stringify(sink.layers)} must name layers in 0..${c.layers - 1}`);
  }
  const e = c.knobs.expansion;
  if (e && (e.layer < 0 || e.layer >= c.layers - (c.knobs.lastLayerGain !== undefined ? 1 : 0)))
    fail(`expansion.layer ${e.layer} must be a layer before the last one whose gain is planted`);
  if (c.calibrationIds.some((t) => t < 0 || t >= c.vocab))
    fail(`calibration ids fall outside the vocabulary of ${c.vocab}`);
}
