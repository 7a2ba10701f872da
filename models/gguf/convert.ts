/**
 * A Llama-architecture GGUF (llama, mistral: GQA, tied or untied output, rope base
 * and eps from the metadata) as the analogs' config and weights, for the project's
 * own ONNX writer. Weights are lazy: each is read and dequantised when the writer
 * asks for it, so the model is never whole in memory. llama.cpp's converter stores
 * q and k with interleaved rotary pairs (Meta's order); they are permuted back to
 * HF's rotate-half order, as transformers' GGUF loader does.
 */
import { analogConfig, type AnalogConfig } from "../analogs/config.js";
import { rotateHalfRows } from "../analogs/llama2c.js";
import { sentencepieceFromScores, tokenizerConfigJson } from "../analogs/tokenizers.js";
import type { AnalogWeights, LayerWeights } from "../analogs/weights.js";
import { dequantize, tensorBytes } from "./dequantize.js";
import { GgufError, type Gguf } from "./reader.js";

const ARCHITECTURES = ["llama", "mistral"];

export function ggufLlama(g: Gguf): {
  config: AnalogConfig;
  weights: AnalogWeights;
  tokenizer: object;
  tokenizerConfig: object;
} {
  const arch = String(g.metadata.get("general.architecture"));
  if (!ARCHITECTURES.includes(arch))
    throw new GgufError(
      `${g.file}: architecture "${arch}" is not converted (probespec converts ${ARCHITECTURES.join(", ")})`,
    );
  const meta = (key: string, fallback?: number): number => {
    const v = g.metadata.get(`${arch}.${key}`) ?? fallback;
    if (typeof v !== "number") throw new GgufError(`${g.file}: metadata "${arch}.${key}" is missing`);
    return v;
  };
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const read = (name: string, shape: number[]): Float32Array => {
    const t = byName.get(name);
    if (!t) throw new GgufError(`${g.file} has no tensor "${name}"`);
    if (t.dims.join() !== shape.join())
      throw new GgufError(`${g.file}: tensor "${name}" is [${t.dims}] (ggml order), where [${shape}] is expected`);
    const count = shape.reduce((a, b) => a * b, 1);
    const what = `${g.file}: tensor "${name}"`;
    return dequantize(t.type, g.read(g.dataStart + t.offset, tensorBytes(t.type, count, what)), count, what);
  };
  const d = meta("embedding_length"),
    heads = meta("attention.head_count"),
    kvHeads = meta("attention.head_count_kv", heads);
  const hidden = meta("feed_forward_length"),
    layers = meta("block_count");
  const hd = d / heads;
  if (meta("rope.dimension_count", hd) !== hd)
    throw new GgufError(`${g.file}: partial rotary (${meta("rope.dimension_count")} of ${hd} dims) is not converted`);
  const embedInfo = byName.get("token_embd.weight");
  if (!embedInfo) throw new GgufError(`${g.file} has no tensor "token_embd.weight"`);
  const vocab = embedInfo.dims[1];
  const tied = !byName.has("output.weight");
  const config = analogConfig("llama", {
    layers,
    d,
    heads,
    kvHeads,
    hidden,
    vocab,
    tied,
    maxPositions: meta("context_length", 2048),
    ropeTheta: meta("rope.freq_base", 10000),
    eps: meta("attention.layer_norm_rms_epsilon"),
    ropeStyle: "half",
    calibrationIds: [1],
  });
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
        return rotateHalfRows(read(`${b}.attn_q.weight`, [d, d]), heads, hd, d);
      },
      get k() {
        return rotateHalfRows(read(`${b}.attn_k.weight`, [d, kvHeads * hd]), kvHeads, hd, d);
      },
      get v() {
        return read(`${b}.attn_v.weight`, [d, kvHeads * hd]);
      },
      get o() {
        return read(`${b}.attn_output.weight`, [d, d]);
      },
      get gate() {
        return read(`${b}.ffn_gate.weight`, [d, hidden]);
      },
      get up() {
        return read(`${b}.ffn_up.weight`, [d, hidden]);
      },
      get down() {
        return read(`${b}.ffn_down.weight`, [hidden, d]);
      },
    };
  };
  const weights: AnalogWeights = {
    get embed() {
      return read("token_embd.weight", [d, vocab]);
    },
    layers: Array.from({ length: layers }, (_, l) => layer(l)),
    get finalNorm() {
      return read("output_norm.weight", [d]);
    },
    get lmHead() {
      return tied ? this.embed : read("output.weight", [d, vocab]);
    },
  };
  return { config, weights, ...ggufTokenizer(g, vocab), tokenizerConfig: tokenizerConfigJson(config.maxPositions) };
}

/** tokenizer.ggml.* as a HuggingFace tokenizer.json: sentencepiece BPE with byte fallback, BOS as the metadata says. */
function ggufTokenizer(g: Gguf, vocab: number): { tokenizer: object } {
  const model = g.metadata.get("tokenizer.ggml.model");
  const tokens = g.metadata.get("tokenizer.ggml.tokens") as string[] | undefined;
  const scores = g.metadata.get("tokenizer.ggml.scores") as number[] | undefined;
  if (model !== "llama" || !tokens || !scores)
    throw new GgufError(
      `${g.file}: tokenizer "${model}" is not a sentencepiece ("llama") tokenizer with tokens and scores`,
    );
  if (tokens.length !== vocab)
    throw new GgufError(`${g.file}: the tokenizer has ${tokens.length} tokens where the embedding has ${vocab} rows`);
  const ids = ["unknown", "bos", "eos"].map((k) => g.metadata.get(`tokenizer.ggml.${k}_token_id`));
  if (ids.join() !== "0,1,2" || tokens[1] !== "<s>")
    throw new GgufError(`${g.file}: special tokens ${ids.join(", ")} are not Llama's <unk>, <s>, </s> at 0, 1, 2`);
  const tokenizer = sentencepieceFromScores(tokens, scores) as Record<string, unknown>;
  // Without add_bos_token the prompt is encoded as it is.
  if (g.metadata.get("tokenizer.ggml.add_bos_token") === false) tokenizer.post_processor = null;
  return { tokenizer };
}
