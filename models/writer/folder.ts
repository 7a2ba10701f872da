/**
 * Writes a model (generated or converted) as a folder in the HuggingFace / Optimum (or GenAI)
 * layout: config.json, tokenizer files, model.onnx and, when asked, its weights
 * as external data (`model.onnx_data` for TorchScript, `model.onnx.data` for GenAI).
 * Writes go to a temporary folder renamed into place, so a half-written model is never seen.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type ModelProto, type TensorProto } from "onnx-buf";
import { externalEntries } from "../../onnx/graph.js";
import type { Dialect, ModelConfig } from "./config.js";
import { makeDir } from "../../onnx/io.js";
import { parallelOf, traitsOf } from "../architectures/table.js";

export function hfConfig(c: ModelConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { names } = traitsOf(c);
  const parallel = parallelOf(c);
  return {
    model_type: c.family,
    hidden_size: c.d,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    ...(c.headDim !== undefined ? { head_dim: c.headDim } : {}),
    intermediate_size: c.hidden,
    vocab_size: c.vocab,
    max_position_embeddings: c.maxPositions,
    [names.eps]: c.eps,
    // A family without RoPE (GPT-2) has no rope keys.
    ...(c.rotaryPct ? { rope_theta: c.ropeTheta } : {}),
    ...(c.ropeScale ? { rope_scaling: { rope_type: "linear", factor: c.ropeScale } } : {}),
    // GPT-NeoX's config: the parallel residual is a key of it, as is its rotary_pct. Where the config chose
    // (StableLM's), it says so either way, and the locator holds the graph to it.
    ...(parallel
      ? { rotary_pct: c.rotaryPct, use_parallel_residual: true }
      : c.parallel === false
        ? { use_parallel_residual: false }
        : {}),
    // A mixture of experts, under MixtralConfig's keys.
    ...(c.experts ? { num_local_experts: c.experts.count, num_experts_per_tok: c.experts.topK } : {}),
    tie_word_embeddings: c.tied,
    bos_token_id: 1,
    eos_token_id: 2,
    ...extra,
  };
}

/**
 * Places initializers over `threshold` bytes in one external data file, each
 * page-aligned as onnx.save_model does (for mmap), as they come: `write`
 * receives the bytes, and the tensor keeps only its location, offset and length.
 */
export class ExternalData {
  private offset = 0;
  constructor(
    readonly location: string,
    private readonly write: (bytes: Uint8Array) => void,
    private readonly threshold = 1024,
  ) {}

  place(t: TensorProto): TensorProto {
    if (t.rawData.length <= this.threshold) return t;
    const pad = (4096 - (this.offset % 4096)) % 4096;
    if (pad) this.write(new Uint8Array(pad));
    this.offset += pad;
    this.write(t.rawData);
    const ext = {
      ...t,
      rawData: new Uint8Array(0),
      dataLocation: 1,
      externalData: externalEntries(this.location, this.offset, t.rawData.length),
    };
    this.offset += t.rawData.length;
    return ext;
  }
}

/** Moves every initializer over `threshold` bytes into one external data file. */
export function externalize(
  proto: ModelProto,
  location: string,
  threshold = 1024,
): { proto: ModelProto; data: Buffer } {
  const chunks: Uint8Array[] = [];
  const ext = new ExternalData(location, (b) => chunks.push(b), threshold);
  const initializer = proto.graph!.initializer.map((t) => ext.place(t));
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

/** sha256 of a file, streamed: a converted model's data runs to gigabytes. */
function fileSha256(file: string): string {
  const h = crypto.createHash("sha256");
  const fd = fs.openSync(file, "r");
  const buf = Buffer.allocUnsafe(1 << 22);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** Each file's hash, size and ctime; a link to the user's weights, its target and the target's size, mtime and inode. */
type Manifest = Record<
  string,
  { sha256: string; size: number; ctimeMs: number } | { link: string; size: number; mtimeMs: number; ino: number }
>;

/**
 * Is a generated folder still what was generated? Every file its manifest lists has
 * its size and, where its ctime moved (any write moves it), the same sha256. A folder
 * edited, truncated or flipped on disk is not trusted: the caller generates it again.
 */
export function generatedIntact(dir: string): boolean {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), "utf8"));
  } catch {
    return false;
  }
  return Object.entries(manifest).every(([name, m]) => {
    const file = path.join(dir, name);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st || st.size !== m.size) return false;
    // A file of the user's rewritten since (its mtime or inode moved) is not trusted: the folder is made again.
    if ("link" in m)
      return (
        fs.lstatSync(file).isSymbolicLink() &&
        fs.readlinkSync(file) === m.link &&
        st.mtimeMs === m.mtimeMs &&
        st.ino === m.ino
      );
    return st.ctimeMs === m.ctimeMs || fileSha256(file) === m.sha256;
  });
}

/**
 * Where a pid means this process: the host (anything but letters, digits, _ and - made _) and the PID
 * namespace (two containers may share a host name and a cache), so that a later run can tell whether
 * the writer of a temporary folder still lives.
 */
const PID_SPACE = (() => {
  let ns = "";
  try {
    ns = /\d+/.exec(fs.readlinkSync("/proc/self/ns/pid"))?.[0] ?? "";
  } catch {
    // no /proc: the host alone
  }
  return `${os.hostname().replace(/[^\w-]/g, "_")}${ns ? `-ns${ns}` : ""}`;
})();

/** A temporary folder's mark for process `pid` of this host and PID namespace. */
export const tempMark = (pid: number) => `${PID_SPACE}.${pid}`;

/**
 * Temporary folders that a killed writer left beside `dir` (a SIGKILL mid-conversion leaves up to
 * the model's size behind): on this host, those whose process is gone; from another host (a shared
 * store), those a day old.
 */
function removeStaleTemps(parent: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  const host = PID_SPACE;
  for (const n of names) {
    const m = /^[^.]+\.([\w-]+)\.(\d+)\.(\d+)\.tmp$/.exec(n);
    if (!m) continue;
    const alive = () => {
      try {
        process.kill(Number(m[2]), 0);
        return true;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
      }
    };
    const stale = m[1] === host ? !alive() : Date.now() - Number(m[3]) > 24 * 3600e3;
    if (stale) fs.rmSync(path.join(parent, n), { recursive: true, force: true });
  }
}

/**
 * Writes a generated folder as one unit: `fill` writes into a temporary folder,
 * a manifest of every file's hash is added, and the folder is renamed into place.
 */
export function writeFolder(dir: string, fill: (tmp: string) => void): string {
  removeStaleTemps(path.dirname(dir));
  const tmp = `${dir}.${tempMark(process.pid)}.${Date.now()}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  makeDir(tmp);
  try {
    fill(tmp);
    const manifest: Manifest = {};
    for (const n of fs.readdirSync(tmp).sort()) {
      const file = path.join(tmp, n);
      const st = fs.statSync(file);
      // A link to the user's weights (a checkpoint's, read in place) is theirs: named, never hashed again here
      // (the cache key holds their content's sha256).
      manifest[n] = fs.lstatSync(file).isSymbolicLink()
        ? { link: fs.readlinkSync(file), size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }
        : { sha256: fileSha256(file), size: st.size, ctimeMs: st.ctimeMs };
    }
    fs.writeFileSync(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 1));
    makeDir(path.dirname(dir));
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // another run may have won the race and written the same deterministic folder
    if (!fs.existsSync(path.join(dir, "model.onnx"))) throw e;
  }
  return dir;
}

/** The folder's files besides the model: config, tokenizer, GenAI config. */
export function writeFolderFiles(tmp: string, f: Omit<FolderContents, "proto" | "dialect" | "external">): void {
  fs.writeFileSync(path.join(tmp, "config.json"), JSON.stringify(f.config, null, 2));
  fs.writeFileSync(path.join(tmp, "tokenizer.json"), JSON.stringify(f.tokenizer));
  fs.writeFileSync(path.join(tmp, "tokenizer_config.json"), JSON.stringify(f.tokenizerConfig, null, 2));
  if (f.genaiConfig) fs.writeFileSync(path.join(tmp, "genai_config.json"), JSON.stringify(f.genaiConfig, null, 2));
}

export function writeModelFolder(dir: string, f: FolderContents): string {
  return writeFolder(dir, (tmp) => {
    let proto = f.proto;
    if (f.external) {
      const location = f.dialect === "genai" ? "model.onnx.data" : "model.onnx_data";
      const ext = externalize(proto, location);
      proto = ext.proto;
      fs.writeFileSync(path.join(tmp, location), ext.data);
    }
    fs.writeFileSync(path.join(tmp, "model.onnx"), toBinary(ModelProtoSchema, proto));
    writeFolderFiles(tmp, f);
  });
}
