/**
 * Named analogs. The default set re-enacts the original investigation: a
 * "mistral" whose whole-tensor last-layer gain contracts (0.58x, the published
 * figure) because its last layer removes most of a first-token massive
 * activation, and baselines of four other families that do not.
 */
import type { AnalogConfig, Dialect, Knobs } from "./config.js";
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
}

/** Baselines plant nothing: no verdict is theirs to check. */
const NOTHING = "nothing: seeded random weights";

const SMALL = { layers: 8, d: 64, heads: 4, hidden: 128, vocab: 512, maxPositions: 256, tokenizer: "bytes" as const };

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
      massive: { dim: 5, magnitude: 400, layer: 1, removedAtLast: 0.5 },
      lastLayerGain: 0.58,
    },
    description:
      "Mistral-shaped: GQA, SwiGLU, RMSNorm, untied; a first-token massive activation from layer 1, half removed by the last layer",
    planted:
      "W_U ×1.5 (the final norm's gain untouched); a first-token massive activation (dim 5, magnitude 400) from layer 1 that the last layer halves; a whole-tensor last-layer gain of 0.58 on the calibration prompt",
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
    family: "pythia",
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
