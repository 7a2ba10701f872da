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
import type { AnalogWeights, LayerWeights } from "../analogs/weights.js";
import { readJsonFile } from "../registry/schema.js";
import { assertReadable, type Checkpoint, readTensor, SafetensorsError } from "./reader.js";

interface ModelType {
  /** The writer's family: its norm, activation, embedding scale and residual. */
  family: AnalogFamily;
  /** The activation that family computes, as config.json's hidden_act names it. */
  act: string;
  /** transformers' default for tie_word_embeddings, where config.json leaves it out. */
  tied: boolean;
  /** The key of the norms' epsilon. */
  eps: "rms_norm_eps" | "layer_norm_eps";
}

/** Per type, from modeling_<type>.py: llama-named tensors unless gpt_neox. */
const TYPES: Record<string, ModelType> = {
  llama: { family: "llama", act: "silu", tied: false, eps: "rms_norm_eps" },
  mistral: { family: "mistral", act: "silu", tied: false, eps: "rms_norm_eps" },
  // Qwen2: q/k/v always carry biases (nn.Linear(..., bias=True)), read where the tensors are.
  qwen2: { family: "llama", act: "silu", tied: false, eps: "rms_norm_eps" },
  // Qwen3: q_norm and k_norm, RMSNorm over each head before RoPE.
  qwen3: { family: "llama", act: "silu", tied: false, eps: "rms_norm_eps" },
  // Gemma: embedding × √d, RMSNorm gain 1 + w, tied, GeGLU (GemmaConfig reads a legacy "gelu" as the tanh one).
  gemma: { family: "gemma", act: "gelu_pytorch_tanh", tied: true, eps: "rms_norm_eps" },
  // GPT-NeoX (Pythia): LayerNorm with biases, parallel residual, partial rotary, fused per-head [q|k|v].
  gpt_neox: { family: "pythia", act: "gelu", tied: false, eps: "layer_norm_eps" },
};
export const MODEL_TYPES = Object.keys(TYPES);

/** Buffers older checkpoints carry that transformers skips on load (_keys_to_ignore_on_load_unexpected). */
const IGNORED = [/\.attention\.(bias|masked_bias)$/, /\.rotary_emb\.inv_freq$/];

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
  const type =
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
  const neox = type.family === "pythia";
  // GPT-NeoX's head is always hidden_size / heads (GPTNeoXAttention.head_size).
  const hd = neox ? d / heads : num("head_dim", modelType === "gemma" ? undefined : d / heads);
  refuseUnapplied(cfg, modelType, type, fail);
  const rope = ropeOf(cfg, neox, fail);
  const tied = typeof cfg.tie_word_embeddings === "boolean" ? cfg.tie_word_embeddings : type.tied;
  const config = analogConfig(type.family, {
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
    rotaryPct: rope.fraction,
    eps: num(type.eps, undefined, false),
    ropeStyle: "half",
    calibrationIds: [0],
  });
  const weights = neox
    ? neoxWeights(ck, config, fail)
    : llamaWeights(ck, config, fail, {
        attnBias: modelType === "qwen2" || cfg.attention_bias === true,
        mlpBias: cfg.mlp_bias === true,
        qkNorm: modelType === "qwen3",
      });
  return { config, modelType, weights, ...tokenizerFiles(ck.dir, config.maxPositions) };
}

/** What changes the forward pass and is not applied: refused by name, never ignored. */
function refuseUnapplied(cfg: Record<string, any>, modelType: string, type: ModelType, fail: (m: string) => never) {
  const act = modelType === "gemma" && cfg.hidden_act === "gelu" ? "gelu_pytorch_tanh" : cfg.hidden_act;
  if (act !== type.act)
    fail(`hidden_act ${JSON.stringify(cfg.hidden_act)} is not applied (${modelType} is converted with "${type.act}")`);
  for (const key of ["attn_logit_softcapping", "final_logit_softcapping"])
    if (cfg[key] !== undefined && cfg[key] !== null)
      fail(`"${key}" ${cfg[key]} is not applied (no soft-capping is written)`);
  if (cfg.use_bidirectional_attention) fail(`"use_bidirectional_attention" is not applied (the graph is causal)`);
  if (modelType === "gpt_neox" && cfg.use_parallel_residual === false)
    fail(`"use_parallel_residual": false is not applied (the GPT-NeoX graph is parallel, as Pythia is)`);
}

/**
 * A sliding window is exact as a cap on the context: within the window every earlier key is seen
 * (transformers' sliding_window_causal_mask), so prompts no longer than it need no window at all.
 */
function slidingWindow(cfg: Record<string, any>, modelType: string): number | undefined {
  const w = cfg.sliding_window;
  if (typeof w !== "number") return undefined;
  // Qwen2/3 slide only on the layers layer_types marks (use_sliding_window in older configs).
  if (modelType === "qwen2" || modelType === "qwen3") {
    const marked = Array.isArray(cfg.layer_types)
      ? cfg.layer_types.includes("sliding_attention")
      : cfg.use_sliding_window === true;
    return marked ? w : undefined;
  }
  return modelType === "mistral" ? w : undefined;
}

/**
 * RoPE as config.json gives it: transformers 5's rope_parameters, or the older rope_theta and
 * rope_scaling (GPT-NeoX: rotary_emb_base, rotary_pct). Types other than default and linear are refused.
 */
function ropeOf(cfg: Record<string, any>, neox: boolean, fail: (m: string) => never) {
  const p: Record<string, any> = cfg.rope_parameters ?? { ...cfg.rope_scaling };
  const theta = p.rope_theta ?? cfg.rope_theta ?? (neox ? cfg.rotary_emb_base : undefined) ?? 10000;
  const fraction = p.partial_rotary_factor ?? cfg.partial_rotary_factor ?? (neox ? cfg.rotary_pct : undefined) ?? 1;
  const kind = p.rope_type ?? p.type ?? "default";
  if (typeof theta !== "number" || !(theta > 0)) fail(`rope theta ${JSON.stringify(theta)} is not a positive number`);
  if (typeof fraction !== "number" || !(fraction > 0 && fraction <= 1))
    fail(`partial rotary factor ${JSON.stringify(fraction)} is not in (0, 1]`);
  if (kind === "default") return { theta, fraction, scale: undefined };
  if (kind === "linear" && typeof p.factor === "number" && p.factor > 0)
    return { theta, fraction, scale: p.factor === 1 ? undefined : p.factor };
  return fail(
    `rope_scaling of type ${JSON.stringify(kind)} is not applied (probespec applies default and linear RoPE)`,
  );
}

/** A reader of the checkpoint's tensors by name and expected shape, and the names it was asked for. */
function tensors(ck: Checkpoint, fail: (m: string, file?: string) => never) {
  const asked = new Set<string>();
  const has = (name: string) => ck.tensors.has(name);
  const read = (name: string, shape: number[]): Float32Array => {
    asked.add(name);
    const t = ck.tensors.get(name) ?? fail(`the checkpoint has no tensor "${name}"`, ck.files.join(", "));
    if (t.shape.join() !== shape.join()) fail(`tensor "${name}" is [${t.shape}], where [${shape}] is expected`, t.file);
    return readTensor(t);
  };
  const optional = (name: string, shape: number[]) => (has(name) ? read(name, shape) : undefined);
  /** Every tensor is one the weights name, or one transformers ignores too; every one named is there. */
  const checkAllRead = (names: string[]) => {
    const wanted = new Set(names);
    // What will be read is there and readable, before anything is hashed or written.
    for (const n of wanted)
      assertReadable(ck.tensors.get(n) ?? fail(`the checkpoint has no tensor "${n}"`, ck.files.join(", ")));
    const unread = [...ck.tensors.keys()].filter((n) => !wanted.has(n) && !IGNORED.some((r) => r.test(n)));
    if (unread.length)
      fail(
        `tensor${unread.length > 1 ? "s" : ""} ${unread
          .slice(0, 5)
          .map((n) => `"${n}"`)
          .join(
            ", ",
          )}${unread.length > 5 ? ` and ${unread.length - 5} more` : ""} would not be read by the converter; probespec refuses the checkpoint rather than leave weights out`,
        ck.files.join(", "),
      );
  };
  return { has, read, optional, checkAllRead };
}

/** llama, mistral, qwen2, qwen3, gemma: model.layers.N.{self_attn,mlp}.*, model.norm, lm_head. */
function llamaWeights(
  ck: Checkpoint,
  c: AnalogConfig,
  fail: (m: string, file?: string) => never,
  need: { attnBias: boolean; mlpBias: boolean; qkNorm: boolean },
): AnalogWeights {
  const { d, heads, kvHeads, hidden, vocab } = c;
  const hd = c.headDim ?? d / heads;
  const t = tensors(ck, fail);
  // What the config says the model has must be there: transformers would fill a missing one at random.
  const shapes = (l: number): Record<string, number[]> => {
    const p = `model.layers.${l}`;
    const o = optionalShapes(l);
    const pick = (on: boolean, ...names: string[]) =>
      on ? Object.fromEntries(names.map((n) => [`${p}.${n}`, o[`${p}.${n}`]])) : {};
    return {
      ...pick(need.attnBias, "self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"),
      ...pick(need.attnBias && c.family !== "llama", "self_attn.o_proj.bias"),
      ...pick(need.mlpBias, "mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias"),
      ...pick(need.qkNorm, "self_attn.q_norm.weight", "self_attn.k_norm.weight"),
      [`${p}.input_layernorm.weight`]: [d],
      [`${p}.post_attention_layernorm.weight`]: [d],
      [`${p}.self_attn.q_proj.weight`]: [heads * hd, d],
      [`${p}.self_attn.k_proj.weight`]: [kvHeads * hd, d],
      [`${p}.self_attn.v_proj.weight`]: [kvHeads * hd, d],
      [`${p}.self_attn.o_proj.weight`]: [d, heads * hd],
      [`${p}.mlp.gate_proj.weight`]: [hidden, d],
      [`${p}.mlp.up_proj.weight`]: [hidden, d],
      [`${p}.mlp.down_proj.weight`]: [d, hidden],
    };
  };
  const optionalShapes = (l: number): Record<string, number[]> => {
    const p = `model.layers.${l}`;
    return {
      [`${p}.self_attn.q_proj.bias`]: [heads * hd],
      [`${p}.self_attn.k_proj.bias`]: [kvHeads * hd],
      [`${p}.self_attn.v_proj.bias`]: [kvHeads * hd],
      [`${p}.self_attn.o_proj.bias`]: [d],
      [`${p}.self_attn.q_norm.weight`]: [hd],
      [`${p}.self_attn.k_norm.weight`]: [hd],
      [`${p}.mlp.gate_proj.bias`]: [hidden],
      [`${p}.mlp.up_proj.bias`]: [hidden],
      [`${p}.mlp.down_proj.bias`]: [d],
    };
  };
  // A tied checkpoint may still hold lm_head.weight: transformers ties it to the embedding, so it is not read.
  const lmHead = !c.tied;
  t.checkAllRead([
    "model.embed_tokens.weight",
    "model.norm.weight",
    ...(lmHead ? ["lm_head.weight"] : c.tied && t.has("lm_head.weight") ? ["lm_head.weight"] : []),
    ...Array.from({ length: c.layers }, (_, l) => [
      ...Object.keys(shapes(l)),
      ...Object.keys(optionalShapes(l)).filter(t.has),
    ]).flat(),
  ]);
  const layer = (l: number): LayerWeights => {
    const p = `model.layers.${l}`;
    const must = (n: string) => t.read(`${p}.${n}`, shapes(l)[`${p}.${n}`]);
    const may = (n: string) =>
      `${p}.${n}` in shapes(l) ? must(n) : t.optional(`${p}.${n}`, optionalShapes(l)[`${p}.${n}`]);
    return {
      get norm1() {
        return must("input_layernorm.weight");
      },
      get norm2() {
        return must("post_attention_layernorm.weight");
      },
      get q() {
        return must("self_attn.q_proj.weight");
      },
      get k() {
        return must("self_attn.k_proj.weight");
      },
      get v() {
        return must("self_attn.v_proj.weight");
      },
      get o() {
        return must("self_attn.o_proj.weight");
      },
      get qBias() {
        return may("self_attn.q_proj.bias");
      },
      get kBias() {
        return may("self_attn.k_proj.bias");
      },
      get vBias() {
        return may("self_attn.v_proj.bias");
      },
      get oBias() {
        return may("self_attn.o_proj.bias");
      },
      get qNorm() {
        return may("self_attn.q_norm.weight");
      },
      get kNorm() {
        return may("self_attn.k_norm.weight");
      },
      get gate() {
        return must("mlp.gate_proj.weight");
      },
      get up() {
        return must("mlp.up_proj.weight");
      },
      get down() {
        return must("mlp.down_proj.weight");
      },
      get gateBias() {
        return may("mlp.gate_proj.bias");
      },
      get upBias() {
        return may("mlp.up_proj.bias");
      },
      get downBias() {
        return may("mlp.down_proj.bias");
      },
    };
  };
  return {
    get embed() {
      return t.read("model.embed_tokens.weight", [vocab, d]);
    },
    layers: Array.from({ length: c.layers }, (_, l) => layer(l)),
    get finalNorm() {
      return t.read("model.norm.weight", [d]);
    },
    get lmHead() {
      return lmHead ? t.read("lm_head.weight", [vocab, d]) : this.embed;
    },
  };
}

/**
 * gpt_neox: gpt_neox.layers.N.{attention,mlp}.*, final_layer_norm, embed_out (lm_head since
 * transformers 5 renames it on load). query_key_value is viewed as [heads, 3 × head] (GPTNeoXAttention:
 * view(..., -1, 3 * head_size), then chunk(3)): its rows are per head, q then k then v.
 */
function neoxWeights(ck: Checkpoint, c: AnalogConfig, fail: (m: string, file?: string) => never): AnalogWeights {
  const { d, heads, hidden, vocab } = c;
  const hd = d / heads;
  const t = tensors(ck, fail);
  const head = t.has("embed_out.weight") ? "embed_out.weight" : "lm_head.weight";
  const names = (l: number) => {
    const p = `gpt_neox.layers.${l}`;
    return [
      ...["input_layernorm", "post_attention_layernorm"].flatMap((n) => [`${p}.${n}.weight`, `${p}.${n}.bias`]),
      `${p}.attention.query_key_value.weight`,
      `${p}.attention.dense.weight`,
      `${p}.mlp.dense_h_to_4h.weight`,
      `${p}.mlp.dense_h_to_4h.bias`,
      `${p}.mlp.dense_4h_to_h.weight`,
      `${p}.mlp.dense_4h_to_h.bias`,
      // attention_bias (default true): absent biases are zeros, which the writer's fused add then adds.
      ...[`${p}.attention.query_key_value.bias`, `${p}.attention.dense.bias`].filter(t.has),
    ];
  };
  t.checkAllRead([
    "gpt_neox.embed_in.weight",
    "gpt_neox.final_layer_norm.weight",
    "gpt_neox.final_layer_norm.bias",
    ...(c.tied && !t.has(head) ? [] : [head]),
    ...Array.from({ length: c.layers }, (_, l) => names(l)).flat(),
  ]);
  // The writer asks for q, k, v and their biases in turn: one layer's split is kept, not read six times.
  let split: { l: number; parts: { w: Float32Array; b: Float32Array }[] } | undefined;
  const layer = (l: number): LayerWeights => {
    const p = `gpt_neox.layers.${l}`;
    const part = (k: number) => {
      if (split?.l !== l) split = { l, parts: [0, 1, 2].map(cut) };
      return split.parts[k];
    };
    /** One of q, k, v (part 0, 1, 2): its rows out of every head's block of 3 × hd. */
    const cut = (k: number) => {
      const qkv = t.read(`${p}.attention.query_key_value.weight`, [3 * d, d]);
      const bias = t.optional(`${p}.attention.query_key_value.bias`, [3 * d]);
      const w = new Float32Array(d * d),
        b = new Float32Array(d);
      for (let h = 0; h < heads; h++) {
        const from = (h * 3 + k) * hd;
        w.set(qkv.subarray(from * d, (from + hd) * d), h * hd * d);
        if (bias) b.set(bias.subarray(from, from + hd), h * hd);
      }
      return { w, b };
    };
    return {
      get norm1() {
        return t.read(`${p}.input_layernorm.weight`, [d]);
      },
      get norm1Bias() {
        return t.read(`${p}.input_layernorm.bias`, [d]);
      },
      get norm2() {
        return t.read(`${p}.post_attention_layernorm.weight`, [d]);
      },
      get norm2Bias() {
        return t.read(`${p}.post_attention_layernorm.bias`, [d]);
      },
      get q() {
        return part(0).w;
      },
      get k() {
        return part(1).w;
      },
      get v() {
        return part(2).w;
      },
      get qBias() {
        return part(0).b;
      },
      get kBias() {
        return part(1).b;
      },
      get vBias() {
        return part(2).b;
      },
      get o() {
        return t.read(`${p}.attention.dense.weight`, [d, d]);
      },
      get oBias() {
        return t.optional(`${p}.attention.dense.bias`, [d]);
      },
      get up() {
        return t.read(`${p}.mlp.dense_h_to_4h.weight`, [hidden, d]);
      },
      get upBias() {
        return t.read(`${p}.mlp.dense_h_to_4h.bias`, [hidden]);
      },
      get down() {
        return t.read(`${p}.mlp.dense_4h_to_h.weight`, [d, hidden]);
      },
      get downBias() {
        return t.read(`${p}.mlp.dense_4h_to_h.bias`, [d]);
      },
    };
  };
  return {
    get embed() {
      return t.read("gpt_neox.embed_in.weight", [vocab, d]);
    },
    layers: Array.from({ length: c.layers }, (_, l) => layer(l)),
    get finalNorm() {
      return t.read("gpt_neox.final_layer_norm.weight", [d]);
    },
    get finalNormBias() {
      return t.read("gpt_neox.final_layer_norm.bias", [d]);
    },
    get lmHead() {
      return c.tied ? this.embed : t.read(head, [vocab, d]);
    },
  };
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
