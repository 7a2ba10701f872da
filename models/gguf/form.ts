/**
 * What a GGUF's weights become in the converted graph, in a line for the converted folder's config.json (and so
 * for the report): the block formats kept as their codes, run by MatMulNBits (linears, lm_head) and
 * GatherBlockQuantized (the embedding); every other type widened to float32 once, at conversion.
 */
import { isCoded } from "./codes.js";
import { typeName } from "./dequantize.js";
import type { GgufTensorInfo } from "./reader.js";

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
