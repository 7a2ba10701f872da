/**
 * A Llama-architecture GGUF (llama, mistral: GQA, tied or untied output, rope base
 * and eps from the metadata) as the analogs' config and weights, for the project's
 * own ONNX writer. Weights are lazy: each is read and dequantised when the writer
 * asks for it, so the model is never whole in memory. llama.cpp's converter stores
 * q and k with interleaved rotary pairs (Meta's order); they are permuted back to
 * HF's rotate-half order, as transformers' GGUF loader does.
 *
 * What llama.cpp applies to a llama model is applied (linear rope scaling, Llama 3's
 * per-pair rope_freqs divisors, the optional attention and MLP biases its loader reads); what it would refuse, or what
 * this converter cannot apply, is refused by name: every tensor of the file is read,
 * or the file is refused naming the ones that would not be.
 */
import { MAX_POSITIONS, type ModelConfig, modelConfig } from "../writer/config.js";
import { rotateHalfRows } from "../analogs/llama2c.js";
import { ropeInvFreq } from "../safetensors/rope.js";
import { GGUF_ARCHITECTURES } from "../architectures/table.js";
import type { AnalogWeights, LayerWeights } from "../writer/types.js";
import { permuteRows, standIn } from "../writer/quantized.js";
import { isCoded, quantizedLinear } from "./codes.js";
import { dequantize, tensorBytes } from "./dequantize.js";
import { GgufError } from "./error.js";
import type { Gguf } from "./reader.js";
import { ggufTokenizer } from "./tokenizer.js";

/** Llama 3's per-pair frequency divisors (llama.cpp's LLM_TENSOR_ROPE_FREQS), written by convert_hf_to_gguf.py for rope_type "llama3". */
const ROPE_FREQS = "rope_freqs.weight";

/** A layer's tensors, then the biases llama.cpp's loader reads where they are there (llama-model.cpp, LLM_ARCH_LLAMA). */
const LAYER_TENSORS = [
  "attn_norm.weight",
  "ffn_norm.weight",
  "attn_q.weight",
  "attn_k.weight",
  "attn_v.weight",
  "attn_output.weight",
  "ffn_gate.weight",
  "ffn_up.weight",
  "ffn_down.weight",
] as const;
const LAYER_BIASES = [
  "attn_q.bias",
  "attn_k.bias",
  "attn_v.bias",
  "attn_output.bias",
  "ffn_gate.bias",
  "ffn_up.bias",
  "ffn_down.bias",
] as const;

/** `float32`: every weight dequantised to float32 (the form the codes are checked against). */
export function ggufLlama(
  g: Gguf,
  { float32 = false }: { float32?: boolean } = {},
): {
  config: ModelConfig;
  weights: AnalogWeights;
  tokenizer: object;
  tokenizerConfig: object;
} {
  const fail = (m: string): never => {
    throw new GgufError(`${g.file}: ${m}`);
  };
  const arch = String(g.metadata.get("general.architecture"));
  if (!GGUF_ARCHITECTURES.has(arch))
    fail(`architecture "${arch}" is not converted (probespec converts ${[...GGUF_ARCHITECTURES.keys()].join(", ")})`);
  /** A metadata number: present (or defaulted), finite, and a positive whole number where it counts something. */
  const meta = (key: string, { fallback, whole = true }: { fallback?: number; whole?: boolean } = {}): number => {
    const v = g.metadata.get(`${arch}.${key}`) ?? fallback;
    if (v === undefined) return fail(`metadata "${arch}.${key}" is missing`);
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (whole && !Number.isInteger(v)))
      return fail(
        `metadata "${arch}.${key}" is ${typeof v === "number" ? v : JSON.stringify(v)}, where a positive ${whole ? "whole " : ""}number is needed`,
      );
    return v;
  };
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const read = (name: string, shape: number[]): Float32Array => {
    const t = byName.get(name);
    if (!t) return fail(`it has no tensor "${name}"`);
    if (t.dims.join() !== shape.join())
      fail(`tensor "${name}" is [${t.dims}] (ggml order), where [${shape}] is expected`);
    const count = shape.reduce((a, b) => a * b, 1);
    const what = `${g.file}: tensor "${name}"`;
    return dequantize(t.type, g.read(g.dataStart + t.offset, tensorBytes(t.type, count, what)), count, what);
  };
  /**
   * A linear weight: a block format stays as its codes (a stand-in the writer emits as MatMulNBits,
   * rows reordered by `rows` where given); a float one is read as float32.
   */
  const linear = (name: string, shape: number[], rows?: (w: Float32Array) => Float32Array): Float32Array => {
    const t = byName.get(name);
    if (!t || !isCoded(t.type) || float32) return rows ? rows(read(name, shape)) : read(name, shape);
    if (t.dims.join() !== shape.join())
      fail(`tensor "${name}" is [${t.dims}] (ggml order), where [${shape}] is expected`);
    const [cols, n] = shape,
      what = `${g.file}: tensor "${name}"`;
    let q = quantizedLinear(t.type, g.read(g.dataStart + t.offset, tensorBytes(t.type, n * cols, what)), n, cols, what);
    if (rows) q = permuteRows(q, rows(Float32Array.from({ length: n }, (_, i) => i)));
    return standIn(q);
  };
  const d = meta("embedding_length"),
    heads = meta("attention.head_count"),
    kvHeads = meta("attention.head_count_kv", { fallback: heads });
  const hidden = meta("feed_forward_length"),
    layers = meta("block_count");
  if (d % heads) fail(`embedding_length ${d} is not a multiple of attention.head_count ${heads}`);
  if (heads % kvHeads) fail(`attention.head_count ${heads} is not a multiple of attention.head_count_kv ${kvHeads}`);
  const hd = d / heads;
  const rotary = meta("rope.dimension_count", { fallback: hd });
  if (rotary !== hd) fail(`partial rotary (rope.dimension_count ${rotary} of ${hd} dims per head) is not converted`);
  // Nothing is allocated per layer before the tensor list agrees with the layer count.
  const blocks = new Set(g.tensors.flatMap((t) => /^blk\.(\d+)\./.exec(t.name)?.[1] ?? []).map(Number));
  const counted = blocks.size ? [...blocks].reduce((a, b) => Math.max(a, b), 0) + 1 : 0;
  if (layers !== counted || blocks.size !== counted)
    fail(
      `block_count is ${layers}, and its tensors are of ${blocks.size} blocks${blocks.size ? ` numbered up to ${counted - 1}` : ""}; the metadata and the tensors disagree`,
    );
  const embedInfo = byName.get("token_embd.weight") ?? fail(`it has no tensor "token_embd.weight"`);
  const vocab = embedInfo.dims[1];
  const tied = !byName.has("output.weight");
  // Every tensor is read, or named: a weight left out silently would change every number.
  const wanted = new Set([
    "token_embd.weight",
    "output_norm.weight",
    ...(byName.has(ROPE_FREQS) ? [ROPE_FREQS] : []),
    ...(tied ? [] : ["output.weight"]),
    ...Array.from({ length: layers }, (_, l) => [
      ...LAYER_TENSORS.map((t) => `blk.${l}.${t}`),
      ...LAYER_BIASES.map((t) => `blk.${l}.${t}`).filter((n) => byName.has(n)),
    ]).flat(),
  ]);
  const unread = g.tensors.filter((t) => !wanted.has(t.name)).map((t) => t.name);
  if (unread.length)
    fail(
      `tensor${unread.length > 1 ? "s" : ""} ${unread
        .slice(0, 5)
        .map((n) => `"${n}"`)
        .join(
          ", ",
        )}${unread.length > 5 ? ` and ${unread.length - 5} more` : ""} would not be read by the converter (a llama model it does not know; probespec refuses it rather than leave weights out)`,
    );
  const ropeTheta = meta("rope.freq_base", { fallback: 10000, whole: false }),
    ropeScale = ropeScaling(g, arch, fail);
  // Llama 3's rope scaling (convert_hf_to_gguf.py's rope_freqs for rope_type "llama3"): llama.cpp divides each
  // pair's frequency by its factor (ggml_rope_ext's freq_factors), after any linear scaling.
  const base = ropeInvFreq(ropeTheta, hd);
  const ropeFreqs = byName.has(ROPE_FREQS)
    ? Array.from(read(ROPE_FREQS, [hd / 2]), (factor, i) => {
        if (!(factor > 0) || !Number.isFinite(factor))
          fail(`tensor "${ROPE_FREQS}" holds ${factor} for rotary pair ${i}, where a positive divisor is needed`);
        return Math.fround(base[i] / factor) / (ropeScale ?? 1);
      })
    : undefined;
  const config = modelConfig({
    family: GGUF_ARCHITECTURES.get(arch)!,
    layers,
    d,
    heads,
    kvHeads,
    hidden,
    vocab,
    tied,
    maxPositions: Math.min(meta("context_length", { fallback: 2048 }), MAX_POSITIONS),
    ropeTheta,
    ...(ropeFreqs ? { ropeInvFreq: ropeFreqs } : { ropeScale }),
    eps: meta("attention.layer_norm_rms_epsilon", { whole: false }),
    ropeStyle: "half",
    rotaryPct: 1,
  });
  const bias = (name: string, n: number) => (byName.has(name) ? read(name, [n]) : undefined);
  const layer = (l: number): LayerWeights => {
    const b = `blk.${l}`;
    return {
      get norm1() {
        return read(`${b}.attn_norm.weight`, [d]);
      },
      get norm2() {
        return read(`${b}.ffn_norm.weight`, [d]);
      },
      get q() {
        return linear(`${b}.attn_q.weight`, [d, d], (w) => rotateHalfRows(w, heads, hd, w.length / d));
      },
      get k() {
        return linear(`${b}.attn_k.weight`, [d, kvHeads * hd], (w) =>
          rotateHalfRows(w, kvHeads, hd, w.length / (kvHeads * hd)),
        );
      },
      get v() {
        return linear(`${b}.attn_v.weight`, [d, kvHeads * hd]);
      },
      get o() {
        return linear(`${b}.attn_output.weight`, [d, d]);
      },
      // llama.cpp's converter permutes q's and k's biases with their rows.
      get qBias() {
        const v = bias(`${b}.attn_q.bias`, d);
        return v && rotateHalfRows(v, heads, hd, 1);
      },
      get kBias() {
        const v = bias(`${b}.attn_k.bias`, kvHeads * hd);
        return v && rotateHalfRows(v, kvHeads, hd, 1);
      },
      get vBias() {
        return bias(`${b}.attn_v.bias`, kvHeads * hd);
      },
      get oBias() {
        return bias(`${b}.attn_output.bias`, d);
      },
      get gate() {
        return linear(`${b}.ffn_gate.weight`, [d, hidden]);
      },
      get up() {
        return linear(`${b}.ffn_up.weight`, [d, hidden]);
      },
      get down() {
        return linear(`${b}.ffn_down.weight`, [hidden, d]);
      },
      get gateBias() {
        return bias(`${b}.ffn_gate.bias`, hidden);
      },
      get upBias() {
        return bias(`${b}.ffn_up.bias`, hidden);
      },
      get downBias() {
        return bias(`${b}.ffn_down.bias`, d);
      },
    };
  };
  const weights: AnalogWeights = {
    get embed() {
      // Codes too: GatherBlockQuantized reads the embedding's planes, MatMulNBits the lm_head's.
      return linear("token_embd.weight", [d, vocab]);
    },
    layers: Array.from({ length: layers }, (_, l) => layer(l)),
    get finalNorm() {
      return read("output_norm.weight", [d]);
    },
    get lmHead() {
      return tied ? this.embed : linear("output.weight", [d, vocab]);
    },
  };
  const model = String(g.metadata.get("general.name") ?? arch);
  return { config, weights, ...ggufTokenizer(g, model, vocab, config.maxPositions) };
}

/**
 * llama.cpp's rope scaling for a llama model: rope.scaling.factor (or the older
 * rope.scale_linear) with type "linear" (or none given) divides positions by the factor;
 * "yarn", "longrope" and any other type change the rotary in ways not converted here.
 */
function ropeScaling(g: Gguf, arch: string, fail: (m: string) => never): number | undefined {
  const type = g.metadata.get(`${arch}.rope.scaling.type`);
  const factor = g.metadata.get(`${arch}.rope.scaling.factor`) ?? g.metadata.get(`${arch}.rope.scale_linear`);
  if (type !== undefined && typeof type !== "string") fail(`metadata "${arch}.rope.scaling.type" is not a string`);
  if (factor !== undefined && (typeof factor !== "number" || !Number.isFinite(factor) || factor < 0))
    fail(`metadata "${arch}.rope.scaling.factor" is ${JSON.stringify(factor)}, not a scaling factor`);
  // llama.cpp reads a factor of 0 as no scaling.
  const f = factor === 0 ? undefined : (factor as number | undefined);
  if (type === undefined || type === "linear") return f === undefined || f === 1 ? undefined : f;
  if (type === "none") {
    if (f !== undefined && f !== 1)
      fail(`rope.scaling.type is "none" with rope.scaling.factor ${f}: which one holds is ambiguous, so it is refused`);
    return undefined;
  }
  return fail(`rope.scaling.type "${type}" is not converted (probespec applies linear rope scaling only)`);
}
