/**
 * What a GGUF's weights become in the converted graph, in a line for the converted folder's config.json (and so
 * for the report): the block formats kept as their codes, run by MatMulNBits (linears, lm_head) and
 * GatherBlockQuantized (the embedding); every other type widened to float32 once, at conversion.
 */
import type { ModelShape, WeightUse } from "../registry/memory.js";
import { isCoded } from "./codes.js";
import { typeName } from "./dequantize.js";
import type { Gguf, GgufTensorInfo } from "./reader.js";

/** "130 IQ2_XXS, 22 Q4_K" for tensors of several formats, the commonest first; "Q8_0" for tensors of one. */
function formats(ts: readonly GgufTensorInfo[]): string {
  const counts = new Map<string, number>();
  for (const t of ts) counts.set(typeName(t.type), (counts.get(typeName(t.type)) ?? 0) + 1);
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  return sorted.length === 1 ? sorted[0][0] : sorted.map(([name, n]) => `${n} ${name}`).join(", ");
}

/** A group's formats, and what the graph holds them as. */
function held(ts: readonly GgufTensorInfo[], op: string): string {
  const coded = ts.filter((t) => isCoded(t.type));
  const widened = ts.filter((t) => !isCoded(t.type));
  return [
    coded.length ? `${formats(coded)} codes (${op})` : "",
    widened.length ? `float32 (${formats(widened)} in the file)` : "",
  ]
    .filter(Boolean)
    .join(" and ");
}

export function ggufWeightForm(tensors: readonly GgufTensorInfo[]): string {
  const linears = tensors.filter((t) => /^blk\.\d+\.(attn|ffn)_\w+\.weight$/.test(t.name) && t.dims.length === 2);
  const embedding = tensors.filter((t) => t.name === "token_embd.weight");
  const head = tensors.filter((t) => t.name === "output.weight");
  const parts = [
    linears.length && `${linears.length} linears: ${held(linears, "MatMulNBits")}`,
    embedding.length && `embedding: ${held(embedding, "GatherBlockQuantized")}`,
    head.length ? `lm_head: ${held(head, "MatMulNBits")}` : "lm_head: the embedding's own (tied)",
    "norms and biases: float32",
  ];
  return parts.filter(Boolean).join("; ");
}

/**
 * The float32 conversion's weights as memory.ts counts them, and the model's shape, from the header alone: every
 * matrix a prepacked float32 MatMul weight (a tied embedding a table the lm_head reads through a Transpose), the rest
 * read as stored, at 4 bytes an element.
 */
export function float32Weights(g: Gguf): { weights: WeightUse[]; shape?: ModelShape; bytes: number } {
  const tied = !g.tensors.some((t) => t.name === "output.weight");
  const weights = g.tensors.map((t): WeightUse => {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    const use =
      t.dims.length !== 2 ? "other" : t.name === "token_embd.weight" ? (tied ? "transposed" : "other") : "matmul";
    return { bytes: 4 * elements, elements, use };
  });
  const arch = String(g.metadata.get("general.architecture"));
  const meta = (key: string) => g.metadata.get(`${arch}.${key}`);
  const [layers, d, heads] = ["block_count", "embedding_length", "attention.head_count"].map(meta);
  const vocab = g.tensors.find((t) => t.name === "token_embd.weight")?.dims[1];
  const whole = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;
  const shape = whole(layers) && whole(d) && whole(heads) && whole(vocab) ? { layers, d, heads, vocab } : undefined;
  return { weights, shape, bytes: weights.reduce((a, w) => a + w.bytes, 0) };
}
