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
import { analogConfig, MAX_POSITIONS, type AnalogConfig, type AnalogFamily } from "../analogs/config.js";
import { tokenizerConfigJson } from "../analogs/tokenizers.js";
import type { AnalogWeights } from "../writer/types.js";
import { readJsonFile } from "../registry/schema.js";
import { type Checkpoint, SafetensorsError } from "./reader.js";
import { ropeOf } from "./rope.js";
import { llamaWeights, neoxWeights } from "./weights.js";
import { type FamilyTraits, traitsOf } from "../writer/traits.js";

/**
 * Per type, from modeling_<type>.py: the writer's family it is written as, whose traits (norm, activation,
 * embedding scale, residual, tensor names; models/writer/traits.ts) it has. What a type adds to its family
 * is read below, by type.
 */
const TYPES: Record<string, AnalogFamily> = {
  llama: "llama",
  mistral: "mistral",
  // Qwen2: q/k/v always carry biases (nn.Linear(..., bias=True)), o_proj none.
  qwen2: "llama",
  // Qwen3: q_norm and k_norm, RMSNorm over each head before RoPE.
  qwen3: "llama",
  gemma: "gemma",
  gpt_neox: "pythia",
  // Apertus: its xIELU keeps alpha_p, alpha_n, beta and eps per layer (activations.py's XIELUActivation), llama3 RoPE
  // by default.
  apertus: "apertus",
  // Gemma 2: Gemma's, with norms on the attention and MLP outputs (post_attention_layernorm, pre_ and
  // post_feedforward_layernorm), scores scaled by query_pre_attn_scalar^-½ and soft-capped, logits soft-capped, and a
  // sliding window on the layers layer_types marks (every other one by default). Its activation is hidden_activation.
  gemma2: "gemma",
  // Phi-3: fused qkv_proj and gate_up_proj (split here), no biases, partial_rotary_factor, a sliding window on every layer.
  phi3: "llama",
};
export const MODEL_TYPES = Object.keys(TYPES);

/** The types whose modeling file builds q/k/v/o with bias=config.attention_bias. */
const READS_ATTENTION_BIAS = ["llama", "qwen3", "gemma", "gemma2", "apertus"];

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
    return fail(`not readable as JSON (${(e as Error).message})`);
  }
  const modelType = String(cfg.model_type);
  const family =
    TYPES[modelType] ??
    fail(
      `model_type "${modelType}" is not converted (probespec converts ${MODEL_TYPES.join(", ")}); export the model to ONNX (optimum-cli export onnx) and point a "dir" entry at the export`,
    );
  const num = (key: string, fallback?: number, whole = true): number => {
    const v = cfg[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (whole && !Number.isInteger(v)))
      return fail(`"${key}" is ${JSON.stringify(v)}, where a positive ${whole ? "whole " : ""}number is needed`);
    return v;
  };
  const d = num("hidden_size"),
    heads = num("num_attention_heads"),
    kvHeads = num("num_key_value_heads", heads),
    layers = num("num_hidden_layers"),
    hidden = num("intermediate_size"),
    vocab = num("vocab_size");
  const traits = traitsOf({ family });
  // GPT-NeoX's layout: gpt_neox.* tensors, q, k and v fused per head.
  const neox = traits.fusedQkv;
  // GPT-NeoX's head is always hidden_size / heads (GPTNeoXAttention.head_size).
  const gemma2 = modelType === "gemma2";
  // Gemma2Config.head_dim defaults to 256, as its query_pre_attn_scalar does.
  const hd = neox ? d / heads : num("head_dim", gemma2 ? 256 : modelType === "gemma" ? undefined : d / heads);
  // Gemma2Config's defaults where config.json leaves a key out; null turns soft-capping off.
  const orDefault = (key: string, fallback: number) => (cfg[key] === undefined ? fallback : cfg[key]);
  const softcap = (key: string, fallback: number) => {
    const v = orDefault(key, fallback);
    if (v === null) return undefined;
    return typeof v === "number" && v > 0 ? v : fail(`"${key}" is ${JSON.stringify(v)}, not a positive number or null`);
  };
  const gemma2Attn = gemma2 && {
    attnScale: Math.pow(num("query_pre_attn_scalar", 256, false), -0.5),
    ...(softcap("attn_logit_softcapping", 50) ? { attnSoftcap: softcap("attn_logit_softcapping", 50) } : {}),
    ...(softcap("final_logit_softcapping", 30) ? { finalSoftcap: softcap("final_logit_softcapping", 30) } : {}),
  };
  refuseUnapplied(cfg, modelType, traits, fail);
  const rope = ropeOf(cfg, modelType, hd, fail);
  const tied = typeof cfg.tie_word_embeddings === "boolean" ? cfg.tie_word_embeddings : traits.tied;
  const config = analogConfig(family, {
    layers,
    d,
    heads,
    kvHeads,
    ...(hd !== d / heads ? { headDim: hd } : {}),
    hidden,
    vocab,
    tied,
    maxPositions: Math.min(num("max_position_embeddings"), slidingWindow(cfg, modelType) ?? Infinity, MAX_POSITIONS),
    ropeTheta: rope.theta,
    ropeScale: rope.scale,
    ...(rope.invFreq ? { ropeInvFreq: rope.invFreq } : {}),
    ...gemma2Attn,
    rotaryPct: rope.fraction,
    eps: num(traits.names.eps, undefined, false),
    ropeStyle: "half",
    calibrationIds: [0],
  });
  // Biases and QK-norms as each modeling file builds them: Qwen2's q/k/v always, GPT-NeoX's unless attention_bias is
  // false, and attention_bias only where the modeling file reads it (Mistral's and Phi-3's never have biases, whatever
  // the config says; only Llama's MLP reads mlp_bias): a key the model ignores asks for no tensor.
  const bias =
    modelType === "qwen2" ||
    (neox && cfg.attention_bias !== false) ||
    (READS_ATTENTION_BIAS.includes(modelType) && cfg.attention_bias === true);
  const need = {
    attnBias: bias,
    oBias: bias && modelType !== "qwen2",
    mlpBias: modelType === "llama" && cfg.mlp_bias === true,
    qkNorm: modelType === "qwen3" || modelType === "apertus",
    fused: modelType === "phi3",
    sandwich: gemma2,
  };
  const weights = (neox ? neoxWeights : llamaWeights)(ck, config, fail, need);
  return { config, modelType, weights, ...tokenizerFiles(ck.dir, config.maxPositions) };
}

/** What changes the forward pass and is not applied: refused by name, never ignored. */
function refuseUnapplied(
  cfg: Record<string, any>,
  modelType: string,
  traits: FamilyTraits,
  fail: (m: string) => never,
) {
  // Absent, it is the config class's default, the one the type is converted with.
  // Gemma2MLP reads hidden_activation, and hidden_act not at all.
  const actKey = modelType === "gemma2" ? "hidden_activation" : "hidden_act";
  const given = cfg[actKey] ?? traits.activation;
  // GemmaConfig reads a legacy "gelu" as the tanh one.
  const act = modelType === "gemma" && given === "gelu" ? "gelu_pytorch_tanh" : given;
  if (act !== traits.activation)
    fail(
      `${actKey} ${JSON.stringify(cfg[actKey])} is not applied (${modelType} is converted with "${traits.activation}")`,
    );
  // Gemma 2's are applied (hfCheckpoint); no other type's modeling file reads them.
  for (const key of ["attn_logit_softcapping", "final_logit_softcapping"])
    if (modelType !== "gemma2" && cfg[key] !== undefined && cfg[key] !== null)
      fail(`"${key}" ${cfg[key]} is not applied (no soft-capping is written for ${modelType})`);
  if (cfg.use_bidirectional_attention) fail(`"use_bidirectional_attention" is not applied (the graph is causal)`);
  if (traits.parallel && cfg.use_parallel_residual === false)
    fail(`"use_parallel_residual": false is not applied (the GPT-NeoX graph is parallel, as Pythia is)`);
}

/**
 * A sliding window is exact as a cap on the context: within the window every earlier key is seen
 * (transformers' sliding_window_causal_mask), so prompts no longer than it need no window at all.
 */
function slidingWindow(cfg: Record<string, any>, modelType: string): number | undefined {
  // Gemma2Config's default window is 4096, on every other layer when layer_types is left out.
  const w = modelType === "gemma2" && cfg.sliding_window === undefined ? 4096 : cfg.sliding_window;
  if (typeof w !== "number") return undefined;
  if (modelType === "gemma2")
    return !Array.isArray(cfg.layer_types) || cfg.layer_types.includes("sliding_attention") ? w : undefined;
  // Qwen2/3 slide only on the layers layer_types marks (use_sliding_window in older configs).
  if (modelType === "qwen2" || modelType === "qwen3") {
    const marked = Array.isArray(cfg.layer_types)
      ? cfg.layer_types.includes("sliding_attention")
      : cfg.use_sliding_window === true;
    return marked ? w : undefined;
  }
  // Mistral and Phi-3 pass config.sliding_window to every layer's attention.
  return modelType === "mistral" || modelType === "phi3" ? w : undefined;
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
