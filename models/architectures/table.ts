/**
 * The architecture table: one entry per model type (config.json's model_type), holding everything probespec
 * knows about it: what its forward pass does (the traits the writer and the float64 reference read), the names
 * of its modules and config keys, and how its checkpoints are converted (which keys it reads, their defaults,
 * what is refused, which biases and norms exist), each quirk with its reason, read from transformers'
 * modeling_<type>.py (5.18) and its config class. Nothing outside this table branches on a model type: the
 * writer, the converters, the analogs and the registry read these fields. llama.cpp's gguf-py constants.py /
 * tensor_mapping.py and TransformerLens' architecture adapters are the models of this; docs/adding-an-architecture.md
 * is the checklist.
 */
import { GGUF, type GgufArch } from "./gguf.js";

/** The MLP's nonlinearity, as config.json's hidden_act names it: SiLU, erf GELU, tanh GELU, Apertus' xIELU. */
export type Activation = "silu" | "gelu" | "gelu_pytorch_tanh" | "xielu";

/** HuggingFace's names for the type's modules and config keys, which the written graph keeps. */
export interface Names {
  /** The module root: GPT-NeoX's gpt_neox, GPT-2's transformer, everyone else's model. */
  root: "gpt_neox" | "transformer" | "model";
  embed: "embed_in" | "embed_tokens" | "wte";
  /** The learned position table, where the type has one (GPT-2's wpe). */
  positions?: "wpe";
  attn: "attention" | "self_attn" | "attn";
  o: "dense" | "o_proj" | "c_proj";
  up: "dense_h_to_4h" | "up_proj" | "c_fc" | "fc1";
  down: "dense_4h_to_h" | "down_proj" | "c_proj" | "fc2";
  /**
   * The norms before attention and before the MLP (Gemma 2's sandwich renames the second: see the writer); Phi's one
   * norm, which feeds both branches (sharedNorm), alone.
   */
  norms: readonly [string, string] | readonly [string];
  /** The norms over each head of q and k: q_norm and k_norm unless named otherwise (Phi's and StableLM's q_layernorm). */
  qkNorms?: readonly [string, string];
  finalNorm: "final_layer_norm" | "norm" | "ln_f" | "final_layernorm";
  lmHead: "embed_out" | "lm_head";
  /** The key of the norms' epsilon. */
  eps: "layer_norm_eps" | "rms_norm_eps" | "layer_norm_epsilon";
}

/** What the forward pass does, as the writer, the float64 reference and the analog generator read it. */
export interface Traits {
  /** RMSNorm, or LayerNorm (centred, with a bias: GPT-NeoX). */
  norm: "rms" | "layer";
  /** The norms apply their stored w as 1 + w (Gemma): gains centre on 0, and an export folds the 1 in. */
  gainPlusOne: boolean;
  /** The embedding is multiplied by √d, rounded to the model's dtype (Gemma's normalizer). */
  embedScale?: "sqrt-d";
  /**
   * Attention and MLP both read the layer's input and are added to it together (GPT-NeoX): no resid_mid. A type may
   * choose it by a config key instead (ModelConfig.parallel: StableLM's use_parallel_residual).
   */
  parallel: boolean;
  /**
   * A parallel layer's one norm, names.norms[0], feeds both branches (PhiDecoderLayer's input_layernorm; StableLM's
   * with use_parallel_residual): there is no second norm. GPT-NeoX's parallel layer has two.
   */
  sharedNorm?: true;
  /** q, k, v as one Linear whose rows are per head, [q|k|v] (GPT-NeoX's query_key_value). */
  fusedQkv: boolean;
  /**
   * Its projections are Conv1D (GPT-2), stored [in, out]: the reader turns each to nn.Linear's [out, in], so a 16-bit
   * one is written with the graph rather than read in place.
   */
  conv1d?: true;
  /** act(gate_proj x) · up_proj x; otherwise act(up_proj x). */
  gated: boolean;
  /**
   * A sparse mixture of experts in place of the MLP (Mixtral's MixtralSparseMoeBlock): num_local_experts experts, each
   * a gated MLP, of which the router takes num_experts_per_tok per token, their softmax weights renormalised over those
   * (MixtralTopKRouter); the writer runs every expert (emit.ts), the reader takes them one by one or fused (weights.ts).
   */
  experts?: true;
  activation: Activation;
  /** transformers' default for tie_word_embeddings, where config.json leaves it out. */
  tied: boolean;
  /**
   * Fraction of each head that RoPE rotates, where the config does not say (GPT-NeoX: 0.25); 0 for a type with no
   * RoPE, whose positions are a learned table added to the embedding (GPT-2's wpe, names.positions).
   */
  rotaryFraction: number;
  names: Names;
}

/** How a checkpoint of the type is read: what the type adds to its traits, from its modeling_<type>.py and config class. */
export interface CheckpointRules {
  /** How its tensors are named and laid out (models/safetensors/weights.ts): model.layers.N.* unless said. */
  layout?: "gpt_neox" | "gpt2";
  /**
   * The attention biases its modeling file builds: q/k/v always and o_proj none (Qwen2's nn.Linear(..., bias=True)),
   * q/k/v and the output unless attention_bias is false (GPT-NeoX), q/k/v/o where attention_bias is true, q/k/v only
   * where it is true, q/k/v/o whatever the config says (GPT-2's Conv1D), or none whatever the config says.
   */
  attnBias: "qkv" | "unless-false" | "if-true" | "qkv-if-true" | "always" | "never";
  /** The key attnBias reads, where it is not attention_bias (StableLM's use_qkv_bias). */
  biasKey?: string;
  /** Its MLP's biases: where mlp_bias is true (Llama's), or always (Phi's nn.Linear fc1 and fc2). */
  mlpBias?: "if-true" | "always";
  /** Its lm_head has a bias (PhiForCausalLM's nn.Linear(..., bias=True)). */
  headBias?: true;
  /**
   * q_norm and k_norm before RoPE, of the type's kind of norm: over each head, one gain of head_dim shared by the heads
   * (Qwen3Attention, Gemma3Attention, PhiAttention's q_layernorm); over the whole projection, every head at once
   * (Olmo2Attention: a gain of heads × head_dim, applied before the view); or over each head with a gain of its own
   * (StableLmLayerNormPerHead: a LayerNorm per head, q_layernorm.norms.N).
   */
  qkNorm?: "head" | "whole" | "each";
  /** A key that, true, turns the QK-norm on, where it is not always there (Phi's and StableLM's qk_layernorm). */
  qkNormKey?: string;
  /** The QK-norms have biases (Phi's nn.LayerNorm q_layernorm; StableLM's have none). */
  qkNormBias?: true;
  /** Fused qkv_proj (q, k, v rows one after another) and gate_up_proj (gate then up), split by the reader. */
  fused?: true;
  /**
   * head_dim where config.json leaves it out: the config class's default (hidden_size / heads if none), or required;
   * or hidden_size / heads whatever config.json says (GPTNeoXAttention.head_size, GPT2Attention.head_dim).
   */
  headDim?: number | "required" | "d/heads";
  /** config.json's own spellings of the common keys (GPT2Config's attribute_map: n_embd for hidden_size). */
  keys?: Record<string, string>;
  /** The config class's defaults, by its own key, where config.json leaves a key out or null; a function of the others. */
  defaults?: Record<string, number | ((given: (key: string) => unknown) => unknown)>;
  /** Config keys the modeling file reads that change the forward pass, refused unless false or absent: why, each. */
  refuse?: Record<string, string>;
  /** A key that, false, leaves the attention scores unscaled (GPT-2's scale_attn_weights; true by default). */
  scaleKey?: string;
  /**
   * Where its norms are, where not only before each sublayer (llama's input_ and post_attention_layernorm): before and
   * after each (Gemma 2's sandwich: input_, post_attention_, pre_feedforward_ and post_feedforward_layernorm), or after
   * each only (OLMo 2: post_attention_ and post_feedforward_layernorm, on the branch before it is added).
   */
  norms?: "sandwich" | "post";
  /**
   * Scores scaled by query_pre_attn_scalar^-½, scores and logits soft-capped: the config class's defaults, a cap left
   * out where the class's default is None (Gemma 3's).
   */
  softcap?: { queryPreAttnScalar: number; attn?: number; final?: number };
  /** The key its MLP reads the activation from, where it is not hidden_act. */
  actKey?: string;
  /** Activation names its config class reads as another. */
  actAliases?: Record<string, string>;
  /**
   * Where its sliding window applies: every layer; the layers layer_types marks (use_sliding_window in older
   * configs); or, unless layer_types says which, all but every `fullEvery`-th layer (read from `patternKey` where the
   * config class reads one), with the config class's default window `size`.
   */
  window?: "every" | "marked" | { size: number; fullEvery: number; patternKey?: string };
  /** How its config spells RoPE, where it is not rope_parameters / rope_scaling and rope_theta alone. */
  rope?: {
    /**
     * It reads partial_rotary_factor (from rope_parameters or the top level); others rotate the whole head. Where
     * config.json leaves it out: 1, or the config class's default (PhiConfig's 0.5, StableLmConfig's 0.25).
     */
    partial?: true | number;
    /** GPT-NeoX's older spellings: rotary_pct (default 0.25) and rotary_emb_base. */
    neoxKeys?: true;
    /** The config class's default_theta, where config.json leaves rope_theta out. */
    theta?: number;
    /** What a config.json with no rope_parameters means, where the config class's __post_init__ fills them in. */
    parameters?: Record<string, unknown>;
    /**
     * RoPE by layer type, where the sliding layers have a base of their own (Gemma3TextConfig's rope_parameters, keyed
     * by layer type): each one's default theta and the top-level key older configs give it in; rope_scaling, in older
     * configs, is the full layers'.
     */
    byLayerType?: Record<LayerType, { key: string; theta: number }>;
  };
  /**
   * A key that chooses parallel (true) or sequential layers. For a type whose traits are parallel only true is written,
   * false refused (GPT-NeoX's use_parallel_residual); otherwise true makes every layer parallel (StableLM's, false by
   * default), its one norm feeding both branches (sharedNorm).
   */
  parallelKey?: string;
}

/** A layer's attention, as layer_types names it. */
export type LayerType = "full_attention" | "sliding_attention";

export interface Architecture extends Traits {
  /** Where a checkpoint of the type can be converted (models/safetensors): how it is read. */
  checkpoint?: CheckpointRules;
  /** Where a GGUF of the type can be converted (models/gguf): how its file is read (gguf.ts). */
  gguf?: GgufArch;
}

const LLAMA_NAMES: Names = {
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

const LLAMA_TRAITS: Traits = {
  norm: "rms",
  gainPlusOne: false,
  parallel: false,
  fusedQkv: false,
  gated: true,
  activation: "silu",
  tied: false,
  rotaryFraction: 1,
  names: LLAMA_NAMES,
};

/** Gemma: GeGLU with GELU's tanh form, RMSNorm gain 1 + w, embedding × √d, tied. */
const GEMMA_TRAITS: Traits = {
  ...LLAMA_TRAITS,
  gainPlusOne: true,
  embedScale: "sqrt-d",
  activation: "gelu_pytorch_tanh",
  tied: true,
};

const TABLE = {
  llama: { ...LLAMA_TRAITS, checkpoint: { attnBias: "if-true", mlpBias: "if-true" }, gguf: GGUF.llama },
  mistral: { ...LLAMA_TRAITS, checkpoint: { attnBias: "never", window: "every" } },
  qwen2: { ...LLAMA_TRAITS, checkpoint: { attnBias: "qkv", window: "marked" }, gguf: GGUF.qwen2 },
  qwen3: { ...LLAMA_TRAITS, checkpoint: { attnBias: "if-true", qkNorm: "head", window: "marked" }, gguf: GGUF.qwen3 },
  // GemmaConfig reads a legacy "gelu" as the tanh one.
  gemma: {
    ...GEMMA_TRAITS,
    checkpoint: { attnBias: "if-true", headDim: "required", actAliases: { gelu: "gelu_pytorch_tanh" } },
    gguf: GGUF.gemma,
  },
  // Gemma 2: Gemma's, with Gemma2Config's defaults where config.json leaves a key out (head_dim and
  // query_pre_attn_scalar 256, soft-capping 50 and 30, a window of 4096); Gemma2MLP reads hidden_activation.
  gemma2: {
    ...GEMMA_TRAITS,
    checkpoint: {
      attnBias: "if-true",
      headDim: 256,
      norms: "sandwich",
      softcap: { queryPreAttnScalar: 256, attn: 50, final: 30 },
      actKey: "hidden_activation",
      window: { size: 4096, fullEvery: 2 },
    },
    gguf: GGUF.gemma2,
  },
  // Gemma 3 (Gemma3ForCausalLM): Gemma 2's, with QK-norm over each head (Gemma3RMSNorm, so 1 + w), no soft-capping
  // by default, every sliding_window_pattern-th layer full (6 by default), and RoPE of its own base on the sliding
  // layers (rope_local_base_freq, 10000) while the full ones have rope_theta (1e6) and its scaling.
  gemma3_text: {
    ...GEMMA_TRAITS,
    checkpoint: {
      attnBias: "if-true",
      headDim: 256,
      qkNorm: "head",
      norms: "sandwich",
      softcap: { queryPreAttnScalar: 256 },
      actKey: "hidden_activation",
      window: { size: 4096, fullEvery: 6, patternKey: "sliding_window_pattern" },
      rope: {
        byLayerType: {
          full_attention: { key: "rope_theta", theta: 1000000 },
          sliding_attention: { key: "rope_local_base_freq", theta: 10000 },
        },
      },
    },
    gguf: GGUF.gemma3_text,
  },
  // OLMo 2: llama's MLP and RoPE, no norm before either sublayer but one on each branch's output (Olmo2DecoderLayer),
  // and QK-norm over the whole q and k projections. With no norm before the MLP, its input is resid_mid itself, and
  // mlp_in is that: the MLP's input as it is, rather than a normalised stream the model never computes.
  olmo2: { ...LLAMA_TRAITS, checkpoint: { attnBias: "if-true", qkNorm: "whole", norms: "post" }, gguf: GGUF.olmo2 },
  // GPT-NeoX (Pythia): LayerNorm with biases, parallel residual, partial rotary, fused per-head [q|k|v]. Older
  // configs spell the rotary keys rotary_pct and rotary_emb_base.
  gpt_neox: {
    norm: "layer",
    gainPlusOne: false,
    parallel: true,
    fusedQkv: true,
    gated: false,
    activation: "gelu",
    tied: false,
    rotaryFraction: 0.25,
    names: {
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
    checkpoint: {
      layout: "gpt_neox",
      attnBias: "unless-false",
      headDim: "d/heads",
      rope: { partial: true, neoxKeys: true },
      parallelKey: "use_parallel_residual",
    },
    gguf: GGUF.gpt_neox,
  },
  // Apertus: QK-norm, an up/down MLP with no gate through xIELU (its alpha_p, alpha_n, beta and eps per layer,
  // activations.py's XIELUActivation), its own names for the two norms, and ApertusConfig's llama3 RoPE by default
  // (theta 12e6, factor 8 over an original 8192).
  apertus: {
    ...LLAMA_TRAITS,
    gated: false,
    activation: "xielu",
    names: { ...LLAMA_NAMES, norms: ["attention_layernorm", "feedforward_layernorm"] },
    checkpoint: {
      attnBias: "if-true",
      qkNorm: "head",
      rope: {
        theta: 12000000,
        parameters: {
          rope_type: "llama3",
          rope_theta: 12000000,
          factor: 8,
          original_max_position_embeddings: 8192,
          low_freq_factor: 1,
          high_freq_factor: 4,
        },
      },
    },
  },
  // Phi-3: no biases, fused projections, partial_rotary_factor.
  phi3: {
    ...LLAMA_TRAITS,
    checkpoint: { attnBias: "never", fused: true, window: "every", rope: { partial: true } },
    gguf: GGUF.phi3,
  },
  // GPT-2: LayerNorm with biases, learned absolute positions and no RoPE, an MLP of GELU's tanh form (gelu_new,
  // activations.py's NewGELUActivation), biases on every projection, tied. Its Conv1D weights are stored [in, out]: the
  // reader turns them (weights.ts). GPT2Config's key names and defaults (n_inner null is 4 × n_embd, GPT2Block).
  // reorder_and_upcast_attn only reorders and upcasts what is already float32.
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
    names: {
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
    checkpoint: {
      layout: "gpt2",
      attnBias: "always",
      headDim: "d/heads",
      keys: {
        hidden_size: "n_embd",
        num_hidden_layers: "n_layer",
        num_attention_heads: "n_head",
        max_position_embeddings: "n_positions",
        intermediate_size: "n_inner",
      },
      defaults: {
        vocab_size: 50257,
        n_embd: 768,
        n_layer: 12,
        n_head: 12,
        n_positions: 1024,
        n_inner: (given) => 4 * (given("hidden_size") as number),
        layer_norm_epsilon: 1e-5,
      },
      actKey: "activation_function",
      actAliases: { gelu_new: "gelu_pytorch_tanh" },
      scaleKey: "scale_attn_weights",
      refuse: {
        scale_attn_by_inverse_layer_idx: "scores divided by the layer's index + 1 are not written",
        add_cross_attention: "cross-attention layers, which read an encoder's states, are not converted",
      },
    },
    gguf: GGUF.gpt2,
  },
  // Mixtral: Mistral's attention and window, and a mixture of experts for the MLP; MixtralConfig's defaults (8 experts,
  // 2 per token, default_theta 1e6). router_jitter_noise scales the router's input only in training
  // (MixtralSparseMoeBlock.forward), and output_router_logits and router_aux_loss_coef only add a loss.
  mixtral: {
    ...LLAMA_TRAITS,
    experts: true,
    checkpoint: {
      attnBias: "never",
      window: "every",
      defaults: { num_local_experts: 8, num_experts_per_tok: 2 },
      rope: { theta: 1000000 },
    },
  },
  // Phi-1/2 (PhiForCausalLM): GPT-NeoX's parallel residual but with one LayerNorm (with bias) feeding both branches
  // (PhiDecoderLayer), biases on q/k/v/dense, fc1/fc2 and lm_head whatever the config says, an unfused fc1/fc2 MLP
  // through gelu_new (GELU's tanh form, activations.py's NewGELUActivation), PhiConfig's partial_rotary_factor of 0.5
  // by default; qk_layernorm is one LayerNorm with bias over hidden_size / heads, shared by the heads (PhiAttention).
  phi: {
    norm: "layer",
    gainPlusOne: false,
    parallel: true,
    sharedNorm: true,
    fusedQkv: false,
    gated: false,
    activation: "gelu_pytorch_tanh",
    tied: false,
    rotaryFraction: 0.5,
    names: {
      ...LLAMA_NAMES,
      o: "dense",
      up: "fc1",
      down: "fc2",
      norms: ["input_layernorm"],
      qkNorms: ["q_layernorm", "k_layernorm"],
      finalNorm: "final_layernorm",
      eps: "layer_norm_eps",
    },
    checkpoint: {
      attnBias: "always",
      mlpBias: "always",
      headBias: true,
      qkNorm: "head",
      qkNormKey: "qk_layernorm",
      qkNormBias: true,
      rope: { partial: 0.5 },
      actAliases: { gelu_new: "gelu_pytorch_tanh" },
    },
    gguf: GGUF.phi,
  },
  // StableLM (StableLmForCausalLM): Llama's layer with LayerNorms (with bias), q/k/v biases where use_qkv_bias is true
  // and none on o_proj, head_dim hidden_size / heads whatever the config says (StableLmAttention), StableLmConfig's
  // partial_rotary_factor of 0.25 by default; parallel, one norm feeding both branches, where use_parallel_residual
  // says so (StableLmDecoderLayer); qk_layernorm is a LayerNorm without bias for each head (StableLmLayerNormPerHead).
  stablelm: {
    ...LLAMA_TRAITS,
    norm: "layer",
    sharedNorm: true,
    rotaryFraction: 0.25,
    names: { ...LLAMA_NAMES, qkNorms: ["q_layernorm", "k_layernorm"], eps: "layer_norm_eps" },
    checkpoint: {
      attnBias: "qkv-if-true",
      biasKey: "use_qkv_bias",
      headDim: "d/heads",
      qkNorm: "each",
      qkNormKey: "qk_layernorm",
      rope: { partial: 0.25 },
      parallelKey: "use_parallel_residual",
    },
    gguf: GGUF.stablelm,
  },
} satisfies Record<string, Architecture>;

/** A model type in the table: config.json's model_type. */
export type Family = keyof typeof TABLE;

export const ARCHITECTURES: Record<Family, Architecture> = TABLE;

/** The model types a checkpoint of which is converted. */
export const CHECKPOINT_TYPES = (Object.keys(ARCHITECTURES) as Family[]).filter((t) => ARCHITECTURES[t].checkpoint);

/** The GGUF architectures converted (general.architecture), each with its entry's model type. */
export const GGUF_ARCHITECTURES: ReadonlyMap<string, Family> = new Map(
  (Object.keys(ARCHITECTURES) as Family[]).flatMap((t) => (ARCHITECTURES[t].gguf?.names ?? []).map((n) => [n, t])),
);

export function traitsOf(c: { family: Family }): Architecture {
  return ARCHITECTURES[c.family];
}

/** Whether the layers are parallel: the config's choice where the type reads one (StableLM's), else the traits'. */
export function parallelOf(c: { family: Family; parallel?: boolean }): boolean {
  return c.parallel ?? ARCHITECTURES[c.family].parallel;
}

/**
 * Model types whose residual is parallel by design, with no key to say so (GPT-J, and the table's own such as
 * Phi-1/2), as an export's config.json names them: the locator's hint.
 */
export const PARALLEL_BY_DESIGN = [
  "gptj",
  ...(Object.keys(ARCHITECTURES) as Family[]).filter(
    (t) => ARCHITECTURES[t].parallel && !ARCHITECTURES[t].checkpoint?.parallelKey,
  ),
];
