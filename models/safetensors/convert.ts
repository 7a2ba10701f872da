/**
 * A HuggingFace checkpoint (config.json + safetensors) as the analogs' config and weights, for the
 * project's own ONNX writer. The graph is chosen by config.json's model_type; each type's quirks are
 * read from transformers' modeling_<type>.py (5.18): which tensors exist, what the norms and the MLP
 * compute, where the biases are. Weights are lazy: each is read when the writer asks for it.
 *
 * A config key that changes the forward pass and is not applied here is refused by name, and every
 * tensor of the checkpoint is read or named (a weight left out silently would change every number).
 */
import fs from "node:fs";
import path from "node:path";
import { analogConfig, MAX_POSITIONS, type AnalogConfig } from "../analogs/config.js";
import { tokenizerConfigJson } from "../analogs/tokenizers.js";
import type { AnalogWeights } from "../writer/types.js";
import { readJsonFile } from "../registry/schema.js";
import { type Checkpoint, SafetensorsError } from "./reader.js";
import { type Rope, ropeOf } from "./rope.js";
import { checkpointSource, gpt2Weights, llamaWeights, neoxWeights, type Needs, type TensorSource } from "./weights.js";
import { type Family, type FamilyTraits, traitsOf } from "../writer/traits.js";

/** What a type adds to its family, each from its modeling_<type>.py and config class. */
interface ModelType {
  /** The writer's family, whose traits it has (models/writer/traits.ts). */
  family: Family;
  /** How its tensors are named and laid out: model.layers.N.* by default (weights.ts). */
  weights?: typeof llamaWeights;
  /**
   * The attention biases its modeling file builds: q/k/v always and o_proj none (Qwen2's nn.Linear(..., bias=True)),
   * q/k/v and the output unless attention_bias is false (GPT-NeoX), q/k/v/o where attention_bias is true, q/k/v/o
   * whatever the config says (GPT-2's Conv1D), or none whatever the config says.
   */
  attnBias: "qkv" | "unless-false" | "if-true" | "always" | "never";
  /** Its MLP reads mlp_bias (only Llama's). */
  mlpBias?: true;
  /** q_norm and k_norm, RMSNorm over each head before RoPE. */
  qkNorm?: true;
  /** Fused qkv_proj (q, k, v rows one after another) and gate_up_proj (gate then up), split here. */
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
  /** Norms on the attention and MLP outputs: post_attention_layernorm, pre_ and post_feedforward_layernorm. */
  sandwich?: true;
  /** Scores scaled by query_pre_attn_scalar^-½ and soft-capped, logits soft-capped: the config class's defaults. */
  softcap?: { queryPreAttnScalar: number; attn: number; final: number };
  /** The key its MLP reads the activation from, where it is not hidden_act. */
  actKey?: string;
  /** Activation names its config class reads as another. */
  actAliases?: Record<string, string>;
  /**
   * Where its sliding window applies: every layer; the layers layer_types marks (use_sliding_window in older
   * configs); or every other layer unless layer_types says which (with the config class's default window).
   */
  window?: "every" | "marked" | { alternating: number };
}

const TYPES: Record<string, ModelType> = {
  llama: { family: "llama", attnBias: "if-true", mlpBias: true },
  mistral: { family: "mistral", attnBias: "never", window: "every" },
  qwen2: { family: "llama", attnBias: "qkv", window: "marked" },
  qwen3: { family: "llama", attnBias: "if-true", qkNorm: true, window: "marked" },
  // GemmaConfig reads a legacy "gelu" as the tanh one.
  gemma: { family: "gemma", attnBias: "if-true", headDim: "required", actAliases: { gelu: "gelu_pytorch_tanh" } },
  gpt_neox: { family: "pythia", attnBias: "unless-false", headDim: "d/heads", weights: neoxWeights },
  // Apertus: its xIELU keeps alpha_p, alpha_n, beta and eps per layer (activations.py's XIELUActivation), llama3 RoPE
  // by default.
  apertus: { family: "apertus", attnBias: "if-true", qkNorm: true },
  // Gemma 2: Gemma's, with Gemma2Config's defaults where config.json leaves a key out (head_dim and
  // query_pre_attn_scalar 256, soft-capping 50 and 30, a window of 4096); Gemma2MLP reads hidden_activation.
  gemma2: {
    family: "gemma",
    attnBias: "if-true",
    headDim: 256,
    sandwich: true,
    softcap: { queryPreAttnScalar: 256, attn: 50, final: 30 },
    actKey: "hidden_activation",
    window: { alternating: 4096 },
  },
  // Phi-3: no biases, partial_rotary_factor.
  phi3: { family: "llama", attnBias: "never", fused: true, window: "every" },
  // GPT-2: GPT2Config's key names and defaults (n_inner null is 4 × n_embd, GPT2Block); gelu_new is GELU's tanh form
  // (activations.py's NewGELUActivation). reorder_and_upcast_attn only reorders and upcasts what is already float32.
  gpt2: {
    family: "gpt2",
    weights: gpt2Weights,
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
};
export const MODEL_TYPES = Object.keys(TYPES);

export interface Converted {
  config: AnalogConfig;
  modelType: string;
  weights: AnalogWeights;
  tokenizer: object;
  tokenizerConfig: object;
}

export function hfCheckpoint(ck: Checkpoint): Converted {
  const configFile = path.join(ck.dir, "config.json");
  const fail = (m: string, file = configFile): never => {
    throw new SafetensorsError(`${file}: ${m}`);
  };
  let cfg: Record<string, any>;
  try {
    cfg = readJsonFile(configFile) as Record<string, any>;
  } catch (e) {
    // The parser quotes the file around the error, newlines and all: one line is what a message may be.
    return fail(`not readable as JSON (${(e as Error).message.replace(/\r?\n/g, "\\n")})`);
  }
  return hfModel(cfg, checkpointSource(ck), {
    fail,
    tokenizer: (maxPositions) => tokenizerFiles(ck.dir, maxPositions),
    otherwise: 'export the model to ONNX (optimum-cli export onnx) and point a "dir" entry at the export',
  });
}

/** What feeds a model besides its config and tensors. */
export interface ModelInputs {
  fail: (m: string, file?: string) => never;
  /** The tokenizer files, for the context the config allows. */
  tokenizer: (maxPositions: number) => { tokenizer: object; tokenizerConfig: object };
  /** Each rotary pair's frequency, where the source gives them one by one (a GGUF's rope_freqs) and not as a rope type. */
  ropeInvFreq?: number[];
  /** What a user can do with a model_type that is not converted. */
  otherwise?: string;
}

/**
 * A model from config.json's keys (as saved, or a GGUF's metadata mapped to them: models/gguf/archs.ts) and its
 * tensors by transformers' names: each type's quirks are applied here, whatever file the weights come from.
 */
export function hfModel(cfg: Record<string, any>, src: TensorSource, inputs: ModelInputs): Converted {
  const { fail } = inputs;
  const modelType = String(cfg.model_type);
  const type =
    TYPES[modelType] ??
    fail(
      `model_type "${modelType}" is not converted (probespec converts ${MODEL_TYPES.join(", ")})${inputs.otherwise ? `; ${inputs.otherwise}` : ""}`,
    );
  /** A key as the type's config class reads it: under its own spelling, else the common one, else its default. */
  const given = (key: string): unknown => {
    const own = type.keys?.[key] ?? key;
    const v = cfg[own] ?? cfg[key];
    if (v !== undefined && v !== null) return v;
    const byDefault = type.defaults?.[own];
    return typeof byDefault === "function" ? byDefault(given) : byDefault;
  };
  const num = (key: string, fallback?: number, whole = true): number => {
    const v = given(key) ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (whole && !Number.isInteger(v)))
      return fail(
        `"${type.keys?.[key] ?? key}" is ${JSON.stringify(v)}, where a positive ${whole ? "whole " : ""}number is needed`,
      );
    return v;
  };
  const d = num("hidden_size"),
    heads = num("num_attention_heads"),
    kvHeads = num("num_key_value_heads", heads),
    layers = num("num_hidden_layers"),
    hidden = num("intermediate_size"),
    vocab = num("vocab_size");
  if (heads % kvHeads)
    fail(
      `"num_key_value_heads" is ${kvHeads}, which does not divide "num_attention_heads" ${heads} (each key-value head serves a whole group of query heads)`,
    );
  // Every layer holds tensors of its own: a count beyond the file's tensors is a broken config, refused before a
  // table of a million layers' names is built.
  if (layers > src.shapes.size)
    fail(
      `"num_hidden_layers" is ${layers}, but the checkpoint holds only ${src.shapes.size} tensors; each layer needs its own`,
    );
  const traits = traitsOf(type);
  const hd =
    type.headDim === "d/heads"
      ? d / heads
      : num("head_dim", type.headDim === "required" ? undefined : (type.headDim ?? d / heads));
  // The config class's defaults where config.json leaves a key out; null turns soft-capping off.
  const orDefault = (key: string, fallback: number) => (cfg[key] === undefined ? fallback : cfg[key]);
  const softcap = (key: string, fallback: number) => {
    const v = orDefault(key, fallback);
    if (v === null) return undefined;
    return typeof v === "number" && v > 0 ? v : fail(`"${key}" is ${JSON.stringify(v)}, not a positive number or null`);
  };
  const sc = type.softcap;
  const capped = sc && {
    attnScale: Math.pow(num("query_pre_attn_scalar", sc.queryPreAttnScalar, false), -0.5),
    ...(softcap("attn_logit_softcapping", sc.attn) ? { attnSoftcap: softcap("attn_logit_softcapping", sc.attn) } : {}),
    ...(softcap("final_logit_softcapping", sc.final)
      ? { finalSoftcap: softcap("final_logit_softcapping", sc.final) }
      : {}),
  };
  refuseUnapplied(cfg, modelType, type, traits, fail);
  // A family without RoPE (GPT-2's learned positions) reads no rope keys.
  const rope: Rope = traits.rotaryFraction ? ropeOf(cfg, modelType, hd, fail) : { theta: 10000, fraction: 0 };
  if (inputs.ropeInvFreq) {
    if (inputs.ropeInvFreq.length !== (hd * rope.fraction) / 2)
      fail(`${inputs.ropeInvFreq.length} rotary frequencies are given for ${(hd * rope.fraction) / 2} rotary pairs`);
    Object.assign(rope, { invFreq: inputs.ropeInvFreq, scale: undefined });
  }
  // GPT2Attention's scaling is 1 where scale_attn_weights is false.
  const unscaled = type.scaleKey !== undefined && cfg[type.scaleKey] === false;
  const tied = typeof cfg.tie_word_embeddings === "boolean" ? cfg.tie_word_embeddings : traits.tied;
  const config = analogConfig(type.family, {
    layers,
    d,
    heads,
    kvHeads,
    ...(hd !== d / heads ? { headDim: hd } : {}),
    hidden,
    vocab,
    tied,
    maxPositions: Math.min(num("max_position_embeddings"), slidingWindow(cfg, type, fail) ?? Infinity, MAX_POSITIONS),
    ropeTheta: rope.theta,
    ropeScale: rope.scale,
    ...(rope.invFreq ? { ropeInvFreq: rope.invFreq } : {}),
    ...capped,
    ...(unscaled ? { attnScale: 1 } : {}),
    rotaryPct: rope.fraction,
    eps: num(traits.names.eps, undefined, false),
    ropeStyle: "half",
    calibrationIds: [0],
  });
  // Biases and QK-norms as each modeling file builds them: attention_bias and mlp_bias only where the modeling file
  // reads them, so that a key the model ignores asks for no tensor.
  const bias =
    type.attnBias === "qkv" ||
    type.attnBias === "always" ||
    (type.attnBias === "unless-false" && cfg.attention_bias !== false) ||
    (type.attnBias === "if-true" && cfg.attention_bias === true);
  const need: Needs = {
    attnBias: bias,
    oBias: bias && type.attnBias !== "qkv",
    mlpBias: !!type.mlpBias && cfg.mlp_bias === true,
    qkNorm: !!type.qkNorm,
    fused: !!type.fused,
    sandwich: !!type.sandwich,
    ...(traits.names.positions ? { positions: num("max_position_embeddings") } : {}),
  };
  const weights = (type.weights ?? llamaWeights)(src, config, fail, need);
  return { config, modelType, weights, ...inputs.tokenizer(config.maxPositions) };
}

/** What changes the forward pass and is not applied: refused by name, never ignored. */
function refuseUnapplied(
  cfg: Record<string, any>,
  modelType: string,
  type: ModelType,
  traits: FamilyTraits,
  fail: (m: string) => never,
) {
  // Absent, it is the config class's default, the one the type is converted with.
  const actKey = type.actKey ?? "hidden_act";
  const given = cfg[actKey] ?? traits.activation;
  const act = type.actAliases && Object.hasOwn(type.actAliases, given) ? type.actAliases[given] : given;
  if (act !== traits.activation)
    fail(
      `${actKey} ${JSON.stringify(cfg[actKey])} is not applied (${modelType} is converted with "${traits.activation}")`,
    );
  // Applied where the type soft-caps (hfCheckpoint); no other type's modeling file reads them.
  for (const key of ["attn_logit_softcapping", "final_logit_softcapping"])
    if (!type.softcap && cfg[key] !== undefined && cfg[key] !== null)
      fail(`"${key}" ${cfg[key]} is not applied (no soft-capping is written for ${modelType})`);
  if (cfg.use_bidirectional_attention) fail(`"use_bidirectional_attention" is not applied (the graph is causal)`);
  for (const [key, why] of Object.entries(type.refuse ?? {}))
    if (cfg[key] !== undefined && cfg[key] !== null && cfg[key] !== false)
      fail(`"${key}": ${JSON.stringify(cfg[key])} is not applied (${modelType}: ${why})`);
  if (traits.parallel && cfg.use_parallel_residual === false)
    fail(`"use_parallel_residual": false is not applied (the GPT-NeoX graph is parallel, as Pythia is)`);
}

/**
 * A sliding window is exact as a cap on the context: within the window every earlier key is seen
 * (transformers' sliding_window_causal_mask), so prompts no longer than it need no window at all.
 */
function slidingWindow(cfg: Record<string, any>, type: ModelType, fail: (m: string) => never): number | undefined {
  const on = type.window;
  // Gemma 2's default window, on every other layer when layer_types is left out.
  const w = typeof on === "object" && cfg.sliding_window === undefined ? on.alternating : cfg.sliding_window;
  if (w === undefined || w === null) return undefined;
  if (typeof w !== "number" || !Number.isInteger(w) || w < 1)
    fail(`"sliding_window" is ${JSON.stringify(w)}, where a whole number of tokens, 1 or more (or null), is needed`);
  if (typeof on === "object")
    return !Array.isArray(cfg.layer_types) || cfg.layer_types.includes("sliding_attention") ? w : undefined;
  // Qwen2/3 slide only on the layers layer_types marks (use_sliding_window in older configs).
  if (on === "marked") {
    const marked = Array.isArray(cfg.layer_types)
      ? cfg.layer_types.includes("sliding_attention")
      : cfg.use_sliding_window === true;
    return marked ? w : undefined;
  }
  // Mistral and Phi-3 pass config.sliding_window to every layer's attention.
  return on === "every" ? w : undefined;
}

/** The fast tokenizer's files as the checkpoint ships them: the probe encodes with tokenizer.json. */
function tokenizerFiles(dir: string, maxPositions: number): { tokenizer: object; tokenizerConfig: object } {
  const file = path.join(dir, "tokenizer.json");
  if (!fs.existsSync(file))
    throw new SafetensorsError(
      `${dir}: it has no tokenizer.json (probespec encodes with the fast tokenizer's file); save it beside the weights with tokenizer.save_pretrained`,
    );
  const read = (f: string) => {
    try {
      return readJsonFile(f) as object;
    } catch (e) {
      throw new SafetensorsError(`${f}: not valid JSON (${(e as Error).message})`);
    }
  };
  const cfgFile = path.join(dir, "tokenizer_config.json");
  return {
    tokenizer: read(file),
    tokenizerConfig: fs.existsSync(cfgFile) ? read(cfgFile) : tokenizerConfigJson(maxPositions),
  };
}
