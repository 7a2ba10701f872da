/**
 * A GGUF as the HF model it was converted from: its entry in the architecture table (models/architectures/gguf.ts)
 * maps the metadata to the model type's config.json keys and each tensor to transformers' name, with llama.cpp's converter's transform
 * undone; then the safetensors path's own hfModel applies the type's quirks, so that a type's forward pass is
 * written once, whichever file the weights come from. Weights are lazy: each is read and dequantised when the
 * writer asks for it, so the model is never whole in memory.
 *
 * Block formats stay compact: a matrix in a block format is handed over as its codes (a QuantizedLinear, the writer
 * emits as MatMulNBits or GatherBlockQuantized; rows reordered as codes where the converter reordered them);
 * `float32` dequantises every weight (the form the codes are checked against). What llama.cpp applies is
 * applied (linear rope scaling, Llama 3's per-pair rope_freqs divisors, its defaults for keys left out); what it
 * would refuse, or what this converter cannot apply, is refused by name: every tensor of the file is read, or
 * the file is refused naming the ones that would not be.
 */
import { rotateHalfRows } from "../writer/rotary.js";
import { hfModel, type Converted } from "../safetensors/convert.js";
import { ropeInvFreq } from "../safetensors/rope.js";
import type { TensorSource } from "../safetensors/weights.js";
import { gatherRows } from "../writer/quantized.js";
import { ARCHITECTURES, GGUF_ARCHITECTURES } from "../architectures/table.js";
import { ggufName, hfTensors, type GgufArch, type HfTensor, type Undo } from "../architectures/gguf.js";
import { isCoded, quantizedLinear } from "./codes.js";
import { dequantize, tensorBytes } from "./dequantize.js";
import { GgufError } from "./error.js";
import type { Gguf, GgufTensorInfo } from "./reader.js";
import { ggufTokenizer } from "./tokenizer.js";

/** Llama 3's per-pair frequency divisors (llama.cpp's LLM_TENSOR_ROPE_FREQS), written by convert_hf_to_gguf.py for rope_type "llama3". */
const ROPE_FREQS = "rope_freqs.weight";

/** `float32`: every weight dequantised to float32 (the form the codes are checked against). */
export function ggufModel(g: Gguf, { float32 = false }: { float32?: boolean } = {}): Converted {
  const fail = (m: string, file = g.file): never => {
    throw new GgufError(`${file}: ${m}`);
  };
  const arch = String(g.metadata.get("general.architecture"));
  const family =
    GGUF_ARCHITECTURES.get(arch) ??
    fail(`architecture "${arch}" is not converted (probespec converts ${[...GGUF_ARCHITECTURES.keys()].join(", ")})`);
  const rec: GgufArch = ARCHITECTURES[family].gguf!;
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
  // config.json as the type spells it, from the metadata.
  const cfg: Record<string, unknown> = { model_type: family };
  for (const k of rec.metadata) {
    const v = g.metadata.get(`${arch}.${k.gguf}`);
    if (v === undefined && k.optional) continue;
    if (k.none !== undefined && v === k.none) cfg[k.hf] = null;
    else
      cfg[k.hf] = meta(k.gguf, {
        fallback: typeof k.fallback === "function" ? k.fallback(cfg) : k.fallback,
        whole: !!k.whole,
      });
  }
  for (const [key, why] of Object.entries(rec.refuse ?? {})) {
    const v = g.metadata.get(`${arch}.${key}`);
    if (v !== undefined && v !== 0 && v !== false)
      fail(`metadata "${arch}.${key}" (${typeof v === "object" ? "a list" : String(v)}) is not applied: ${why}`);
  }
  const hfKey = (gguf: string) => rec.metadata.find((k) => k.gguf === gguf)!.hf;
  const [d, heads, layers] = ["embedding_length", "attention.head_count", "block_count"].map(
    (k) => cfg[hfKey(k)] as number,
  );
  if (d % heads) fail(`embedding_length ${d} is not a multiple of attention.head_count ${heads}`);
  const hd = (cfg.head_dim as number | undefined) ?? d / heads;
  // transformers' attention has one head_dim for keys and values alike.
  const valueLength = g.metadata.get(`${arch}.attention.value_length`);
  if (valueLength !== undefined && valueLength !== hd)
    fail(`attention.value_length ${JSON.stringify(valueLength)} is not the ${hd} dims of a key head: not converted`);
  if (rec.rotary !== "none") {
    // Phi-3's converter writes int(factor × d) / heads: of d / heads, whatever key_length says.
    const rotary = meta("rope.dimension_count", { fallback: rec.rotary === "whole" ? hd : d / heads });
    if (rec.rotary === "whole" && rotary !== hd)
      fail(`partial rotary (rope.dimension_count ${rotary} of ${hd} dims per head) is not converted`);
    if (rec.rotary !== "whole") cfg[rec.rotary] = rotary / (d / heads);
  }
  // Nothing is allocated per layer before the tensor list agrees with the layer count.
  const blocks = new Set(g.tensors.flatMap((t) => /^blk\.(\d+)\./.exec(t.name)?.[1] ?? []).map(Number));
  const counted = blocks.size ? [...blocks].reduce((a, b) => Math.max(a, b), 0) + 1 : 0;
  if (layers !== counted || blocks.size !== counted)
    fail(
      `block_count is ${layers}, and its tensors are of ${blocks.size} blocks${blocks.size ? ` numbered up to ${counted - 1}` : ""}; the metadata and the tensors disagree`,
    );
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const has = (n: string) => byName.has(n);
  const embedInfo = byName.get("token_embd.weight") ?? fail(`it has no tensor "token_embd.weight"`);
  const vocab = embedInfo.dims[1];
  cfg.vocab_size = vocab;
  // llama.cpp's graphs read the embedding as the output where the file has no output.weight.
  cfg.tie_word_embeddings = !has("output.weight");
  Object.assign(cfg, rec.derive?.({ cfg, has, meta: (k) => g.metadata.get(`${arch}.${k}`) }));

  const bytesOf = (t: GgufTensorInfo) => {
    const what = `${g.file}: tensor "${t.name}"`,
      count = t.dims.reduce((a, b) => a * b, 1);
    return { what, count, bytes: g.read(g.dataStart + t.offset, tensorBytes(t.type, count, what)) };
  };
  const floats = (t: GgufTensorInfo) => {
    const { what, count, bytes } = bytesOf(t);
    return dequantize(t.type, bytes, count, what);
  };
  let ropeFreqs: number[] | undefined;
  const ropeScale = ropeScaling(g, arch, fail);
  if (rec.ropeFreqs && has(ROPE_FREQS)) {
    // Llama 3's rope scaling (convert_hf_to_gguf.py's rope_freqs for rope_type "llama3"): llama.cpp divides each
    // pair's frequency by its factor (ggml_rope_ext's freq_factors), after any linear scaling.
    const t = byName.get(ROPE_FREQS)!;
    if (t.dims.join() !== String(hd / 2))
      fail(`tensor "${ROPE_FREQS}" is [${t.dims}] (ggml order), where [${hd / 2}] is expected`);
    const base = ropeInvFreq(cfg.rope_theta as number, hd);
    ropeFreqs = Array.from(floats(t), (factor, i) => {
      if (!(factor > 0) || !Number.isFinite(factor))
        fail(`tensor "${ROPE_FREQS}" holds ${factor} for rotary pair ${i}, where a positive divisor is needed`);
      return Math.fround(base[i] / factor) / (ropeScale ?? 1);
    });
  } else if (ropeScale) cfg.rope_scaling = { rope_type: "linear", factor: ropeScale };

  // Every tensor is transformers' one (or several), or named: a weight left out silently would change every number.
  const named = new Map<string, Named>();
  const unread: string[] = [];
  for (const t of g.tensors) {
    if (t.name === ROPE_FREQS && ropeFreqs) continue;
    const outer = t.dims[t.dims.length - 1];
    const m = hfTensors(rec, t.name, outer);
    if (!m) unread.push(t.name);
    for (const x of m ?? []) {
      // Two of the file's tensors for one of transformers' (phi-2's attn_qkv beside attn_q): which one llama.cpp reads
      // is its loader's choice, and the other would be left unread.
      const twice = named.get(x.hf);
      if (twice) fail(`tensors "${twice.t.name}" and "${t.name}" both hold transformers' ${x.hf}`);
      named.set(x.hf, { t, undo: x.undo, ...(x.part ? { part: rowsOf(x.part, t, heads * hd, fail) } : {}) });
    }
  }
  if (unread.length)
    fail(
      `tensor${unread.length > 1 ? "s" : ""} ${unread
        .slice(0, 5)
        .map((n) => `"${n}"`)
        .join(
          ", ",
        )}${unread.length > 5 ? ` and ${unread.length - 5} more` : ""} would not be read by the converter (no tensor of a ${arch} model that probespec knows; it refuses the file rather than leave weights out)`,
    );
  // llama.cpp reads each bias of a group where the file has it: the ones a group lacks are zero, where transformers'
  // config switches the group's biases on together.
  const zeros = new Map<string, number>();
  for (const group of rec.biasGroups ?? [])
    for (let b = 0; b < layers; b++) {
      const bias = (n: string) => `blk.${b}.${n}.bias`;
      if (!group.some((n) => has(bias(n)))) continue;
      for (const n of group.filter((n) => !has(bias(n)))) {
        const w = byName.get(`blk.${b}.${n}.weight`) ?? fail(`it has no tensor "blk.${b}.${n}.weight"`);
        zeros.set(hfTensors(rec, bias(n), 1)![0].hf, w.dims[1]);
      }
    }
  const model = String(g.metadata.get("general.name") ?? arch);
  return hfModel(cfg, ggufSource(g, rec, named, zeros, { hd, d, float32, bytesOf, floats, fail }), {
    fail,
    tokenizer: (maxPositions) => ggufTokenizer(g, model, vocab, maxPositions),
    ropeInvFreq: ropeFreqs,
  });
}

/** A file's tensor as one of transformers': all of it, with the converter's transform to undo, or a block of its rows. */
interface Named {
  t: GgufTensorInfo;
  undo?: Undo;
  /** Rows [from, to) of its outer dimension (transformers' first); `vector`: one row, read as the vector it is. */
  part?: { from: number; to: number; vector: boolean };
}

/**
 * Where a Split's part lies in the file's tensor `t`: "qkv", q's heads × head_dim rows (`qRows`), then k's and v's, the
 * rest in halves (llama.cpp's create_tensor_qkv); "heads", the index-th row of a [heads, head_dim] stack.
 */
function rowsOf(
  part: NonNullable<HfTensor["part"]>,
  t: GgufTensorInfo,
  qRows: number,
  fail: (m: string) => never,
): NonNullable<Named["part"]> {
  const outer = t.dims[t.dims.length - 1];
  if (part.split === "heads") {
    if (t.dims.length !== 2)
      fail(`tensor "${t.name}" is [${t.dims}] (ggml order), where [head_dim, heads] is expected`);
    return { from: part.index, to: part.index + 1, vector: true };
  }
  const kv = (outer - qRows) / 2;
  if (!(kv > 0) || !Number.isInteger(kv))
    fail(`tensor "${t.name}" has ${outer} rows, which are not q's ${qRows} and two equal blocks of k and v rows`);
  const from = [0, qRows, qRows + kv][part.index];
  return { from, to: from + [qRows, kv, kv][part.index], vector: false };
}

/**
 * The file's tensors by transformers' names and shapes, each read with the converter's transform undone: a
 * reordering of rows as a reordering of the codes' rows, Gemma's 1 + w as w, GPT-2's transposed Conv1D as the linear
 * it already is (the reader then takes it as it stands).
 */
function ggufSource(
  g: Gguf,
  rec: GgufArch,
  named: Map<string, Named>,
  /** Biases the file leaves out of a group it has others of: zero, by transformers' name, of that many values. */
  zeros: Map<string, number>,
  c: {
    hd: number;
    d: number;
    float32: boolean;
    bytesOf: (t: GgufTensorInfo) => { what: string; count: number; bytes: Uint8Array };
    floats: (t: GgufTensorInfo) => Float32Array;
    fail: (m: string) => never;
  },
): TensorSource {
  /**
   * transformers' shape: ggml lists dimensions innermost first; a Conv1D's [in, out] is the ggml order itself; a part,
   * its rows (one row of a stack: a vector).
   */
  const shape = ({ t, undo, part }: Named) => {
    const whole = undo === "conv1d" ? [...t.dims] : [...t.dims].reverse();
    if (!part) return whole;
    return part.vector ? whole.slice(1) : [part.to - part.from, ...whole.slice(1)];
  };
  /** The row order that undoes the converter's, for a tensor of `rows` rows. */
  const order = (undo: Undo | undefined, rows: number): number[] | undefined => {
    const ids = Array.from({ length: rows }, (_, i) => i);
    // LlamaModel.permute grouped each head's rows into interleaved pairs: rotateHalfRows puts them back in halves.
    if (undo === "rotary") return Array.from(rotateHalfRows(Float32Array.from(ids), rows / c.hd, c.hd, 1));
    // GPTNeoXModel wrote all q rows, then k, then v: back to each head's [q|k|v].
    if (undo === "neox-qkv")
      return ids.map((r) => {
        const [h, part, t] = [Math.floor(r / (3 * c.hd)), Math.floor(r / c.hd) % 3, r % c.hd];
        return part * c.d + h * c.hd + t;
      });
    return undefined;
  };
  const gather = (w: Float32Array, rows: number[], cols: number) => {
    const out = new Float32Array(w.length);
    rows.forEach((from, i) => out.set(w.subarray(from * cols, (from + 1) * cols), i * cols));
    return out;
  };
  return {
    shapes: new Map<string, readonly number[]>([
      ...[...named].map(([hf, e]): [string, number[]] => [hf, shape(e)]),
      ...[...zeros].map(([hf, n]): [string, number[]] => [hf, [n]]),
    ]),
    where: () => g.file,
    // GPT2Model.modify_tensors transposed each Conv1D weight to nn.Linear's [out, in].
    turned: (hf) => named.get(hf)?.undo === "conv1d",
    label: (hf) => {
      const gguf = named.get(hf)?.t.name ?? ggufName(rec, hf);
      return gguf ? `"${gguf}" (transformers' ${hf})` : `"${hf}"`;
    },
    check: (hf) => void (zeros.has(hf) || c.bytesOf(named.get(hf)!.t)),
    read(hf, matrix) {
      if (zeros.has(hf)) return new Float32Array(zeros.get(hf)!);
      const { t, undo, part } = named.get(hf)!;
      if (part) {
        // A block of the tensor's rows: a block format's rows of codes, or its values.
        const ids = Array.from({ length: part.to - part.from }, (_, i) => part.from + i);
        if (matrix && t.dims.length === 2 && !part.vector && isCoded(t.type) && !c.float32) {
          const { what, bytes } = c.bytesOf(t);
          return gatherRows(quantizedLinear(t.type, bytes, t.dims[1], t.dims[0], what), ids);
        }
        const inner = t.dims.length > 1 ? t.dims[0] : 1;
        return c.floats(t).slice(part.from * inner, part.to * inner);
      }
      const [cols, rows = 1] = t.dims;
      const rowOrder = order(undo, rows > 1 ? rows : cols);
      if (matrix && t.dims.length === 2 && isCoded(t.type) && !c.float32) {
        const { what, bytes } = c.bytesOf(t);
        let q = quantizedLinear(t.type, bytes, rows, cols, what);
        if (rowOrder) q = gatherRows(q, rowOrder);
        return q;
      }
      let w = c.floats(t);
      if (undo === "plus-one") w = w.map((v) => v - 1);
      if (rowOrder) w = gather(w, rowOrder, t.dims.length === 2 ? cols : 1);
      if (undo !== "conv1d") return w;
      if (matrix) return w;
      // The Conv1D's own [in, out] layout, for a reader that asks for the tensor as stored.
      const turned = new Float32Array(w.length);
      for (let o = 0; o < rows; o++) for (let i = 0; i < cols; i++) turned[i * rows + o] = w[o * cols + i];
      return turned;
    },
  };
}

/**
 * llama.cpp's rope scaling: rope.scaling.factor (or the older rope.scale_linear) with type "linear" (or none given)
 * divides positions by the factor; "yarn", "longrope" and any other type change the rotary in ways not converted here.
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
