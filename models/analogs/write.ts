/**
 * Writes a generated model as a folder in the HuggingFace / Optimum (or GenAI)
 * layout: config.json, tokenizer files, model.onnx and, when asked, its weights
 * as external data (`model.onnx_data` for TorchScript, `model.onnx.data` for GenAI).
 * Writes go to a temporary folder renamed into place, so a half-written model is never seen.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, StringStringEntryProtoSchema, type ModelProto } from "onnx-buf";
import { type AnalogConfig, type Dialect } from "./config.js";

const MODEL_TYPE: Record<AnalogConfig["family"], string> = {
  mistral: "mistral", llama: "llama", gemma: "gemma", pythia: "gpt_neox", apertus: "apertus",
};

export function hfConfig(c: AnalogConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const neox = c.family === "pythia";
  return {
    model_type: MODEL_TYPE[c.family],
    hidden_size: c.d,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    intermediate_size: c.hidden,
    vocab_size: c.vocab,
    max_position_embeddings: c.maxPositions,
    [neox ? "layer_norm_eps" : "rms_norm_eps"]: c.eps,
    rope_theta: c.ropeTheta,
    ...(neox ? { rotary_pct: c.rotaryPct, use_parallel_residual: true } : {}),
    tie_word_embeddings: c.tied,
    bos_token_id: 1,
    eos_token_id: 2,
    ...extra,
  };
}

/** Moves every initializer over `threshold` bytes into one external data file. */
export function externalize(proto: ModelProto, location: string, threshold = 1024): { proto: ModelProto; data: Buffer } {
  const chunks: Buffer[] = [];
  let offset = 0;
  const initializer = proto.graph!.initializer.map((t) => {
    if (t.rawData.length <= threshold) return t;
    const pad = (4096 - (offset % 4096)) % 4096; // page-aligned, as onnx.save_model does for mmap
    if (pad) chunks.push(Buffer.alloc(pad));
    offset += pad;
    chunks.push(Buffer.from(t.rawData));
    const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
    const ext = { ...t, rawData: new Uint8Array(0), dataLocation: 1, externalData: [entry("location", location), entry("offset", String(offset)), entry("length", String(t.rawData.length))] };
    offset += t.rawData.length;
    return ext;
  });
  return { proto: { ...proto, graph: { ...proto.graph!, initializer } }, data: Buffer.concat(chunks) };
}

export interface FolderContents {
  proto: ModelProto;
  dialect: Dialect;
  external: boolean;
  config: Record<string, unknown>;
  tokenizer: object;
  tokenizerConfig: object;
  genaiConfig?: object;
}

const MANIFEST = ".probespec-manifest.json";
const sha256 = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

/**
 * Is a generated folder still what was generated? Every file its manifest lists has
 * the same sha256. A folder edited, truncated or flipped on disk is not trusted:
 * the caller removes it and generates it again.
 */
export function generatedIntact(dir: string): boolean {
  let manifest: Record<string, string>;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), "utf8"));
  } catch {
    return false;
  }
  return Object.entries(manifest).every(([name, hash]) => {
    try {
      return sha256(fs.readFileSync(path.join(dir, name))) === hash;
    } catch {
      return false;
    }
  });
}

export function writeModelFolder(dir: string, f: FolderContents): string {
  const tmp = `${dir}.${process.pid}.${Date.now()}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  let proto = f.proto;
  if (f.external) {
    const location = f.dialect === "genai" ? "model.onnx.data" : "model.onnx_data";
    const ext = externalize(proto, location);
    proto = ext.proto;
    fs.writeFileSync(path.join(tmp, location), ext.data);
  }
  fs.writeFileSync(path.join(tmp, "model.onnx"), toBinary(ModelProtoSchema, proto));
  fs.writeFileSync(path.join(tmp, "config.json"), JSON.stringify(f.config, null, 2));
  fs.writeFileSync(path.join(tmp, "tokenizer.json"), JSON.stringify(f.tokenizer));
  fs.writeFileSync(path.join(tmp, "tokenizer_config.json"), JSON.stringify(f.tokenizerConfig, null, 2));
  if (f.genaiConfig) fs.writeFileSync(path.join(tmp, "genai_config.json"), JSON.stringify(f.genaiConfig, null, 2));
  // Each file's sha256, written at generation: a cached folder is used only while it still matches.
  const manifest = Object.fromEntries(fs.readdirSync(tmp).sort().map((n) => [n, sha256(fs.readFileSync(path.join(tmp, n)))]));
  fs.writeFileSync(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 1));
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    // another run won the race and wrote the same deterministic folder
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dir, "model.onnx"))) throw e;
  }
  return dir;
}

export function genaiConfig(c: AnalogConfig): object {
  return {
    model: {
      type: MODEL_TYPE[c.family], vocab_size: c.vocab, context_length: c.maxPositions, bos_token_id: 1, eos_token_id: 2,
      decoder: { filename: "model.onnx", num_hidden_layers: c.layers, num_attention_heads: c.heads, num_key_value_heads: c.kvHeads, hidden_size: c.d, head_size: c.d / c.heads },
    },
  };
}
