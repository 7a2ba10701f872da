/**
 * An analog: a small, seeded, decoder-only model with one family's real
 * structure, and named knobs that plant the properties the hypotheses test.
 */
import type { KNOWN_FAMILIES } from "../registry/schema.js";
import { type Family, traitsOf } from "../writer/traits.js";

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
export type Dialect = "torchscript" | "genai";

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

export interface AnalogConfig {
  /** An analog's family; a converted checkpoint's may be any the writer has traits for (GPT-2's). */
  family: Family;
  seed: number;
  layers: number;
  d: number;
  heads: number;
  /** Width of one head where it is not d / heads (Gemma-7B's 256, Qwen3's 128): config.json's head_dim. */
  headDim?: number;
  /** Key/value heads: fewer than heads means grouped-query attention. */
  kvHeads: number;
  hidden: number;
  vocab: number;
  maxPositions: number;
  ropeTheta: number;
  /** Linear RoPE scaling (transformers' rope_type "linear", llama.cpp's rope.scaling.factor): positions divided by it. */
  ropeScale?: number;
  /** Each rotary pair's frequency where a rope scaling sets them one by one (transformers' "llama3"): used in place of ropeTheta and ropeScale. */
  ropeInvFreq?: number[];
  /**
   * RoPE of another base on some layers (Gemma 3's sliding layers, rope_local_base_freq): those layers rotate by these
   * frequencies, the others by ropeTheta's. Its own scaling, or frequencies set one by one, as above.
   */
  localRope?: { layers: number[]; theta: number; scale?: number; invFreq?: number[] };
  /** What attention scores are multiplied by where it is not 1 / √head dim (Gemma 2's query_pre_attn_scalar^-½). */
  attnScale?: number;
  /** Gemma 2's soft-capping, cap × tanh(x / cap): of the scaled attention scores, and of the logits. */
  attnSoftcap?: number;
  finalSoftcap?: number;
  /** Fraction of each head that RoPE rotates (GPT-NeoX: 0.25). */
  rotaryPct: number;
  /** RoPE pairs: HF's rotate-half halves, or llama2.c's interleaved (2i, 2i+1). */
  ropeStyle: "half" | "interleaved";
  eps: number;
  tied: boolean;
  knobs: Knobs;
  /** Token ids the planted gain is calibrated on (the notebook's prompt, tokenised). */
  calibrationIds: number[];
  /** "mistral" uses Mistral's real 32000-token vocabulary; "bytes" a 512-token byte-level one. */
  tokenizer: "mistral" | "bytes" | "llama2c";
}

/**
 * The rotary tables are [positions, head dim] initializers: a context_length a file may claim (16 million)
 * would make gigabytes of them. Longer contexts are probed up to this many positions (32 MB a table at head
 * dim 128); config.json says so, and a longer prompt is refused as longer than the model's context.
 */
export const MAX_POSITIONS = 65536;

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

export function headDim(c: AnalogConfig): number {
  return c.headDim ?? c.d / c.heads;
}

export function rotaryDim(c: AnalogConfig): number {
  return Math.round(headDim(c) * c.rotaryPct);
}

function validate(c: AnalogConfig): void {
  const fail = (m: string) => {
    throw new Error(`analog ${c.family}: ${m}`);
  };
  if (c.headDim === undefined ? c.d % c.heads : !Number.isInteger(c.headDim) || c.headDim < 1)
    fail(
      c.headDim === undefined
        ? `d=${c.d} is not divisible by heads=${c.heads}`
        : `head dim ${c.headDim} is not a whole number`,
    );
  if (traitsOf(c).fusedQkv && headDim(c) * c.heads !== c.d) fail("GPT-NeoX's fused qkv needs heads × head dim = d");
  if (c.heads % c.kvHeads) fail(`heads=${c.heads} is not a multiple of kvHeads=${c.kvHeads}`);
  if (rotaryDim(c) % 2) fail(`rotary dimension ${rotaryDim(c)} is odd`);
  if (c.ropeInvFreq && c.ropeInvFreq.length !== rotaryDim(c) / 2)
    fail(`${c.ropeInvFreq.length} rotary frequencies for ${rotaryDim(c) / 2} pairs`);
  const local = c.localRope;
  if (local?.invFreq && local.invFreq.length !== rotaryDim(c) / 2)
    fail(`${local.invFreq.length} local rotary frequencies for ${rotaryDim(c) / 2} pairs`);
  if (local?.layers.some((l) => !Number.isInteger(l) || l < 0 || l >= c.layers))
    fail(`localRope.layers ${JSON.stringify(local.layers)} must name layers in 0..${c.layers - 1}`);
  if (c.layers < 1) fail("needs at least one layer");
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
