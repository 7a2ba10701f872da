/**
 * A HuggingFace checkpoint folder converted on demand into the cache, keyed by its content as GGUFs
 * are: the files are hashed (read only, never written, nothing placed beside them), then the
 * project's ONNX writer reads the weights tensor by tensor into external data: float32 as float32, and
 * float16 or bfloat16 matrices kept at their 16 bits where they lie in the checkpoint's files, through
 * a symlink in the converted folder, and cast to float32 per operation (models/writer/half.ts).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { key, partsSha256, reuse, sourceHash, WRITER_SOURCE, writeConverted } from "../writer/cache.js";
import { hfConfig } from "../writer/folder.js";
import { hfCheckpoint } from "./convert.js";
import { openCheckpoint } from "./reader.js";
import { halfForms } from "./weights.js";
import { traitsOf } from "../architectures/table.js";
import type { ModelShape, WeightUse } from "../registry/memory.js";

// The table says how a checkpoint reads: its edits key the conversions too.
const CHECKPOINT_SOURCE = sourceHash(import.meta.dirname, path.join(import.meta.dirname, "..", "architectures"));

/**
 * huggingface_hub names a large (LFS) file's blob by its sha256: such a file is not read again to key it. A name is
 * only what the file held when it was downloaded, so the key holds the blob's identity too (size, mtime, inode): a
 * save into a snapshot folder writes through the link into the blob, and the name no longer says what it holds.
 */
const LFS_BLOB = /^[0-9a-f]{64}$/;

/** sha256 over the files' own sha256s, in order: each hashed, or taken from its hub blob's name and identity. */
async function contentSha256(files: string[], onProgress: (m: string) => void): Promise<string> {
  const h = crypto.createHash("sha256");
  for (const f of files) {
    const real = fs.realpathSync(f);
    const named = path.basename(path.dirname(real)) === "blobs" && LFS_BLOB.test(path.basename(real));
    if (!named && fs.statSync(real).size > 1 << 24) onProgress(`checking ${path.basename(f)} (sha256)`);
    const { size, mtimeMs, ino } = fs.statSync(real);
    h.update(
      `${path.basename(f)} ${named ? `${path.basename(real)} ${size} ${mtimeMs} ${ino}` : await partsSha256([real])}\n`,
    );
  }
  return h.digest("hex");
}

/** Whether a folder is a checkpoint to convert: config.json and safetensors weights. */
export function isCheckpoint(dir: string): boolean {
  return (
    fs.existsSync(path.join(dir, "config.json")) &&
    ["model.safetensors", "model.safetensors.index.json"].some((f) => fs.existsSync(path.join(dir, f)))
  );
}

/**
 * How the converted graph will hold its weights, from the headers and config.json alone: a 16-bit matrix
 * stays 16-bit and is widened per run, a float32 one is a MatMul's prepacked B, the embedding is gathered
 * as stored (and, tied, read by the lm_head too: through a Transpose, or widened per run at 16 bits).
 * `written`: the bytes the conversion puts in the cache; a 16-bit matrix is read in place, but for GPT-2's
 * Conv1D weights, turned. Every
 * expert of a mixture is counted: the graph runs them all (emit.ts).
 */
export function checkpointWeights(dir: string): { weights: WeightUse[]; shape: ModelShape; written: number } {
  const ck = openCheckpoint(dir);
  const { config } = hfCheckpoint(ck);
  const { names, conv1d } = traitsOf(config);
  // The tables the graph gathers rows of, under the module root or without it (a saved base model: GPT-2's hub one).
  const table = (t: string | undefined) => (t ? [`${names.root}.${t}.weight`, `${t}.weight`] : []);
  const embed = table(names.embed),
    positions = table(names.positions);
  let written = 0;
  const weights = [...ck.tensors.values()].flatMap((t): WeightUse[] => {
    // A stack of matrices, [n, rows, cols] (Mixtral's fused experts), is n matrices to the graph, each its own MatMul.
    const n = t.shape.length === 3 ? t.shape[0] : 1;
    const matrix = t.shape.length === 2 || t.shape.length === 3;
    const elements = t.shape.reduce((a, b) => a * b, 1) / n;
    // Matrices keep their 16 bits; vectors (norm gains, biases) are written as float32.
    const half = matrix && (t.dtype === "BF16" || t.dtype === "F16");
    const bytes = elements * (half ? 2 : 4);
    const gathered = embed.includes(t.name) || positions.includes(t.name);
    // Rewritten by the reader: GPT-2's Conv1D matrices turned.
    if (!half || (conv1d && !gathered && t.name !== "lm_head.weight")) written += n * bytes;
    const use = (u: WeightUse["use"]) => Array.from({ length: n }, () => ({ bytes, elements, use: u }));
    if (!matrix || positions.includes(t.name)) return use("other");
    if (embed.includes(t.name) && !config.tied) return use("other");
    return use(half ? "perRun" : embed.includes(t.name) ? "transposed" : "matmul");
  });
  return {
    weights,
    shape: { layers: config.layers, d: config.d, heads: config.heads, vocab: config.vocab },
    written,
  };
}

export async function buildCheckpoint(
  dir: string,
  cacheDir: string,
  onProgress: (m: string) => void = () => {},
): Promise<string> {
  // Everything that can be refused from the headers and config.json is refused before a byte is hashed.
  const ck = openCheckpoint(dir);
  const converted = hfCheckpoint(ck);
  const inputs = ["config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"]
    .map((f) => path.join(dir, f))
    .filter((f) => fs.existsSync(f));
  const sha = await contentSha256([...inputs, ...ck.files], onProgress);
  // The weights' form is in the folder's name: a 16-bit conversion is never mistaken for a float32 one.
  const forms = halfForms(ck);
  const form = forms.length ? forms.join("+") : "f32";
  const out = path.join(
    cacheDir,
    "checkpoints",
    // The files' real paths too: the folder links to them (its 16-bit matrices are read in place), so the same
    // content at another path, or on another host sharing the cache, has a folder of its own.
    `${converted.modelType}-${sha.slice(0, 12)}-${form}-${key({ sha, form, WRITER_SOURCE, CHECKPOINT_SOURCE, files: ck.files.map((f) => fs.realpathSync(f)) })}`,
  );
  if (reuse(out)) return out;
  const { config, weights, tokenizer, tokenizerConfig, modelType } = converted;
  return writeConverted(out, config, weights, {
    config: hfConfig(config, {
      model_type: modelType,
      probespec: { synthetic: false, converted_from: `HF checkpoint ${dir} (sha256 ${sha}), ${weightsNote(forms)}` },
    }),
    tokenizer,
    tokenizerConfig,
    onProgress,
  });
}

/** What the conversion did with the weights, in the converted folder's config.json. */
export function weightsNote(forms: string[]): string {
  return forms.length
    ? `${forms.join(" and ")} weight matrices kept at 16 bits, read in place from the checkpoint's files and cast to float32 per operation (norm gains and biases as float32)`
    : "weights as float32";
}
