/**
 * A HuggingFace checkpoint (config.json + safetensors) as the writer's config and weights. The graph is
 * chosen by config.json's model_type, whose entry in the architecture table (models/architectures/table.ts)
 * says which keys it reads, which tensors exist, what the norms and the MLP compute, where the biases are:
 * this file reads the entry and applies it. Weights are lazy: each is read when the writer asks for it.
 *
 * A config key that changes the forward pass and is not applied here is refused by name, and every
 * tensor of the checkpoint is read or named (a weight left out silently would change every number).
 */
import fs from "node:fs";
import path from "node:path";
import { MAX_POSITIONS, type ModelConfig, modelConfig } from "../writer/config.js";
import { tokenizerConfigJson } from "../writer/tokenizer.js";
import type { ModelWeights } from "../writer/types.js";
import { readJsonFile } from "../registry/schema.js";
import { type Checkpoint, SafetensorsError } from "./reader.js";
import { type Rope, ropeOf } from "./rope.js";
import { checkpointSource, gpt2Weights, llamaWeights, neoxWeights, type Needs, type TensorSource } from "./weights.js";

/** The readers of the layouts that are not model.layers.N.* (the table's `layout`). */
const LAYOUTS = { gpt_neox: neoxWeights, gpt2: gpt2Weights };
import {
  ARCHITECTURES,
  type Architecture,
  CHECKPOINT_TYPES,
  type CheckpointRules,
  type LayerType,
} from "../architectures/table.js";

const LAYER_TYPES: readonly string[] = ["full_attention", "sliding_attention"] satisfies LayerType[];

export interface Converted {
  config: ModelConfig;
  modelType: string;
  weights: ModelWeights;
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
 * A model from config.json's keys (as saved, or a GGUF's metadata mapped to them: models/architectures/gguf.ts) and its
 * tensors by transformers' names: each type's quirks are applied here, whatever file the weights come from.
 */
export function hfModel(cfg: Record<string, any>, src: TensorSource, inputs: ModelInputs): Converted {
  const { fail } = inputs;
  const modelType = String(cfg.model_type);
  const family = CHECKPOINT_TYPES.find((t) => t === modelType);
  const type =
    (family && ARCHITECTURES[family].checkpoint) ??
    fail(
      `model_type "${modelType}" is not converted (probespec converts ${CHECKPOINT_TYPES.join(", ")})${inputs.otherwise ? `; ${inputs.otherwise}` : ""}`,
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
  const traits = ARCHITECTURES[family!];
  // torch.topk refuses more experts per token than there are.
  const experts = traits.experts && { count: num("num_local_experts"), topK: num("num_experts_per_tok") };
  if (experts && experts.topK > experts.count)
    fail(
      `"num_experts_per_tok" is ${experts.topK}, more than the ${experts.count} experts "num_local_experts" gives each layer`,
    );
  const hd =
    type.headDim === "d/heads"
      ? d / heads
      : num("head_dim", type.headDim === "required" ? undefined : (type.headDim ?? d / heads));
  // The config class's defaults where config.json leaves a key out; null (or no default) turns soft-capping off.
  const softcap = (key: string, fallback: number | undefined) => {
    const v = cfg[key] === undefined ? fallback : cfg[key];
    if (v === null || v === undefined) return undefined;
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
  const kinds = layerTypes(cfg, type, layers, fail);
  // A family without RoPE (GPT-2's learned positions) reads no rope keys. Where each layer type has its own (Gemma 3),
  // the full layers' is the model's, and the sliding layers have theirs.
  const byType = ropesByLayerType(cfg, modelType, type, hd, fail);
  const rope: Rope = byType
    ? byType.full_attention
    : traits.rotaryFraction
      ? ropeOf(cfg, type, hd, fail)
      : { theta: 10000, fraction: 0 };
  const local = byType?.sliding_attention;
  const localLayers = kinds?.flatMap((k, l) => (k === "sliding_attention" ? [l] : [])) ?? [];
  if (inputs.ropeInvFreq) {
    if (inputs.ropeInvFreq.length !== (hd * rope.fraction) / 2)
      fail(`${inputs.ropeInvFreq.length} rotary frequencies are given for ${(hd * rope.fraction) / 2} rotary pairs`);
    Object.assign(rope, { invFreq: inputs.ropeInvFreq, scale: undefined });
  }
  // GPT2Attention's scaling is 1 where scale_attn_weights is false.
  const unscaled = type.scaleKey !== undefined && cfg[type.scaleKey] === false;
  const tied = typeof cfg.tie_word_embeddings === "boolean" ? cfg.tie_word_embeddings : traits.tied;
  const config = modelConfig({
    family: family!,
    layers,
    d,
    heads,
    kvHeads,
    ...(hd !== d / heads ? { headDim: hd } : {}),
    hidden,
    vocab,
    tied,
    ...(type.parallelKey && !traits.parallel ? { parallel: cfg[type.parallelKey] === true } : {}),
    maxPositions: Math.min(
      num("max_position_embeddings"),
      slidingWindow(cfg, type, kinds, fail) ?? Infinity,
      MAX_POSITIONS,
    ),
    ropeTheta: rope.theta,
    ropeScale: rope.scale,
    ...(rope.invFreq ? { ropeInvFreq: rope.invFreq } : {}),
    ...(local && localLayers.length
      ? {
          localRope: {
            layers: localLayers,
            theta: local.theta,
            ...(local.scale ? { scale: local.scale } : {}),
            ...(local.invFreq ? { invFreq: local.invFreq } : {}),
          },
        }
      : {}),
    ...capped,
    ...(unscaled ? { attnScale: 1 } : {}),
    ...(experts ? { experts } : {}),
    rotaryPct: rope.fraction,
    eps: num(traits.names.eps, undefined, false),
    ropeStyle: "half",
  });
  // Biases and QK-norms as each modeling file builds them: attention_bias and mlp_bias only where the modeling file
  // reads them, so that a key the model ignores asks for no tensor.
  const biasKey = cfg[type.biasKey ?? "attention_bias"];
  const bias =
    type.attnBias === "qkv" ||
    type.attnBias === "always" ||
    (type.attnBias === "unless-false" && biasKey !== false) ||
    ((type.attnBias === "if-true" || type.attnBias === "qkv-if-true") && biasKey === true);
  const need: Needs = {
    attnBias: bias,
    oBias: bias && type.attnBias !== "qkv" && type.attnBias !== "qkv-if-true",
    mlpBias: type.mlpBias === "always" || (type.mlpBias === "if-true" && cfg.mlp_bias === true),
    // Phi's and StableLM's only where qk_layernorm is true; Qwen3's, Apertus', Gemma 3's and OLMo 2's always.
    qkNorm: type.qkNorm && (type.qkNormKey === undefined || cfg[type.qkNormKey] === true) ? type.qkNorm : false,
    ...(type.qkNormBias ? { qkNormBias: true } : {}),
    ...(type.headBias ? { headBias: true } : {}),
    fused: !!type.fused,
    norms: type.norms ?? "pre",
    ...(traits.names.positions ? { positions: num("max_position_embeddings") } : {}),
    ...(experts ? { experts: experts.count } : {}),
  };
  const weights = (type.layout ? LAYOUTS[type.layout] : llamaWeights)(src, config, fail, need);
  return { config, modelType, weights, ...inputs.tokenizer(config.maxPositions) };
}

/** What changes the forward pass and is not applied: refused by name, never ignored. */
function refuseUnapplied(
  cfg: Record<string, any>,
  modelType: string,
  type: CheckpointRules,
  traits: Architecture,
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
  if (traits.parallel && type.parallelKey && cfg[type.parallelKey] === false)
    fail(`"${type.parallelKey}": false is not applied (the ${modelType} graph is parallel, as Pythia is)`);
}

/**
 * Each layer's attention, sliding or full, where the type alternates them (Gemma 2 and 3): layer_types, else the
 * config class's pattern, every `fullEvery`-th layer full (Gemma2Config and Gemma3TextConfig's __post_init__).
 */
function layerTypes(
  cfg: Record<string, any>,
  type: CheckpointRules,
  layers: number,
  fail: (m: string) => never,
): LayerType[] | undefined {
  const on = type.window;
  if (typeof on !== "object") return undefined;
  const given = cfg.layer_types;
  if (given !== undefined && given !== null) {
    if (!Array.isArray(given) || given.length !== layers || given.some((k) => !LAYER_TYPES.includes(k)))
      fail(
        `"layer_types" is ${JSON.stringify(given)}, where a list of ${layers} (one per layer) of ${LAYER_TYPES.map((k) => `"${k}"`).join(" or ")} is needed`,
      );
    return given;
  }
  const every = (on.patternKey && cfg[on.patternKey]) ?? on.fullEvery;
  if (typeof every !== "number" || !Number.isInteger(every) || every < 1)
    fail(`"${on.patternKey}" is ${JSON.stringify(every)}, where a whole number of layers, 1 or more, is needed`);
  return Array.from({ length: layers }, (_, l) => ((l + 1) % every ? "sliding_attention" : "full_attention"));
}

/**
 * RoPE per layer type, where the type has one per layer type (the table's rope.byLayerType), as
 * Gemma3TextConfig.convert_rope_params_to_dict reads it: rope_parameters keyed by layer type, a missing one default
 * RoPE; an older config's rope_scaling updates the full layers'; a theta left out is the top-level key's (rope_theta,
 * rope_local_base_freq), else the class's default.
 */
function ropesByLayerType(
  cfg: Record<string, any>,
  modelType: string,
  type: CheckpointRules,
  headDim: number,
  fail: (m: string) => never,
): Record<LayerType, Rope> | undefined {
  const byType = type.rope?.byLayerType;
  if (!byType) return undefined;
  const isObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  const given = cfg.rope_parameters;
  // Not keyed by layer type (a llama-style {"rope_type": …}): transformers fails on it (KeyError 'full_attention').
  if (given !== undefined && given !== null && (!isObject(given) || !LAYER_TYPES.some((k) => Object.hasOwn(given, k))))
    fail(
      `"rope_parameters" is ${JSON.stringify(given)}, where ${modelType} needs them keyed by layer type ({"full_attention": {…}, "sliding_attention": {…}})`,
    );
  const legacy = cfg.rope_scaling;
  if (legacy !== undefined && legacy !== null && !isObject(legacy))
    fail(
      `"rope_scaling" is ${JSON.stringify(legacy)}, where an object such as {"rope_type": "linear", "factor": 2} is needed`,
    );
  const ropes = {} as Record<LayerType, Rope>;
  for (const [kind, { key, theta }] of Object.entries(byType) as [LayerType, { key: string; theta: number }][]) {
    const own = given?.[kind];
    if (own !== undefined && own !== null && !isObject(own))
      fail(
        `"rope_parameters"."${kind}" is ${JSON.stringify(own)}, where an object such as {"rope_type": "default"} is needed`,
      );
    const p: Record<string, any> = { rope_type: "default", ...own, ...(kind === "full_attention" ? legacy : {}) };
    p.rope_theta ??= cfg[key] ?? theta;
    ropes[kind] = ropeOf({ ...cfg, rope_parameters: p, rope_scaling: undefined }, type, headDim, (m) =>
      fail(`${kind} layers: ${m}`),
    );
  }
  return ropes;
}

/**
 * A sliding window is exact as a cap on the context: within the window every earlier key is seen
 * (transformers' sliding_window_causal_mask), so prompts no longer than it need no window at all.
 */
function slidingWindow(
  cfg: Record<string, any>,
  type: CheckpointRules,
  kinds: LayerType[] | undefined,
  fail: (m: string) => never,
): number | undefined {
  const on = type.window;
  // Gemma 2's and 3's default window, where config.json leaves it out.
  const w = typeof on === "object" && cfg.sliding_window === undefined ? on.size : cfg.sliding_window;
  if (w === undefined || w === null) return undefined;
  if (typeof w !== "number" || !Number.isInteger(w) || w < 1)
    fail(`"sliding_window" is ${JSON.stringify(w)}, where a whole number of tokens, 1 or more (or null), is needed`);
  if (typeof on === "object") return kinds?.includes("sliding_attention") ? w : undefined;
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
