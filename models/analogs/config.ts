/**
 * An analog: a small, seeded, decoder-only model with one family's real
 * structure, and named knobs that plant the properties the hypotheses test.
 */
import { type Family, traitsOf } from "../architectures/table.js";
import { type ModelConfig, modelConfig, rotaryDim } from "../writer/config.js";

/** The notebook's prompt: planted gains are calibrated on it, as the notebook measured on it. */
export const CALIBRATION_PROMPT = "The capital of France is";

/**
 * The architectures an analog can be built as, and what only a generated model of each needs: whether its linears
 * and norms get biases and its heads QK-norms (as the real type has them), its query heads per key/value head where
 * the analog's config does not say (Mistral-7B's grouped-query attention), and its norms' epsilon.
 */
export const ANALOG_FAMILIES = {
  mistral: { biases: false, qkNorm: false, kvGroup: 2, eps: 1e-5 },
  llama: { biases: false, qkNorm: false, kvGroup: 1, eps: 1e-5 },
  gemma: { biases: false, qkNorm: false, kvGroup: 1, eps: 1e-6 },
  gpt_neox: { biases: true, qkNorm: false, kvGroup: 1, eps: 1e-5 },
  apertus: { biases: false, qkNorm: true, kvGroup: 1, eps: 1e-5 },
} satisfies Partial<Record<Family, { biases: boolean; qkNorm: boolean; kvGroup: number; eps: number }>>;
export type AnalogFamily = keyof typeof ANALOG_FAMILIES;

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
  family: AnalogFamily;
  seed: number;
  knobs: Knobs;
  /** Token ids the planted gain is calibrated on (the notebook's prompt, tokenised). */
  calibrationIds: number[];
  /** "mistral" uses Mistral's real 32000-token vocabulary; "bytes" a 512-token byte-level one. */
  tokenizer: "mistral" | "bytes" | "llama2c";
}

export const NO_KNOBS: Knobs = { wUScale: 1, sharpness: 1 };

export function analogConfig(family: AnalogFamily, over: Partial<AnalogConfig> = {}): AnalogConfig {
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
    eps: ANALOG_FAMILIES[family].eps,
    tied: traits.tied,
    knobs: NO_KNOBS,
    calibrationIds: [1, 2, 3, 4, 5, 6],
    tokenizer: "bytes",
  };
  const cfg = { ...base, ...over, knobs: { ...NO_KNOBS, ...over.knobs } };
  const group = ANALOG_FAMILIES[family].kvGroup;
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
    if (t.norm === "layer" || ANALOG_FAMILIES[c.family].qkNorm || ANALOG_FAMILIES[c.family].biases || c.tied)
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
