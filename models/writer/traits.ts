/**
 * What each family's forward pass does differently, one record per family, read from its
 * modeling_<type>.py: the writer, the float64 reference, the analog generator and the checkpoint
 * converter all branch on these fields, never on a family's name. A converted type maps to one of
 * these families; what varies within a family (Gemma 2's soft-capping and sandwich norms, Qwen's
 * biases, QK-norms) is read from the type's own record (models/safetensors/convert.ts) and carried
 * by the config and the weights.
 */

/** The MLP's nonlinearity, as config.json's hidden_act names it: SiLU, erf GELU, tanh GELU, Apertus' xIELU. */
export type Activation = "silu" | "gelu" | "gelu_pytorch_tanh" | "xielu";

/** HuggingFace's names for the family's modules and config keys, which the written graph keeps. */
export interface Names {
  /** config.json's model_type. */
  modelType: string;
  /** The module root: GPT-NeoX's gpt_neox, GPT-2's transformer, everyone else's model. */
  root: "gpt_neox" | "transformer" | "model";
  embed: "embed_in" | "embed_tokens" | "wte";
  /** The learned position table, where the family has one (GPT-2's wpe). */
  positions?: "wpe";
  attn: "attention" | "self_attn" | "attn";
  o: "dense" | "o_proj" | "c_proj";
  up: "dense_h_to_4h" | "up_proj" | "c_fc";
  down: "dense_4h_to_h" | "down_proj" | "c_proj";
  /** The norms before attention and before the MLP (Gemma 2's sandwich renames the second: see the writer). */
  norms: readonly [string, string];
  finalNorm: "final_layer_norm" | "norm" | "ln_f";
  lmHead: "embed_out" | "lm_head";
  /** The key of the norms' epsilon. */
  eps: "layer_norm_eps" | "rms_norm_eps" | "layer_norm_epsilon";
}

export interface FamilyTraits {
  /** RMSNorm, or LayerNorm (centred, with a bias: GPT-NeoX). */
  norm: "rms" | "layer";
  /** The norms apply their stored w as 1 + w (Gemma): gains centre on 0, and an export folds the 1 in. */
  gainPlusOne: boolean;
  /** The embedding is multiplied by √d, rounded to the model's dtype (Gemma's normalizer). */
  embedScale?: "sqrt-d";
  /** Attention and MLP both read the layer's input and are added to it together (GPT-NeoX): no resid_mid. */
  parallel: boolean;
  /** q, k, v as one Linear whose rows are per head, [q|k|v] (GPT-NeoX's query_key_value). */
  fusedQkv: boolean;
  /**
   * Its projections are Conv1D (GPT-2), stored [in, out]: the reader turns each to nn.Linear's [out, in], so a 16-bit
   * one is written with the graph rather than read in place.
   */
  conv1d?: true;
  /** act(gate_proj x) · up_proj x; otherwise act(up_proj x). */
  gated: boolean;
  activation: Activation;
  /** transformers' default for tie_word_embeddings, where config.json leaves it out. */
  tied: boolean;
  /**
   * Fraction of each head that RoPE rotates, where the config does not say (GPT-NeoX: 0.25); 0 for a family
   * with no RoPE, whose positions are a learned table added to the embedding (GPT-2's wpe, names.positions).
   */
  rotaryFraction: number;
  /** What a generated analog of the family gets; a converted checkpoint brings its own. */
  analog: {
    /** Biases on every linear and norm. */
    biases: boolean;
    /** RMSNorm over each head of q and k, before RoPE. */
    qkNorm: boolean;
    /** Query heads per key/value head where the analog's config does not say (grouped-query attention). */
    kvGroup: number;
    eps: number;
  };
  names: Names;
}

const LLAMA_NAMES: Names = {
  modelType: "llama",
  root: "model",
  embed: "embed_tokens",
  attn: "self_attn",
  o: "o_proj",
  up: "up_proj",
  down: "down_proj",
  norms: ["input_layernorm", "post_attention_layernorm"],
  finalNorm: "norm",
  lmHead: "lm_head",
  eps: "rms_norm_eps",
};

const LLAMA: FamilyTraits = {
  norm: "rms",
  gainPlusOne: false,
  parallel: false,
  fusedQkv: false,
  gated: true,
  activation: "silu",
  tied: false,
  rotaryFraction: 1,
  analog: { biases: false, qkNorm: false, kvGroup: 1, eps: 1e-5 },
  names: LLAMA_NAMES,
};

export const FAMILY = {
  llama: LLAMA,
  // The analog's Mistral uses grouped-query attention, as Mistral-7B does.
  mistral: { ...LLAMA, analog: { ...LLAMA.analog, kvGroup: 2 }, names: { ...LLAMA_NAMES, modelType: "mistral" } },
  // GeGLU with GELU's tanh form, RMSNorm gain 1 + w, embedding × √d, tied.
  gemma: {
    ...LLAMA,
    gainPlusOne: true,
    embedScale: "sqrt-d",
    activation: "gelu_pytorch_tanh",
    tied: true,
    analog: { ...LLAMA.analog, eps: 1e-6 },
    names: { ...LLAMA_NAMES, modelType: "gemma" },
  },
  // GPT-NeoX (Pythia): LayerNorm with biases, parallel residual, partial rotary, fused per-head [q|k|v].
  pythia: {
    norm: "layer",
    gainPlusOne: false,
    parallel: true,
    fusedQkv: true,
    gated: false,
    activation: "gelu",
    tied: false,
    rotaryFraction: 0.25,
    analog: { biases: true, qkNorm: false, kvGroup: 1, eps: 1e-5 },
    names: {
      modelType: "gpt_neox",
      root: "gpt_neox",
      embed: "embed_in",
      attn: "attention",
      o: "dense",
      up: "dense_h_to_4h",
      down: "dense_4h_to_h",
      norms: ["input_layernorm", "post_attention_layernorm"],
      finalNorm: "final_layer_norm",
      lmHead: "embed_out",
      eps: "layer_norm_eps",
    },
  },
  // Apertus: QK-norm, an up/down MLP with no gate through xIELU, its own names for the two norms.
  apertus: {
    ...LLAMA,
    gated: false,
    activation: "xielu",
    analog: { ...LLAMA.analog, qkNorm: true },
    names: { ...LLAMA_NAMES, modelType: "apertus", norms: ["attention_layernorm", "feedforward_layernorm"] },
  },
  // GPT-2: LayerNorm with biases, learned absolute positions and no RoPE, an MLP of GELU's tanh form (gelu_new),
  // biases on every projection, tied. Its Conv1D weights are stored [in, out]: the reader turns them (weights.ts).
  gpt2: {
    norm: "layer",
    gainPlusOne: false,
    parallel: false,
    fusedQkv: false,
    conv1d: true,
    gated: false,
    activation: "gelu_pytorch_tanh",
    tied: true,
    rotaryFraction: 0,
    analog: { biases: true, qkNorm: false, kvGroup: 1, eps: 1e-5 },
    names: {
      modelType: "gpt2",
      root: "transformer",
      embed: "wte",
      positions: "wpe",
      attn: "attn",
      o: "c_proj",
      up: "c_fc",
      down: "c_proj",
      norms: ["ln_1", "ln_2"],
      finalNorm: "ln_f",
      lmHead: "lm_head",
      eps: "layer_norm_epsilon",
    },
  },
} satisfies Record<string, FamilyTraits>;

export type Family = keyof typeof FAMILY;

export function traitsOf(c: { family: Family }): FamilyTraits {
  return FAMILY[c.family];
}
