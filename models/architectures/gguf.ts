/**
 * The GGUF half of the architecture table's entries (table.ts attaches each to its model type): the
 * general.architecture names it is written under, how its metadata maps to the type's config.json keys, and each
 * tensor's GGUF name with transformers' name and the transform llama.cpp's convert_hf_to_gguf.py applied, to be
 * undone; the type's forward-pass quirks are its entry's, applied once for checkpoints and GGUFs alike. Read from
 * the converter's class for the architecture (its set_gguf_parameters and modify_tensors) and gguf-py's constants.py
 * (MODEL_TENSORS, TENSOR_NAMES) and tensor_mapping.py; how llama.cpp reads the file back (its defaults where a key is
 * left out) from llama-model.cpp.
 */

/** A metadata key under "<arch>.", the config.json key it becomes, and how it is read. */
export interface MetaKey {
  gguf: string;
  hf: string;
  /** A count: a positive whole number (otherwise a positive number). */
  whole?: boolean;
  /** What llama.cpp assumes where the file leaves the key out; a function of the config read so far; none: required. */
  fallback?: number | ((cfg: Record<string, unknown>) => number);
  /** Left out where the file has none: the HF config class's default is llama.cpp's too. */
  optional?: true;
  /** A value that means "none" (Phi-3's sliding_window 0, which marks Phi-4), read as null. */
  none?: number;
}

/**
 * The converter's transform of a tensor, undone here:
 * - "rotary": LlamaModel.permute interleaves each head's rotary halves into pairs (Meta's order) in q's and k's rows;
 * - "plus-one": Gemma's norms are stored as 1 + w (transformers' GemmaRMSNorm applies 1 + w);
 * - "neox-qkv": GPT-NeoX's query_key_value, per-head [q|k|v] rows, is stored as all q rows, then k, then v;
 * - "conv1d": GPT-2's Conv1D weights ([in, out]) are stored transposed, as nn.Linear's [out, in].
 */
export type Undo = "rotary" | "plus-one" | "neox-qkv" | "conv1d";

/**
 * A tensor of the file that holds several of transformers', each a block of its rows (transformers' outer dimension):
 * - "qkv": q's rows, then k's, then v's (heads × head_dim, then key-value heads × head_dim twice), as transformers'
 *   q_proj, k_proj and v_proj (the three names, in that order);
 * - "heads": one row per head, each transformers' tensor of its own ({h} in the name: the head's number).
 */
export type Split = { split: "qkv"; hf: readonly [string, string, string] } | { split: "heads"; hf: string };

/** A tensor: transformers' name ({bid}: the block), and the converter's transform where it applied one. */
export type TensorName = string | { hf: string; undo: Undo } | Split;

export interface GgufArch {
  /** The general.architecture values written for the type (llama.cpp reads "mistral" with its llama graph). */
  names: string[];
  /** What the metadata gives, as the type's config.json spells it. */
  metadata: MetaKey[];
  /**
   * rope.dimension_count: the whole head ("whole", anything else refused), the config key for the rotated fraction
   * of each head (Phi-3's partial_rotary_factor, written as int(factor × d) / heads), or "none" (no RoPE: GPT-2).
   */
  rotary: "whole" | "none" | "partial_rotary_factor";
  /**
   * Config keys that follow from what is read, where llama.cpp derives them and the file does not say: from the config
   * so far, whether the file has a tensor, and the raw metadata under "<arch>.".
   */
  derive?: (read: {
    cfg: Record<string, unknown>;
    has: (gguf: string) => boolean;
    meta: (key: string) => unknown;
  }) => Record<string, unknown>;
  /** Every tensor llama.cpp's graph for the architecture reads, by its GGUF name. */
  tensors: Record<string, TensorName>;
  /** rope_freqs.weight (Llama 3's rope scaling) divides each rotary pair's frequency (ggml_rope_ext's freq_factors). */
  ropeFreqs?: true;
  /**
   * Linears (by GGUF name, less "blk.N." and ".bias") whose biases llama.cpp reads one by one where the file has them,
   * and transformers' config switches on together: a bias the file leaves out of a group it has others of is zero.
   */
  biasGroups?: string[][];
  /**
   * Metadata keys (under "<arch>.") that llama.cpp applies, or whose meaning for this architecture is ambiguous, and
   * that this conversion does not apply: a file holding one (other than 0) is refused, with the reason.
   */
  refuse?: Record<string, string>;
}

/** The keys LlamaModel's and TextModel's set_gguf_parameters write, as LlamaConfig spells them. */
const LLAMA_META: MetaKey[] = [
  // llama.cpp's n_ctx_train; absent, a context of 2048 is assumed.
  { gguf: "context_length", hf: "max_position_embeddings", whole: true, fallback: 2048 },
  { gguf: "embedding_length", hf: "hidden_size", whole: true },
  { gguf: "block_count", hf: "num_hidden_layers", whole: true },
  { gguf: "feed_forward_length", hf: "intermediate_size", whole: true },
  { gguf: "attention.head_count", hf: "num_attention_heads", whole: true },
  // Absent: as many key-value heads as query heads (llama.cpp's n_head_kv default).
  {
    gguf: "attention.head_count_kv",
    hf: "num_key_value_heads",
    whole: true,
    fallback: (c) => c.num_attention_heads as number,
  },
  { gguf: "attention.layer_norm_rms_epsilon", hf: "rms_norm_eps" },
  // llama.cpp's rope_freq_base default.
  { gguf: "rope.freq_base", hf: "rope_theta", fallback: 10000 },
];

/** LLAMA_META with a LayerNorm's epsilon in place of RMSNorm's (Phi-2's and StableLM's set_gguf_parameters). */
const LAYER_NORM_META: MetaKey[] = [
  ...LLAMA_META.filter((k) => k.hf !== "rms_norm_eps"),
  { gguf: "attention.layer_norm_epsilon", hf: "layer_norm_eps" },
];

/** Heads of key_length (TextModel writes head_dim there); absent, d / heads, as llama.cpp's n_embd_head_k. */
const HEAD_DIM: MetaKey = {
  gguf: "attention.key_length",
  hf: "head_dim",
  whole: true,
  fallback: (c) => (c.hidden_size as number) / (c.num_attention_heads as number),
};

/** q, k and v, as the converter names them wherever they are separate tensors (weights and biases). */
const QKV_PROJ: Record<string, TensorName> = {
  "blk.{bid}.attn_q.weight": "model.layers.{bid}.self_attn.q_proj.weight",
  "blk.{bid}.attn_k.weight": "model.layers.{bid}.self_attn.k_proj.weight",
  "blk.{bid}.attn_v.weight": "model.layers.{bid}.self_attn.v_proj.weight",
  "blk.{bid}.attn_q.bias": "model.layers.{bid}.self_attn.q_proj.bias",
  "blk.{bid}.attn_k.bias": "model.layers.{bid}.self_attn.k_proj.bias",
  "blk.{bid}.attn_v.bias": "model.layers.{bid}.self_attn.v_proj.bias",
};

/** model.layers.{bid}.* as gguf-py's tensor_mapping.py maps them for llama-shaped models. */
const LLAMA_TENSORS: Record<string, TensorName> = {
  "token_embd.weight": "model.embed_tokens.weight",
  "output_norm.weight": "model.norm.weight",
  "output.weight": "lm_head.weight",
  "blk.{bid}.attn_norm.weight": "model.layers.{bid}.input_layernorm.weight",
  "blk.{bid}.ffn_norm.weight": "model.layers.{bid}.post_attention_layernorm.weight",
  ...QKV_PROJ,
  "blk.{bid}.attn_output.weight": "model.layers.{bid}.self_attn.o_proj.weight",
  "blk.{bid}.ffn_gate.weight": "model.layers.{bid}.mlp.gate_proj.weight",
  "blk.{bid}.ffn_up.weight": "model.layers.{bid}.mlp.up_proj.weight",
  "blk.{bid}.ffn_down.weight": "model.layers.{bid}.mlp.down_proj.weight",
};

/** Each tensor of `t` whose name ends so, given the transform. */
const undoing = (t: Record<string, TensorName>, ends: RegExp, undo: Undo): Record<string, TensorName> =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [k, ends.test(k) ? { hf: v as string, undo } : v]));

/** LlamaConfig's attention_bias (q, k, v, o) and mlp_bias (gate, up, down): llama.cpp's llama reads each where it is. */
const LLAMA_BIASES = [
  ["attn_q", "attn_k", "attn_v", "attn_output"],
  ["ffn_gate", "ffn_up", "ffn_down"],
];

/** StableLmConfig's use_qkv_bias (q, k, v; o_proj has none): llama.cpp's stablelm reads each where it is. */
const STABLELM_BIASES = [["attn_q", "attn_k", "attn_v"]];

/**
 * Llama: q's and k's rows (and biases) permuted by LlamaModel.modify_tensors; every bias its loader reads. A GGUF arch
 * "mistral" is read by llama.cpp with its llama graph, tensors and metadata alike.
 */
const LLAMA: GgufArch = {
  names: ["llama", "mistral"],
  metadata: LLAMA_META,
  rotary: "whole",
  tensors: undoing(
    {
      ...LLAMA_TENSORS,
      "blk.{bid}.attn_output.bias": "model.layers.{bid}.self_attn.o_proj.bias",
      "blk.{bid}.ffn_gate.bias": "model.layers.{bid}.mlp.gate_proj.bias",
      "blk.{bid}.ffn_up.bias": "model.layers.{bid}.mlp.up_proj.bias",
      "blk.{bid}.ffn_down.bias": "model.layers.{bid}.mlp.down_proj.bias",
    },
    /^blk\.\{bid\}\.attn_[qk]\.(weight|bias)$/,
    "rotary",
  ),
  // LlamaConfig's attention_bias and mlp_bias, as the file's tensors say (llama.cpp reads each bias where it is).
  derive: ({ has }) => ({
    attention_bias: LLAMA_BIASES[0].some((n) => has(`blk.0.${n}.bias`)),
    mlp_bias: LLAMA_BIASES[1].some((n) => has(`blk.0.${n}.bias`)),
  }),
  biasGroups: LLAMA_BIASES,
  ropeFreqs: true,
};

/** Gemma: GemmaModel adds 1 to every norm's weight, and drops lm_head.weight (tied). */
const GEMMA_TENSORS = (() => {
  const { "output.weight": _, ...rest } = LLAMA_TENSORS;
  return rest;
})();

/**
 * query_pre_attn_scalar, which no key holds: llama.cpp scales Gemma 2's and 3's scores by key_length^-½, but for their
 * 27B (known by its layer count), by (d / heads)^-½ (llama-model.cpp, after gemma_pytorch's config).
 */
const queryPreAttnScalar = (layers27b: number, c: Record<string, unknown>) => ({
  query_pre_attn_scalar:
    c.num_hidden_layers === layers27b ? (c.hidden_size as number) / (c.num_attention_heads as number) : c.head_dim,
});

/** By the model type whose entry each belongs to. */
export const GGUF = {
  llama: LLAMA,
  // Qwen2: TextModel's tensors unpermuted (its rotary is llama.cpp's NEOX, transformers' rotate-half), q/k/v biases.
  qwen2: { names: ["qwen2"], metadata: LLAMA_META, rotary: "whole", tensors: LLAMA_TENSORS },
  // Qwen3: no biases, a q and a k RMSNorm over each head, head_dim as key_length.
  qwen3: {
    names: ["qwen3"],
    metadata: [...LLAMA_META, HEAD_DIM],
    rotary: "whole",
    tensors: {
      ...LLAMA_TENSORS,
      "blk.{bid}.attn_q_norm.weight": "model.layers.{bid}.self_attn.q_norm.weight",
      "blk.{bid}.attn_k_norm.weight": "model.layers.{bid}.self_attn.k_norm.weight",
    },
  },
  gemma: {
    names: ["gemma"],
    metadata: [...LLAMA_META, HEAD_DIM],
    rotary: "whole",
    tensors: undoing(GEMMA_TENSORS, /norm\.weight$/, "plus-one"),
  },
  // Gemma 2: Gemma's, with norms after attention and around the MLP (constants.py's ATTN_POST_NORM, FFN_PRE_NORM,
  // FFN_POST_NORM), soft-capping and the sliding window as Gemma2Model writes them (absent: llama.cpp's defaults,
  // 50, 30 and 4096, Gemma2Config's too).
  gemma2: {
    names: ["gemma2"],
    metadata: [
      ...LLAMA_META,
      HEAD_DIM,
      { gguf: "attn_logit_softcapping", hf: "attn_logit_softcapping", optional: true },
      { gguf: "final_logit_softcapping", hf: "final_logit_softcapping", optional: true },
      { gguf: "attention.sliding_window", hf: "sliding_window", whole: true, optional: true },
    ],
    rotary: "whole",
    // Its 27B has 46 layers.
    derive: ({ cfg }) => queryPreAttnScalar(46, cfg),
    tensors: undoing(
      {
        ...GEMMA_TENSORS,
        "blk.{bid}.ffn_norm.weight": "model.layers.{bid}.pre_feedforward_layernorm.weight",
        "blk.{bid}.post_attention_norm.weight": "model.layers.{bid}.post_attention_layernorm.weight",
        "blk.{bid}.post_ffw_norm.weight": "model.layers.{bid}.post_feedforward_layernorm.weight",
      },
      /norm\.weight$/,
      "plus-one",
    ),
  },
  // Gemma 3: Gemma 2's norms, and a q and a k norm over each head, each stored as 1 + w as every "norm.weight" is
  // (Gemma3Model.modify_tensors); no soft-capping of scores, the logits' where the file says. Which layers slide, and
  // the sliding layers' RoPE, are no key of this converter's: llama.cpp's loader (llama-model.cpp, LLM_ARCH_GEMMA3) makes
  // every 6th layer full (set_swa_pattern(6)) and rotates the sliding ones with base 10000, unscaled
  // (rope_freq_base_train_swa, rope_freq_scale_train_swa): the file's linear rope scaling is the full layers' alone, as
  // Gemma3TextConfig's rope_scaling is. Its later versions read a file with no window (or 0) as no sliding layer at all,
  // and later converters write the sliding base as rope.freq_base_swa. Its 27B has 62 layers.
  gemma3_text: {
    names: ["gemma3"],
    metadata: [
      ...LLAMA_META,
      HEAD_DIM,
      { gguf: "final_logit_softcapping", hf: "final_logit_softcapping", optional: true },
      { gguf: "attention.sliding_window", hf: "sliding_window", whole: true, optional: true, none: 0 },
      { gguf: "rope.freq_base_swa", hf: "rope_local_base_freq", fallback: 10000 },
    ],
    rotary: "whole",
    derive: ({ cfg }) => ({
      ...queryPreAttnScalar(62, cfg),
      sliding_window_pattern: typeof cfg.sliding_window === "number" ? 6 : 1,
    }),
    tensors: undoing(
      {
        ...GEMMA_TENSORS,
        "blk.{bid}.attn_q_norm.weight": "model.layers.{bid}.self_attn.q_norm.weight",
        "blk.{bid}.attn_k_norm.weight": "model.layers.{bid}.self_attn.k_norm.weight",
        "blk.{bid}.ffn_norm.weight": "model.layers.{bid}.pre_feedforward_layernorm.weight",
        "blk.{bid}.post_attention_norm.weight": "model.layers.{bid}.post_attention_layernorm.weight",
        "blk.{bid}.post_ffw_norm.weight": "model.layers.{bid}.post_feedforward_layernorm.weight",
      },
      /norm\.weight$/,
      "plus-one",
    ),
    refuse: {
      attn_logit_softcapping: "llama.cpp's gemma3 graph does not soft-cap the scores, where transformers' would",
      "attention.sliding_window_pattern":
        "llama.cpp's gemma3 loader makes every 6th layer full whatever the file says, so which layers slide is ambiguous",
    },
  },
  // OLMo 2: TextModel's tensors unpermuted (llama.cpp's NEOX rotary, transformers' rotate-half), no norm before either
  // sublayer but one after each (constants.py's ATTN_POST_NORM, FFN_POST_NORM), a q and a k norm over the whole
  // projection. A sliding window is OLMo 3's, written under "olmo2" (llama.cpp then slides three layers in four).
  olmo2: {
    names: ["olmo2"],
    metadata: [...LLAMA_META, HEAD_DIM],
    rotary: "whole",
    tensors: {
      "token_embd.weight": "model.embed_tokens.weight",
      "output_norm.weight": "model.norm.weight",
      "output.weight": "lm_head.weight",
      "blk.{bid}.attn_q.weight": "model.layers.{bid}.self_attn.q_proj.weight",
      "blk.{bid}.attn_k.weight": "model.layers.{bid}.self_attn.k_proj.weight",
      "blk.{bid}.attn_v.weight": "model.layers.{bid}.self_attn.v_proj.weight",
      "blk.{bid}.attn_output.weight": "model.layers.{bid}.self_attn.o_proj.weight",
      "blk.{bid}.attn_q_norm.weight": "model.layers.{bid}.self_attn.q_norm.weight",
      "blk.{bid}.attn_k_norm.weight": "model.layers.{bid}.self_attn.k_norm.weight",
      "blk.{bid}.post_attention_norm.weight": "model.layers.{bid}.post_attention_layernorm.weight",
      "blk.{bid}.post_ffw_norm.weight": "model.layers.{bid}.post_feedforward_layernorm.weight",
      "blk.{bid}.ffn_gate.weight": "model.layers.{bid}.mlp.gate_proj.weight",
      "blk.{bid}.ffn_up.weight": "model.layers.{bid}.mlp.up_proj.weight",
      "blk.{bid}.ffn_down.weight": "model.layers.{bid}.mlp.down_proj.weight",
    },
    refuse: { "attention.sliding_window": "a sliding window is OLMo 3's, which transformers' olmo2 does not apply" },
  },
  // Phi-3: qkv_proj and gate_up_proj kept fused (tensor_mapping.py: attn_qkv, ffn_up), unpermuted; partial rotary as
  // rope.dimension_count; sliding_window 0 for none (Phi-4). Long-context rope factors (rope_factors_long/short) are no
  // tensor of this record: such a file is refused.
  phi3: {
    names: ["phi3"],
    metadata: [
      ...LLAMA_META,
      { gguf: "attention.sliding_window", hf: "sliding_window", whole: true, optional: true, none: 0 },
    ],
    rotary: "partial_rotary_factor",
    tensors: {
      "token_embd.weight": "model.embed_tokens.weight",
      "output_norm.weight": "model.norm.weight",
      "output.weight": "lm_head.weight",
      "blk.{bid}.attn_norm.weight": "model.layers.{bid}.input_layernorm.weight",
      "blk.{bid}.ffn_norm.weight": "model.layers.{bid}.post_attention_layernorm.weight",
      "blk.{bid}.attn_qkv.weight": "model.layers.{bid}.self_attn.qkv_proj.weight",
      "blk.{bid}.attn_output.weight": "model.layers.{bid}.self_attn.o_proj.weight",
      "blk.{bid}.ffn_up.weight": "model.layers.{bid}.mlp.gate_up_proj.weight",
      "blk.{bid}.ffn_down.weight": "model.layers.{bid}.mlp.down_proj.weight",
    },
  },
  // GPT-NeoX: LayerNorms with biases, query_key_value regrouped q, k, v (GPTNeoXModel.modify_tensors), partial rotary
  // as rope.dimension_count, use_parallel_residual; no rope.freq_base is written (llama.cpp's default, 10000).
  gpt_neox: {
    names: ["gptneox"],
    metadata: [
      { gguf: "context_length", hf: "max_position_embeddings", whole: true, fallback: 2048 },
      { gguf: "embedding_length", hf: "hidden_size", whole: true },
      { gguf: "block_count", hf: "num_hidden_layers", whole: true },
      { gguf: "feed_forward_length", hf: "intermediate_size", whole: true },
      { gguf: "attention.head_count", hf: "num_attention_heads", whole: true },
      { gguf: "attention.layer_norm_epsilon", hf: "layer_norm_eps" },
      { gguf: "rope.freq_base", hf: "rope_theta", fallback: 10000 },
    ],
    rotary: "partial_rotary_factor",
    // llama.cpp's gptneox reads use_parallel_residual, true where absent; attention biases where the file has them.
    derive: ({ has, meta }) => ({
      attention_bias: has("blk.0.attn_qkv.bias"),
      use_parallel_residual: meta("use_parallel_residual") ?? true,
    }),
    tensors: {
      "token_embd.weight": "gpt_neox.embed_in.weight",
      "output_norm.weight": "gpt_neox.final_layer_norm.weight",
      "output_norm.bias": "gpt_neox.final_layer_norm.bias",
      "output.weight": "embed_out.weight",
      "blk.{bid}.attn_norm.weight": "gpt_neox.layers.{bid}.input_layernorm.weight",
      "blk.{bid}.attn_norm.bias": "gpt_neox.layers.{bid}.input_layernorm.bias",
      "blk.{bid}.ffn_norm.weight": "gpt_neox.layers.{bid}.post_attention_layernorm.weight",
      "blk.{bid}.ffn_norm.bias": "gpt_neox.layers.{bid}.post_attention_layernorm.bias",
      "blk.{bid}.attn_qkv.weight": { hf: "gpt_neox.layers.{bid}.attention.query_key_value.weight", undo: "neox-qkv" },
      "blk.{bid}.attn_qkv.bias": { hf: "gpt_neox.layers.{bid}.attention.query_key_value.bias", undo: "neox-qkv" },
      "blk.{bid}.attn_output.weight": "gpt_neox.layers.{bid}.attention.dense.weight",
      "blk.{bid}.attn_output.bias": "gpt_neox.layers.{bid}.attention.dense.bias",
      "blk.{bid}.ffn_up.weight": "gpt_neox.layers.{bid}.mlp.dense_h_to_4h.weight",
      "blk.{bid}.ffn_up.bias": "gpt_neox.layers.{bid}.mlp.dense_h_to_4h.bias",
      "blk.{bid}.ffn_down.weight": "gpt_neox.layers.{bid}.mlp.dense_4h_to_h.weight",
      "blk.{bid}.ffn_down.bias": "gpt_neox.layers.{bid}.mlp.dense_4h_to_h.bias",
    },
  },
  // GPT-2: GPT2Config's own key names; learned positions (position_embd, kept float32 by the converter); every Conv1D
  // weight transposed by GPT2Model.modify_tensors. feed_forward_length is written as 4 × n_embd whatever n_inner is:
  // the tensors' shapes are checked against it.
  gpt2: {
    names: ["gpt2"],
    metadata: [
      { gguf: "context_length", hf: "n_positions", whole: true },
      { gguf: "embedding_length", hf: "n_embd", whole: true },
      { gguf: "block_count", hf: "n_layer", whole: true },
      { gguf: "feed_forward_length", hf: "n_inner", whole: true },
      { gguf: "attention.head_count", hf: "n_head", whole: true },
      { gguf: "attention.layer_norm_epsilon", hf: "layer_norm_epsilon" },
    ],
    rotary: "none",
    tensors: {
      "token_embd.weight": "transformer.wte.weight",
      "position_embd.weight": "transformer.wpe.weight",
      "output_norm.weight": "transformer.ln_f.weight",
      "output_norm.bias": "transformer.ln_f.bias",
      "output.weight": "lm_head.weight",
      "blk.{bid}.attn_norm.weight": "transformer.h.{bid}.ln_1.weight",
      "blk.{bid}.attn_norm.bias": "transformer.h.{bid}.ln_1.bias",
      "blk.{bid}.ffn_norm.weight": "transformer.h.{bid}.ln_2.weight",
      "blk.{bid}.ffn_norm.bias": "transformer.h.{bid}.ln_2.bias",
      "blk.{bid}.attn_qkv.weight": { hf: "transformer.h.{bid}.attn.c_attn.weight", undo: "conv1d" },
      "blk.{bid}.attn_qkv.bias": "transformer.h.{bid}.attn.c_attn.bias",
      "blk.{bid}.attn_output.weight": { hf: "transformer.h.{bid}.attn.c_proj.weight", undo: "conv1d" },
      "blk.{bid}.attn_output.bias": "transformer.h.{bid}.attn.c_proj.bias",
      "blk.{bid}.ffn_up.weight": { hf: "transformer.h.{bid}.mlp.c_fc.weight", undo: "conv1d" },
      "blk.{bid}.ffn_up.bias": "transformer.h.{bid}.mlp.c_fc.bias",
      "blk.{bid}.ffn_down.weight": { hf: "transformer.h.{bid}.mlp.c_proj.weight", undo: "conv1d" },
      "blk.{bid}.ffn_down.bias": "transformer.h.{bid}.mlp.c_proj.bias",
    },
  },
  // Phi-1/2 (Phi2Model): LayerNorms with biases, one norm before both branches (no ffn_norm), biases on every projection
  // and on the output (output.bias, lm_head's), partial rotary as rope.dimension_count (int(factor × d) / heads), no
  // rope.freq_base (llama.cpp's default, 10000, PhiConfig's too). feed_forward_length is written as 4 × n_embd and
  // head_count_kv as head_count whatever the config says: the tensors' shapes are checked against them, as llama.cpp's
  // loader checks them. q, k and v are separate as transformers' PhiForCausalLM keeps them; phi-2's files converted from
  // its original checkpoints hold them fused (mixer.Wqkv, tensor_mapping.py's attn_qkv), q's rows, then k's, then v's,
  // which llama.cpp's phi2 reads in their place. The converter cannot map qk_layernorm (no attn_q_norm in constants.py's
  // MODEL_TENSORS for phi2), nor does llama.cpp's graph apply one.
  phi: {
    names: ["phi2"],
    metadata: LAYER_NORM_META,
    rotary: "partial_rotary_factor",
    tensors: {
      "token_embd.weight": "model.embed_tokens.weight",
      "output_norm.weight": "model.final_layernorm.weight",
      "output_norm.bias": "model.final_layernorm.bias",
      "output.weight": "lm_head.weight",
      "output.bias": "lm_head.bias",
      "blk.{bid}.attn_norm.weight": "model.layers.{bid}.input_layernorm.weight",
      "blk.{bid}.attn_norm.bias": "model.layers.{bid}.input_layernorm.bias",
      ...QKV_PROJ,
      "blk.{bid}.attn_qkv.weight": {
        split: "qkv",
        hf: [
          "model.layers.{bid}.self_attn.q_proj.weight",
          "model.layers.{bid}.self_attn.k_proj.weight",
          "model.layers.{bid}.self_attn.v_proj.weight",
        ],
      },
      "blk.{bid}.attn_qkv.bias": {
        split: "qkv",
        hf: [
          "model.layers.{bid}.self_attn.q_proj.bias",
          "model.layers.{bid}.self_attn.k_proj.bias",
          "model.layers.{bid}.self_attn.v_proj.bias",
        ],
      },
      "blk.{bid}.attn_output.weight": "model.layers.{bid}.self_attn.dense.weight",
      "blk.{bid}.attn_output.bias": "model.layers.{bid}.self_attn.dense.bias",
      "blk.{bid}.ffn_up.weight": "model.layers.{bid}.mlp.fc1.weight",
      "blk.{bid}.ffn_up.bias": "model.layers.{bid}.mlp.fc1.bias",
      "blk.{bid}.ffn_down.weight": "model.layers.{bid}.mlp.fc2.weight",
      "blk.{bid}.ffn_down.bias": "model.layers.{bid}.mlp.fc2.bias",
    },
  },
  // StableLM (StableLMModel): Llama's tensors with LayerNorms (with biases), q/k/v biases where the file has them,
  // partial rotary as rope.dimension_count (int(factor × d / heads)), no rope.freq_base (llama.cpp's default, 10000,
  // StableLmConfig's too). Each head's q_layernorm.norms.N and k_layernorm.norms.N is stacked into one [heads, head_dim]
  // attn_q_norm / attn_k_norm (StableLMModel._stack_qk_norm): split back into one per head.
  stablelm: {
    names: ["stablelm"],
    metadata: LAYER_NORM_META,
    rotary: "partial_rotary_factor",
    // llama.cpp's stablelm (llama-model.cpp, LLM_ARCH_STABLELM) reads the file's tensors, not its keys: a layer with no
    // ffn_norm is parallel, its one norm feeding both branches; the q and k norms and each q/k/v bias where the file has
    // them. Its use_parallel_residual key is not read: the converter writes true where config.json leaves the key out,
    // though StableLmConfig's default is false.
    derive: ({ has }) => ({
      use_parallel_residual: !has("blk.0.ffn_norm.weight"),
      use_qkv_bias: STABLELM_BIASES[0].some((n) => has(`blk.0.${n}.bias`)),
      qk_layernorm: has("blk.0.attn_q_norm.weight"),
    }),
    biasGroups: STABLELM_BIASES,
    tensors: {
      "token_embd.weight": "model.embed_tokens.weight",
      "output_norm.weight": "model.norm.weight",
      "output_norm.bias": "model.norm.bias",
      "output.weight": "lm_head.weight",
      "blk.{bid}.attn_norm.weight": "model.layers.{bid}.input_layernorm.weight",
      "blk.{bid}.attn_norm.bias": "model.layers.{bid}.input_layernorm.bias",
      "blk.{bid}.ffn_norm.weight": "model.layers.{bid}.post_attention_layernorm.weight",
      "blk.{bid}.ffn_norm.bias": "model.layers.{bid}.post_attention_layernorm.bias",
      ...QKV_PROJ,
      "blk.{bid}.attn_output.weight": "model.layers.{bid}.self_attn.o_proj.weight",
      "blk.{bid}.attn_q_norm.weight": {
        split: "heads",
        hf: "model.layers.{bid}.self_attn.q_layernorm.norms.{h}.weight",
      },
      "blk.{bid}.attn_k_norm.weight": {
        split: "heads",
        hf: "model.layers.{bid}.self_attn.k_layernorm.norms.{h}.weight",
      },
      "blk.{bid}.ffn_gate.weight": "model.layers.{bid}.mlp.gate_proj.weight",
      "blk.{bid}.ffn_up.weight": "model.layers.{bid}.mlp.up_proj.weight",
      "blk.{bid}.ffn_down.weight": "model.layers.{bid}.mlp.down_proj.weight",
    },
  },
} satisfies Record<string, GgufArch>;

/** One of transformers' tensors a GGUF tensor holds: all of it, with its transform, or the index-th block of a Split. */
export interface HfTensor {
  hf: string;
  undo?: Undo;
  part?: { split: Split["split"]; index: number };
}

/**
 * A GGUF tensor's transformers tensors, under its architecture's record; undefined where it has none. `rows`: its
 * outer dimension, transformers' first (a "heads" split holds as many heads).
 */
export function hfTensors(arch: GgufArch, gguf: string, rows: number): HfTensor[] | undefined {
  const bid = /^blk\.(\d+)\./.exec(gguf)?.[1];
  const key = bid === undefined ? gguf : gguf.replace(/^blk\.\d+\./, "blk.{bid}.");
  const t = Object.hasOwn(arch.tensors, key) ? arch.tensors[key] : undefined;
  if (t === undefined) return undefined;
  const at = (hf: string) => (bid === undefined ? hf : hf.replace("{bid}", bid));
  if (typeof t === "string") return [{ hf: at(t) }];
  if (!("split" in t)) return [{ hf: at(t.hf), undo: t.undo }];
  const names = t.split === "qkv" ? t.hf : Array.from({ length: rows }, (_, h) => t.hf.replace("{h}", String(h)));
  return names.map((hf, index) => ({ hf: at(hf), part: { split: t.split, index } }));
}

/** The GGUF name of transformers' tensor `hf` under the record (the inverse of hfTensors); undefined where it has none. */
export function ggufName(arch: GgufArch, hf: string): string | undefined {
  const template = (n: string) =>
    new RegExp(`^${n.replace(/[.]/g, "\\.").replace("{bid}", "(?<bid>\\d+)").replace("{h}", "\\d+")}$`);
  for (const [gguf, t] of Object.entries(arch.tensors)) {
    const names = typeof t === "string" ? [t] : typeof t.hf === "string" ? [t.hf] : t.hf;
    for (const n of names) {
      const m = template(n).exec(hf);
      if (m) return gguf.replace("{bid}", m.groups?.bid ?? "");
    }
  }
  return undefined;
}
