/**
 * A checkpoint's tensors as the writer's weights, by transformers' own names ([out, in] matrices, as
 * nn.Linear stores them and the writer takes them). Lazy: each is read when the writer asks for it,
 * so a model is never whole in memory.
 */
import fs from "node:fs";
import type { ModelConfig } from "../writer/config.js";
import type { ModelWeights, Expert, LayerWeights, Matrix } from "../writer/types.js";
import { parallelOf, traitsOf } from "../architectures/table.js";
import { DT } from "../../onnx/graph.js";
import { halfRows, halfOf, type HalfMatrix } from "../writer/half.js";
import { gatherRows, quantizedOf } from "../writer/quantized.js";
import { assertReadable, type Checkpoint, readHalf, readTensor } from "./reader.js";

/** The tensors a type's config says its model has: transformers would fill a missing one at random, so it is refused. */
export interface Needs {
  attnBias: boolean;
  /** o_proj's bias too (llama's attention_bias; Qwen2 has q/k/v biases only). */
  oBias: boolean;
  mlpBias: boolean;
  /**
   * q_norm and k_norm: a gain per head dim (Qwen3, Gemma 3, Phi), over every head's at once (OLMo 2), or a gain of its
   * own for each head, q_layernorm.norms.N (StableLM's StableLmLayerNormPerHead).
   */
  qkNorm: false | "head" | "whole" | "each";
  /** The QK-norms have biases (Phi's q_layernorm). */
  qkNormBias?: boolean;
  /** lm_head.bias (PhiForCausalLM's). */
  headBias?: boolean;
  /** Phi-3's fused projections: qkv_proj as q, k, v rows one after another, gate_up_proj as gate then up. */
  fused?: boolean;
  /**
   * Where the layer's norms are: before each branch (input_ and post_attention_layernorm, by the family's names);
   * around both (Gemma 2's input_, post_attention_, pre_feedforward_ and post_feedforward_layernorm); or only on each
   * branch's output (OLMo 2's post_attention_ and post_feedforward_layernorm).
   */
  norms?: "pre" | "sandwich" | "post";
  /** Rows of a learned position table (GPT-2's n_positions), of which the graph keeps the config's maxPositions. */
  positions?: number;
  /** Experts per layer, in place of the MLP (Mixtral's num_local_experts). */
  experts?: number;
}

type Fail = (m: string, file?: string) => never;

/**
 * A checkpoint's tensors by transformers' own names and shapes, whatever holds them: a safetensors checkpoint as
 * saved, or a GGUF file read back through its architecture's record (models/architectures/gguf.ts), each of its tensors
 * renamed and the converter's transform undone, so that one reader per layout serves both.
 */
export interface TensorSource {
  /** Every tensor the source holds, by name, with its shape. */
  shapes: ReadonlyMap<string, readonly number[]>;
  /** The files, as messages name them; `name`'s own file where it has one. */
  where(name?: string): string;
  /** A tensor as messages name it (a GGUF's own name beside transformers'). */
  label(name: string): string;
  /** Refuses a tensor whose stored type cannot be read, naming it. */
  check(name: string): void;
  /**
   * Its values. `matrix`: a [rows, cols] weight, which may come in a compact form the writer keeps (16 bits read in
   * place, half.ts; a GGUF block format's codes, quantized.ts); anything else is float32. `index`: the index-th
   * matrix of a stack [n, rows, cols], read alone at its own offset.
   */
  read(name: string, matrix: boolean, index?: number): Matrix;
  /** A Conv1D weight the source holds already turned to nn.Linear's [out, in] (a GGUF's: llama.cpp's converter transposes it). */
  turned?(name: string): boolean;
}

/** A safetensors checkpoint as a source: float16 and bfloat16 matrices kept at 16 bits where they lie in its files. */
export function checkpointSource(ck: Checkpoint): TensorSource {
  return {
    shapes: new Map([...ck.tensors].map(([n, t]) => [n, t.shape])),
    where: (name) => (name === undefined ? ck.files.join(", ") : ck.tensors.get(name)!.file),
    label: (name) => `"${name}"`,
    check: (name) => assertReadable(ck.tensors.get(name)!),
    read(name, matrix, index) {
      const whole = ck.tensors.get(name)!;
      const t =
        index === undefined
          ? whole
          : {
              ...whole,
              name: `${name}[${index}]`,
              shape: whole.shape.slice(1),
              offset: whole.offset + (index * whole.length) / whole.shape[0],
              length: whole.length / whole.shape[0],
            };
      if (matrix && t.shape.length === 2 && (t.dtype === "BF16" || t.dtype === "F16"))
        return {
          form: "half",
          type: t.dtype === "BF16" ? DT.BFLOAT16 : DT.FLOAT16,
          rows: t.shape[0],
          cols: t.shape[1],
          get bits() {
            return readHalf(t);
          },
          at: { file: fs.realpathSync(t.file), offset: t.offset },
        };
      return readTensor(t);
    },
  };
}

/** Buffers older checkpoints carry that transformers skips on load (_keys_to_ignore_on_load_unexpected). */
const IGNORED = [/\.(attention|attn)\.(bias|masked_bias)$/, /\.rotary_emb\.inv_freq$/];

/** An object whose fields are read when asked for. */
function lazy<T>(fields: { [K in keyof T]: () => T[K] }): T {
  const o = {} as T;
  for (const [k, get] of Object.entries(fields))
    Object.defineProperty(o, k, { get: get as () => unknown, enumerable: true });
  return o;
}

/**
 * Reads by name, after checking that every name the weights will read is there, of a readable dtype
 * and of its shape, and that every tensor of the checkpoint is one of them (or one transformers ignores
 * too): a weight left out silently would change every number.
 */
function reader(src: TensorSource, fail: Fail, names: { [name: string]: number[] }) {
  // Every shape before anything is estimated or allocated from the config: a config that does not match its weights
  // (a hidden_size of 32000000) is a broken checkpoint, not one too big for the machine.
  for (const n of Object.keys(names)) {
    const shape = src.shapes.get(n) ?? fail(`the checkpoint has no tensor ${src.label(n)}`, src.where());
    src.check(n);
    if (shape.join() !== names[n].join())
      fail(`tensor ${src.label(n)} is [${shape}], where [${names[n]}] is expected`, src.where(n));
  }
  const unread = [...src.shapes.keys()].filter((n) => !Object.hasOwn(names, n) && !IGNORED.some((r) => r.test(n)));
  if (unread.length)
    fail(
      `${unread.length > 1 ? "tensors" : "tensor"} ${unread
        .slice(0, 5)
        .map(src.label)
        .join(", ")}${unread.length > 5 ? ` and ${unread.length - 5} more` : ""} would not be read by the converter; ` +
        "probespec refuses the checkpoint rather than leave weights out",
      src.where(),
    );
  /**
   * `matrix`: a [rows, cols] weight, which may come in a compact form (16 bits, block codes) the writer keeps;
   * anything else, and every vector, is read as float32. `index`: the index-th [rows, cols] matrix of a stack of
   * them, [n, rows, cols] (Mixtral's fused experts), read alone.
   */
  return ((name: string, matrix = false, index?: number) => src.read(name, matrix, index)) as Read;
}

/** A reader's read: a vector (or a matrix asked for as stored) is float32, a matrix may be in a compact form. */
type Read = {
  (name: string, matrix?: false, index?: number): Float32Array;
  (name: string, matrix: boolean, index?: number): Matrix;
};

/** Rows [from, to) of a [rows, cols] matrix, in its own form: 16 bits, a block format's codes, or float32. */
function rowsOf(w: Matrix, cols: number, from: number, to: number): Matrix {
  const h = halfOf(w),
    q = quantizedOf(w);
  if (h) return halfRows(h, from, to);
  if (q)
    return gatherRows(
      q,
      Array.from({ length: to - from }, (_, i) => from + i),
    );
  return (w as Float32Array).subarray(from * cols, to * cols);
}

/** The 16-bit forms a checkpoint's weights will keep, as the cache key and the converted folder name them: "bf16", "fp16". */
export function halfForms(ck: Checkpoint): string[] {
  const forms = new Set<string>();
  for (const t of ck.tensors.values())
    if (t.shape.length === 2 && (t.dtype === "BF16" || t.dtype === "F16"))
      forms.add(t.dtype === "BF16" ? "bf16" : "fp16");
  return [...forms].sort();
}

/**
 * xIELU's per-layer parameters as activations.py's XIELUActivation computes with them: alpha_p and alpha_n
 * are stored before their softplus, and alpha_n's effective value is beta + softplus(alpha_n).
 */
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
const xielu = (alphaP: number, alphaN: number, beta: number, eps: number) => ({
  alphaP: softplus(alphaP),
  alphaN: beta + softplus(alphaN),
  beta,
  eps,
});

/**
 * llama, mistral, qwen2, qwen3, gemma, apertus, phi3, phi, stablelm: model.layers.N.{self_attn,mlp}.*, the final norm,
 * lm_head, under the family's module names (Phi's dense, fc1, fc2 and final_layernorm); LayerNorms with biases.
 */
export function llamaWeights(src: TensorSource, c: ModelConfig, fail: Fail, need: Needs): ModelWeights {
  const { d, heads, kvHeads, hidden, vocab } = c;
  const hd = c.headDim ?? d / heads;
  const has = (n: string) => src.shapes.has(n);
  // The family's traits: its modules' and norms' names, whether its MLP has a gate, its norms' biases (nn.LayerNorm's),
  // and xIELU's parameters in mlp.act_fn (Apertus).
  const traits = traitsOf(c);
  const { o, up, down, finalNorm } = traits.names;
  const [qNorm, kNorm] = traits.names.qkNorms ?? ["q_norm", "k_norm"];
  const normBias = traits.norm === "layer";
  const names: { [name: string]: number[] } = {
    "model.embed_tokens.weight": [vocab, d],
    [`model.${finalNorm}.weight`]: [d],
    ...(normBias ? { [`model.${finalNorm}.bias`]: [d] } : {}),
  };
  const hasXielu = traits.activation === "xielu";
  // n1 and n2 are the norms before attention and before the MLP (none in OLMo 2; Phi's one, shared, feeds both, and
  // there is no n2); Gemma 2's and OLMo 2's post_attention_layernorm is on the attention's output, and
  // post_feedforward_layernorm on the MLP's.
  const norms = need.norms ?? "pre";
  const before =
    norms === "post"
      ? undefined
      : norms === "sandwich"
        ? ["input_layernorm", "pre_feedforward_layernorm"]
        : traits.names.norms;
  const [n1, n2] = before ?? [];
  const shared = parallelOf(c) && !!traits.sharedNorm;
  const after = norms !== "pre";
  // A tied checkpoint may still hold lm_head.weight: transformers ties it to the embedding, so it is not read.
  if (!c.tied || has("lm_head.weight")) names["lm_head.weight"] = [vocab, d];
  if (need.headBias) names["lm_head.bias"] = [vocab];
  // QK-norms over one head, or one for each head (StableLM's q_layernorm.norms.N).
  const qkNames = (norm: string, n: number) =>
    need.qkNorm === "each"
      ? Array.from({ length: n }, (_, h) => `self_attn.${norm}.norms.${h}`)
      : [`self_attn.${norm}`];
  // A mixture of experts in place of the dense MLP (Mixtral): its tensors' names, per layer.
  const E = need.experts ?? 0;
  const dense = !E;
  const moe = Array.from({ length: E ? c.layers : 0 }, (_, l) => moeNames(has, `model.layers.${l}`, E));
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    const add = (on: boolean, shapes: Record<string, number[]>) => {
      // Only what the config promises: transformers drops any other tensor on load, and so the unread check refuses it.
      if (on) for (const [n, s] of Object.entries(shapes)) names[`${p}.${n}`] = s;
    };
    add(true, { [`self_attn.${o}.weight`]: [d, heads * hd] });
    add(!!before, { [`${n1}.weight`]: [d] });
    add(!!before && !shared, { [`${n2}.weight`]: [d] });
    add(!!before && normBias, { [`${n1}.bias`]: [d] });
    add(!!before && !shared && normBias, { [`${n2}.bias`]: [d] });
    add(dense, { [`mlp.${down}.weight`]: [d, hidden] });
    add(!need.fused, {
      "self_attn.q_proj.weight": [heads * hd, d],
      "self_attn.k_proj.weight": [kvHeads * hd, d],
      "self_attn.v_proj.weight": [kvHeads * hd, d],
    });
    add(!need.fused && dense, { [`mlp.${up}.weight`]: [hidden, d] });
    add(!need.fused && dense && traits.gated, { "mlp.gate_proj.weight": [hidden, d] });
    if (E) {
      const m = moe[l];
      names[m.router] = [E, d];
      if (m.fused) Object.assign(names, { [m.fused.gateUp]: [E, 2 * hidden, d], [m.fused.down]: [E, d, hidden] });
      else
        for (const x of m.perExpert!)
          Object.assign(names, { [x.gate]: [hidden, d], [x.up]: [hidden, d], [x.down]: [d, hidden] });
    }
    add(after, { "post_attention_layernorm.weight": [d], "post_feedforward_layernorm.weight": [d] });
    add(!!need.fused, {
      "self_attn.qkv_proj.weight": [(heads + 2 * kvHeads) * hd, d],
      "mlp.gate_up_proj.weight": [2 * hidden, d],
    });
    add(hasXielu, {
      "mlp.act_fn.alpha_p": [1],
      "mlp.act_fn.alpha_n": [1],
      "mlp.act_fn.beta": [],
      "mlp.act_fn.eps": [],
    });
    add(need.attnBias, {
      "self_attn.q_proj.bias": [heads * hd],
      "self_attn.k_proj.bias": [kvHeads * hd],
      "self_attn.v_proj.bias": [kvHeads * hd],
    });
    add(need.oBias, { [`self_attn.${o}.bias`]: [d] });
    add(need.mlpBias, { [`mlp.${up}.bias`]: [hidden], [`mlp.${down}.bias`]: [d] });
    add(need.mlpBias && traits.gated, { "mlp.gate_proj.bias": [hidden] });
    // Olmo2Attention's q_norm is RMSNorm(num_attention_heads × head_dim), k_norm RMSNorm(num_key_value_heads × head_dim);
    // the others' are over one head (StableLM's, one for each head).
    const [qn, kn] = need.qkNorm === "whole" ? [heads * hd, kvHeads * hd] : [hd, hd];
    if (need.qkNorm)
      for (const [n, width] of [
        ...qkNames(qNorm, heads).map((n) => [n, qn] as const),
        ...qkNames(kNorm, kvHeads).map((n) => [n, kn] as const),
      ]) {
        add(true, { [`${n}.weight`]: [width] });
        add(!!need.qkNormBias, { [`${n}.bias`]: [width] });
      }
  }
  const read = reader(src, fail, names);
  const layer = (l: number): LayerWeights => {
    const p = `model.layers.${l}`;
    const must = (n: string) => () => read(`${p}.${n}`);
    const matrix = (n: string) => () => read(`${p}.${n}`, true);
    const has = (n: string) => Object.hasOwn(names, `${p}.${n}`);
    const may = (n: string) => () => (has(n) ? read(`${p}.${n}`) : undefined);
    const scalar = (n: string) => read(`${p}.mlp.act_fn.${n}`)[0];
    /** A QK-norm's gains or biases: one head's, or every head's one after another. */
    const qk = (norm: string, n: number, part: "weight" | "bias") => () => {
      const parts = qkNames(norm, n).map((m) => `${p}.${m}.${part}`);
      if (!Object.hasOwn(names, parts[0])) return undefined;
      if (parts.length === 1) return read(parts[0]);
      const all = new Float32Array(n * hd);
      parts.forEach((m, h) => all.set(read(m), h * hd));
      return all;
    };
    /** Rows [from, to) of a fused [rows, d] matrix (Phi3Attention slices qkv at heads × hd and kv × hd; Phi3MLP chunks gate_up in two). */
    const rows = (n: string, from: number, to: number) => () => rowsOf(read(`${p}.${n}`, true), d, from, to);
    const [q, k] = [heads * hd, (heads + kvHeads) * hd];
    /** A mixture-of-experts layer's dense MLP: there is none, and asking for it is the writer's mistake. */
    const noDense = () => fail(`layer ${l} is a mixture of experts and has no dense MLP`);
    const fused = need.fused && {
      q: rows("self_attn.qkv_proj.weight", 0, q),
      k: rows("self_attn.qkv_proj.weight", q, k),
      v: rows("self_attn.qkv_proj.weight", k, k + kvHeads * hd),
      gate: rows("mlp.gate_up_proj.weight", 0, hidden),
      up: rows("mlp.gate_up_proj.weight", hidden, 2 * hidden),
    };
    return lazy<LayerWeights>({
      norm1: before ? must(`${n1}.weight`) : () => undefined,
      norm1Bias: may(`${n1}.bias`),
      norm2: before && !shared ? must(`${n2}.weight`) : () => undefined,
      norm2Bias: may(`${n2}.bias`),
      q: fused ? fused.q : matrix("self_attn.q_proj.weight"),
      k: fused ? fused.k : matrix("self_attn.k_proj.weight"),
      v: fused ? fused.v : matrix("self_attn.v_proj.weight"),
      o: matrix(`self_attn.${o}.weight`),
      qBias: may("self_attn.q_proj.bias"),
      kBias: may("self_attn.k_proj.bias"),
      vBias: may("self_attn.v_proj.bias"),
      oBias: may(`self_attn.${o}.bias`),
      qNorm: qk(qNorm, heads, "weight"),
      kNorm: qk(kNorm, kvHeads, "weight"),
      qNormBias: qk(qNorm, heads, "bias"),
      kNormBias: qk(kNorm, kvHeads, "bias"),
      qkNormEach: () => need.qkNorm === "each",
      gate: fused
        ? fused.gate
        : () => (has("mlp.gate_proj.weight") ? read(`${p}.mlp.gate_proj.weight`, true) : undefined),
      up: !dense ? noDense : fused ? fused.up : matrix(`mlp.${up}.weight`),
      down: !dense ? noDense : matrix(`mlp.${down}.weight`),
      gateBias: may("mlp.gate_proj.bias"),
      upBias: may(`mlp.${up}.bias`),
      downBias: may(`mlp.${down}.bias`),
      // Only Gemma 2's and OLMo 2's: llama's post_attention_layernorm is the MLP's input norm (n2).
      attnOutNorm: after ? must("post_attention_layernorm.weight") : () => undefined,
      mlpOutNorm: after ? must("post_feedforward_layernorm.weight") : () => undefined,
      xielu: () => (hasXielu ? xielu(scalar("alpha_p"), scalar("alpha_n"), scalar("beta"), scalar("eps")) : undefined),
      moe: () => (E ? moeWeights(read, moe[l], d, hidden) : undefined),
    });
  };
  const embed = () => read("model.embed_tokens.weight", true);
  const layers = Array.from({ length: c.layers }, (_, l) => layer(l));
  const at = (n: string) => () => (Object.hasOwn(names, n) ? read(n) : undefined);
  return lazy<ModelWeights>({
    embed,
    layers: () => layers,
    finalNorm: () => read(`model.${finalNorm}.weight`),
    finalNormBias: at(`model.${finalNorm}.bias`),
    lmHead: () => (c.tied ? embed() : read("lm_head.weight", true)),
    lmHeadBias: at("lm_head.bias"),
  });
}

/** Where one layer's mixture of experts lies in the checkpoint: the router, and the experts one by one or fused. */
interface MoeNames {
  experts: number;
  router: string;
  fused?: { gateUp: string; down: string };
  perExpert?: { gate: string; up: string; down: string }[];
}

/**
 * Mixtral's mixture of experts as save_pretrained and the hub write it (block_sparse_moe.gate, and
 * block_sparse_moe.experts.E.{w1,w3,w2} per expert), or as transformers 5's modules hold it (mlp.gate, and the
 * experts fused: mlp.experts.gate_up_proj [E, 2 × hidden, d], each expert's gate rows then its up rows, and
 * down_proj [E, d, hidden]). 5.18 loads either, each tensor under either name: conversion_mapping.py renames
 * block_sparse_moe to mlp and stacks w1 and w3 into gate_up_proj, and save_pretrained reverses both.
 */
function moeNames(has: (n: string) => boolean, p: string, experts: number): MoeNames {
  const under = (rest: string) => (has(`${p}.mlp.${rest}`) ? `${p}.mlp.${rest}` : `${p}.block_sparse_moe.${rest}`);
  const gateUp = under("experts.gate_up_proj");
  return {
    experts,
    router: under("gate.weight"),
    ...(has(gateUp)
      ? { fused: { gateUp, down: under("experts.down_proj") } }
      : {
          perExpert: Array.from({ length: experts }, (_, e) => ({
            gate: under(`experts.${e}.w1.weight`),
            up: under(`experts.${e}.w3.weight`),
            down: under(`experts.${e}.w2.weight`),
          })),
        }),
  };
}

/** One layer's router and experts, each read when the writer asks for it; a fused expert as its own slice of the stack. */
function moeWeights(read: Read, m: MoeNames, d: number, hidden: number): NonNullable<LayerWeights["moe"]> {
  const expert = (e: number): Expert => {
    if (!m.fused) {
      const x = m.perExpert![e];
      return lazy<Expert>({
        gate: () => read(x.gate, true),
        up: () => read(x.up, true),
        down: () => read(x.down, true),
      });
    }
    const { gateUp, down } = m.fused;
    // MixtralExperts.forward: linear(x, gate_up_proj[e]).chunk(2), the gate first.
    return lazy<Expert>({
      gate: () => rowsOf(read(gateUp, true, e), d, 0, hidden),
      up: () => rowsOf(read(gateUp, true, e), d, hidden, 2 * hidden),
      down: () => read(down, true, e),
    });
  };
  const experts = Array.from({ length: m.experts }, (_, e) => expert(e));
  return lazy<NonNullable<LayerWeights["moe"]>>({ router: () => read(m.router, true), experts: () => experts });
}

/**
 * gpt_neox: gpt_neox.layers.N.{attention,mlp}.*, final_layer_norm, embed_out (lm_head, as transformers
 * 5 renames it on load). query_key_value is viewed as [heads, 3 × head] (GPTNeoXAttention:
 * view(..., -1, 3 * head_size), then chunk(3)): its rows are per head, q then k then v.
 */
export function neoxWeights(src: TensorSource, c: ModelConfig, fail: Fail, need: Needs): ModelWeights {
  const { d, hidden, vocab } = c;
  const has = (n: string) => src.shapes.has(n);
  const head = has("embed_out.weight") ? "embed_out.weight" : "lm_head.weight";
  const names: { [name: string]: number[] } = {
    "gpt_neox.embed_in.weight": [vocab, d],
    "gpt_neox.final_layer_norm.weight": [d],
    "gpt_neox.final_layer_norm.bias": [d],
  };
  if (!c.tied || has(head)) names[head] = [vocab, d];
  for (let l = 0; l < c.layers; l++) {
    const p = `gpt_neox.layers.${l}`;
    Object.assign(names, {
      [`${p}.input_layernorm.weight`]: [d],
      [`${p}.input_layernorm.bias`]: [d],
      [`${p}.post_attention_layernorm.weight`]: [d],
      [`${p}.post_attention_layernorm.bias`]: [d],
      [`${p}.attention.query_key_value.weight`]: [3 * d, d],
      [`${p}.attention.dense.weight`]: [d, d],
      [`${p}.mlp.dense_h_to_4h.weight`]: [hidden, d],
      [`${p}.mlp.dense_h_to_4h.bias`]: [hidden],
      [`${p}.mlp.dense_4h_to_h.weight`]: [d, hidden],
      [`${p}.mlp.dense_4h_to_h.bias`]: [d],
    });
    // attention_bias (default true) puts biases on query_key_value and dense.
    if (need.attnBias) {
      names[`${p}.attention.query_key_value.bias`] = [3 * d];
      names[`${p}.attention.dense.bias`] = [d];
    }
  }
  const read = reader(src, fail, names);
  const layer = (l: number): LayerWeights => {
    const p = `gpt_neox.layers.${l}`;
    /** q, k and v are one matrix here, written as stored (qkv): asking for one alone is the writer's mistake. */
    const fusedPart = () => fail(`layer ${l}'s q, k and v are read as one query_key_value`);
    const at = (n: string) => () => read(`${p}.${n}`);
    const atMatrix = (n: string) => () => read(`${p}.${n}`, true);
    return lazy<LayerWeights>({
      norm1: at("input_layernorm.weight"),
      norm1Bias: at("input_layernorm.bias"),
      norm2: at("post_attention_layernorm.weight"),
      norm2Bias: at("post_attention_layernorm.bias"),
      q: fusedPart,
      k: fusedPart,
      v: fusedPart,
      // GPTNeoXAttention views query_key_value as [heads, 3 × head]: the graph splits it the same way.
      qkv: atMatrix("attention.query_key_value.weight"),
      qkvBias: () =>
        Object.hasOwn(names, `${p}.attention.query_key_value.bias`)
          ? read(`${p}.attention.query_key_value.bias`)
          : undefined,
      o: atMatrix("attention.dense.weight"),
      oBias: () => (Object.hasOwn(names, `${p}.attention.dense.bias`) ? read(`${p}.attention.dense.bias`) : undefined),
      up: atMatrix("mlp.dense_h_to_4h.weight"),
      upBias: at("mlp.dense_h_to_4h.bias"),
      down: atMatrix("mlp.dense_4h_to_h.weight"),
      downBias: at("mlp.dense_4h_to_h.bias"),
    });
  };
  const embed = () => read("gpt_neox.embed_in.weight", true);
  const layers = Array.from({ length: c.layers }, (_, l) => layer(l));
  return lazy<ModelWeights>({
    embed,
    layers: () => layers,
    finalNorm: () => read("gpt_neox.final_layer_norm.weight"),
    finalNormBias: () => read("gpt_neox.final_layer_norm.bias"),
    lmHead: () => (c.tied ? embed() : read(head, true)),
  });
}

/**
 * gpt2: transformer.{wte,wpe,h.N.{ln_1,attn,ln_2,mlp},ln_f}, or the same names without "transformer." where a
 * GPT2Model was saved (the hub's openai-community/gpt2; transformers strips base_model_prefix on load). Each
 * projection is a Conv1D (pytorch_utils.py), whose weight is stored [in, out] and applied as x · W + b: it is
 * turned to nn.Linear's [out, in] here. c_attn's outputs are q, k, v one after another (GPT2Attention splits
 * them at hidden_size), each [d] wide; every Conv1D and LayerNorm has a bias.
 */
export function gpt2Weights(src: TensorSource, c: ModelConfig, fail: Fail, need: Needs): ModelWeights {
  const { d, hidden, vocab } = c;
  const has = (n: string) => src.shapes.has(n);
  const pre = has("wte.weight") && !has("transformer.wte.weight") ? "" : "transformer.";
  const names: { [name: string]: number[] } = {
    [`${pre}wte.weight`]: [vocab, d],
    [`${pre}wpe.weight`]: [need.positions!, d],
    [`${pre}ln_f.weight`]: [d],
    [`${pre}ln_f.bias`]: [d],
  };
  if (!c.tied || has("lm_head.weight")) names["lm_head.weight"] = [vocab, d];
  for (let l = 0; l < c.layers; l++)
    for (const [n, s] of Object.entries({
      "ln_1.weight": [d],
      "ln_1.bias": [d],
      "ln_2.weight": [d],
      "ln_2.bias": [d],
      "attn.c_attn.weight": [d, 3 * d],
      "attn.c_attn.bias": [3 * d],
      "attn.c_proj.weight": [d, d],
      "attn.c_proj.bias": [d],
      "mlp.c_fc.weight": [d, hidden],
      "mlp.c_fc.bias": [hidden],
      "mlp.c_proj.weight": [hidden, d],
      "mlp.c_proj.bias": [d],
    }))
      names[`${pre}h.${l}.${n}`] = s;
  const read = reader(src, fail, names);
  /**
   * Output columns [from, to) of a Conv1D weight stored [in, out], as an [out, in] matrix. A 16-bit one is turned as
   * its bits and stays 16-bit; turned, it is no longer the bytes in the file, and is written with the graph.
   */
  const turned =
    (name: string, from = 0, to?: number) =>
    () => {
      const [rows, cols] = names[name];
      const stored = read(name, true),
        h16 = halfOf(stored);
      if (src.turned?.(name)) return rowsOf(stored, rows, from, to ?? cols);
      const values: Float32Array | Uint16Array = h16 ? h16.bits : (stored as Float32Array);
      const n = (to ?? cols) - from;
      const out = h16 ? new Uint16Array(n * rows) : new Float32Array(n * rows);
      for (let o = 0; o < n; o++) for (let i = 0; i < rows; i++) out[o * rows + i] = values[i * cols + from + o];
      return h16
        ? ({ form: "half", type: h16.type, rows: n, cols: rows, bits: out as Uint16Array } satisfies HalfMatrix)
        : (out as Float32Array);
    };
  const layer = (l: number): LayerWeights => {
    const p = `${pre}h.${l}`;
    const at = (n: string) => () => read(`${p}.${n}`);
    const part = (k: number) => turned(`${p}.attn.c_attn.weight`, k * d, (k + 1) * d);
    const partBias = (k: number) => () => read(`${p}.attn.c_attn.bias`).subarray(k * d, (k + 1) * d);
    return lazy<LayerWeights>({
      norm1: at("ln_1.weight"),
      norm1Bias: at("ln_1.bias"),
      norm2: at("ln_2.weight"),
      norm2Bias: at("ln_2.bias"),
      q: part(0),
      k: part(1),
      v: part(2),
      qBias: partBias(0),
      kBias: partBias(1),
      vBias: partBias(2),
      o: turned(`${p}.attn.c_proj.weight`),
      oBias: at("attn.c_proj.bias"),
      up: turned(`${p}.mlp.c_fc.weight`),
      upBias: at("mlp.c_fc.bias"),
      down: turned(`${p}.mlp.c_proj.weight`),
      downBias: at("mlp.c_proj.bias"),
    });
  };
  const embed = () => read(`${pre}wte.weight`, true);
  const layers = Array.from({ length: c.layers }, (_, l) => layer(l));
  return lazy<ModelWeights>({
    embed,
    // The first maxPositions rows: the graph is not asked for positions beyond its context.
    positions: () => rowsOf(read(`${pre}wpe.weight`, true), d, 0, c.maxPositions),
    layers: () => layers,
    finalNorm: () => read(`${pre}ln_f.weight`),
    finalNormBias: () => read(`${pre}ln_f.bias`),
    lmHead: () => (c.tied ? embed() : read("lm_head.weight", true)),
  });
}
