/**
 * Named analogs. The default set re-enacts the original investigation: a
 * "mistral" whose whole-tensor last-layer gain contracts (0.58x, the published
 * figure) because its last layer removes most of a first-token massive
 * activation, and baselines of four other families that do not.
 */
import type { AnalogConfig, Knobs } from "./config.js";
import type { Dialect } from "../writer/config.js";
import type { PlantedVerdict } from "../../contract/run-file.js";

export interface Preset {
  family: AnalogConfig["family"];
  dialect: Dialect;
  int4?: boolean;
  external?: boolean;
  config: Partial<Omit<AnalogConfig, "family" | "knobs" | "calibrationIds">>;
  knobs: Partial<Knobs>;
  description: string;
  /** What the preset plants, exactly (its knobs in words): an analog entry's notes say the same. */
  planted?: string;
  /**
   * The verdict each hypothesis must reach when this preset, unchanged, is the synthetic cohort's
   * subject: the harness check. A run that reaches another has a broken harness, not a finding.
   */
  expects?: Record<string, PlantedVerdict>;
  /**
   * The prompt set (by name) an effect planted at its bound was solved on: a mean over prompts sits on the bound for
   * those prompts only, so on any other set the preset's verdicts are not checked.
   */
  solvedOn?: string;
}

/** Baselines plant nothing: no verdict is theirs to check. */
const NOTHING = "nothing: seeded random weights";

const SMALL = { layers: 8, d: 64, heads: 4, hidden: 128, vocab: 512, maxPositions: 256, tokenizer: "bytes" as const };

/** The planted presets' model: Mistral-shaped (GQA 8/2), byte-level. */
const PLANTED = { ...SMALL, heads: 8, kvHeads: 2, seed: 29 };
/** The sink's layers and private dimensions (config.ts, Sink): the last two of 64. */
const SINK = { layers: [4, 5, 6], marker: 62, shared: 63 };

export const PRESETS: Record<string, Preset> = {
  mistral: {
    family: "mistral",
    dialect: "torchscript",
    // Mistral's real vocabulary, GQA 8/2.
    config: { ...SMALL, heads: 8, kvHeads: 2, vocab: 32000, tokenizer: "mistral", seed: 7 },
    knobs: {
      // W_U alone is planted: a sharpness in the final norm's gain would scale the
      // readout (W_U_eff) as well, and silent-exit would read 1.5 × that (#16).
      wUScale: 1.5,
      // 45% removed: the whole tensor contracts to 0.58 on the calibration prompt while every other position grows;
      // with half removed, the other positions' growth outweighed position 0 on the default 32–48-token contexts.
      massive: { dim: 5, magnitude: 400, layer: 1, removedAtLast: 0.45 },
      lastLayerGain: 0.58,
    },
    description:
      "Mistral-shaped: GQA, SwiGLU, RMSNorm, untied; a first-token massive activation from layer 1, 45% of it removed by the last layer",
    planted:
      "W_U ×1.5 (the final norm's gain untouched); a first-token massive activation (dim 5, magnitude 400) from layer 1 that the last layer cuts by 45%; a whole-tensor last-layer gain of 0.58 on the calibration prompt",
    expects: {
      // No head is made to attend to position 0.
      "attention-sink": "rejected",
      // Nothing sharpens its output: on the ln V scale its entropy is the 512-token baselines'.
      "entropy-efficiency": "rejected",
      // The paradox is planted (a), but by position 0 alone: without it the last layer expands.
      "residual-explosion": "confounded",
      // The contraction is position 0's: with its vector replaced by the others' mean at the last layer's input, the
      // last layer expands.
      "position-zero": "confirmed",
      // ×1.5 is short of the 1/0.58 ≈ 1.72 the claim needs.
      "silent-exit": "rejected",
    },
  },
  // The harness check's other plants: one preset that every hypothesis must confirm, and two that put an effect exactly
  // at a hypothesis' bound, where its interval must straddle the bound. Each is the same seeded Mistral-shaped model;
  // the at-bound numbers are solved on the default prompt set in float64 (test/plants.ts; `npx tsx test/plants.ts` prints them).
  confirmed: {
    family: "mistral",
    dialect: "torchscript",
    config: PLANTED,
    knobs: {
      wUScale: 3,
      expansion: { layer: 1, gain: 2 },
      lastLayerGain: 0.58,
      sink: { ...SINK, strength: 16 },
    },
    description: "Mistral-shaped, byte-level vocabulary: every hypothesis planted well past its bound",
    planted:
      "W_U ×3; layer 1's gain 2 and the last layer's 0.58 on the calibration prompt, at every position; an attention sink in layers 4–6 (key 0 scored 16 / (rms(x_q) rms(x_0)), every other key 0)",
    expects: {
      "attention-sink": "confirmed",
      "entropy-efficiency": "confirmed",
      "residual-explosion": "confirmed",
      // Every position contracts the last layer: with position 0 replaced it still contracts.
      "position-zero": "rejected",
      "silent-exit": "confirmed",
    },
  },
  "at-bound": {
    family: "mistral",
    dialect: "torchscript",
    config: PLANTED,
    knobs: {
      wUScale: 1.779722,
      expansion: { layer: 1, gain: 2 },
      lastLayerGain: 0.9996523,
      sink: { ...SINK, strength: 4.044291 },
    },
    description:
      "Mistral-shaped, byte-level vocabulary: the attention sink, the last-layer gain and the logit spread each exactly at its bound",
    planted:
      "on the default prompts: a mean sink ratio of exactly 2 (layers 4–6, strength 4.044291), a mean last-layer gain of exactly 1 (0.9996523 on the calibration prompt), a mean logit spread of exactly 1/0.58 × the widest synthetic baseline's (W_U ×1.779722); layer 1's gain 2",
    solvedOn: "brown-210",
    expects: {
      // Each mean sits on its bound: the interval straddles it.
      "attention-sink": "inconclusive",
      "residual-explosion": "inconclusive",
      // The plain last-layer gain sits at 1: its part of the claim straddles.
      "position-zero": "inconclusive",
      // The readout gain is a property of the weights, with no interval: at least 1.74 × a baseline's, past its bound.
      "silent-exit": "inconclusive",
      // Logits ×1.78 take the mean entropy ÷ ln V to at most 0.72 × a baseline's.
      "entropy-efficiency": "confirmed",
    },
  },
  "sharp-at-bound": {
    family: "mistral",
    dialect: "torchscript",
    config: PLANTED,
    knobs: { sharpness: 1.577272, lastLayerGain: 1.5 },
    description:
      "Mistral-shaped, byte-level vocabulary: the output entropy exactly at its bound, the last layer expanding",
    planted:
      "the final norm's gain ×1.577272: a mean entropy ÷ ln V of exactly 0.8 × the sharpest synthetic baseline's on the default prompts; a last-layer gain of 1.5 on the calibration prompt; no sink",
    solvedOn: "brown-210",
    expects: {
      "entropy-efficiency": "inconclusive",
      "attention-sink": "rejected",
      "residual-explosion": "rejected",
      // Its last layer expands: there is no contraction to cause.
      "position-zero": "rejected",
      // Logits ×1.58 spread at most 1.6 × a baseline's (but Gemma's small tied readout): short of 1/0.58.
      "silent-exit": "rejected",
    },
  },
  "mistral-small": {
    family: "mistral",
    dialect: "torchscript",
    config: { ...SMALL, heads: 8, kvHeads: 2, seed: 23 },
    knobs: {},
    planted: NOTHING,
    expects: {},
    description: "Mistral-shaped with a 512-token byte-level vocabulary: the subject of the planted-truth sets",
  },
  llama: {
    family: "llama",
    dialect: "torchscript",
    config: { ...SMALL, seed: 11 },
    knobs: {},
    planted: NOTHING,
    expects: {},
    description: "Llama-shaped: multi-head attention, SwiGLU, RMSNorm, untied",
  },
  gemma: {
    family: "gemma",
    dialect: "torchscript",
    config: { ...SMALL, seed: 13 },
    knobs: {},
    planted: NOTHING,
    expects: {},
    description: "Gemma-shaped: tied embeddings scaled by √d, RMSNorm as (1 + w), GeGLU with tanh-GELU",
  },
  pythia: {
    family: "gpt_neox",
    dialect: "torchscript",
    config: { ...SMALL, seed: 17 },
    knobs: {},
    planted: NOTHING,
    expects: {},
    description:
      "GPT-NeoX-shaped: parallel residual, LayerNorm with bias, rotary on 25% of each head, untied embed_out",
  },
  apertus: {
    family: "apertus",
    dialect: "torchscript",
    config: { ...SMALL, seed: 19 },
    knobs: {},
    planted: NOTHING,
    expects: {},
    description: "Apertus-shaped: non-gated xIELU MLP, QK-norm, RMSNorm",
  },
};
