/**
 * The cache of converted and generated model folders: each keyed by a hash of everything that shapes its
 * bytes (its source's content, the code that wrote it), reused only while intact, written whole or not at all.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type TensorProto } from "onnx-buf";
import type { ModelConfig } from "./config.js";
import { emitModel } from "./emit.js";
import { ExternalData, generatedIntact, writeFolder, writeFolderFiles } from "./folder.js";
import { inPlace } from "./half.js";
import type { ModelWeights } from "./types.js";

/** The .ts sources of these folders (where they exist: a bundle has none), hashed. */
export function sourceHash(...dirs: string[]): string {
  const h = crypto.createHash("sha256");
  for (const dir of dirs.filter((d) => fs.existsSync(d))) {
    for (const f of fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".ts"))
      .sort())
      h.update(f).update(fs.readFileSync(path.join(dir, f)));
  }
  return h.digest("hex").slice(0, 16);
}

/**
 * The writer's own source and the ONNX layer it writes through (graph building, the int4 codec), hashed into
 * every cache key: an edit to how models are written can never be answered with a folder the old code wrote.
 * Each source kind adds its own converter's or generator's source.
 */
export const WRITER_SOURCE = sourceHash(import.meta.dirname, path.join(import.meta.dirname, "..", "..", "onnx"));

export function key(value: unknown): string {
  return crypto.createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

/** A cached generated folder is reused only while it matches its manifest; otherwise it is removed and made again. */
export function reuse(dir: string): boolean {
  if (!fs.existsSync(dir)) return false;
  if (generatedIntact(dir)) return true;
  fs.rmSync(dir, { recursive: true, force: true });
  return false;
}

/**
 * sha256 of files read as one (a GGUF split into byte parts), streamed asynchronously: the event
 * loop turns between chunks, so a multi-GB hash can be interrupted (SIGTERM, a test's timeout).
 */
export async function partsSha256(files: readonly string[]): Promise<string> {
  const h = crypto.createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 22);
  for (const f of files) {
    const fh = await fs.promises.open(f, "r");
    try {
      for (let n; (n = (await fh.read(buf, 0, buf.length, null)).bytesRead) > 0;) h.update(buf.subarray(0, n));
    } finally {
      await fh.close();
    }
  }
  return h.digest("hex");
}

/**
 * Writes a converted model into the cache as one folder: TorchScript dialect, weights (float32, a
 * converter's block codes, 16-bit matrices) streamed tensor by tensor into model.onnx_data as the lazy
 * weights are read, so the model is never whole in memory; a checkpoint's 16-bit matrices are not
 * copied but linked (in-place-N, models/writer/half.ts).
 */
export function writeConverted(
  dir: string,
  config: ModelConfig,
  weights: ModelWeights,
  files: {
    config: Record<string, unknown>;
    tokenizer: object;
    tokenizerConfig: object;
    onProgress: (m: string) => void;
  },
): string {
  return writeFolder(dir, (tmp) => {
    const fd = fs.openSync(path.join(tmp, "model.onnx_data"), "w");
    let placed = 0;
    const ext = new ExternalData("model.onnx_data", (b) => fs.writeSync(fd, b));
    // A weight that runs as the user's file stores it is read there: through a symlink of the folder's own
    // (ONNX locations are relative), one a file, never a copy; the file is opened by nobody for writing.
    const links = new Map<string, string>();
    const link = (t: TensorProto, file: string): TensorProto => {
      let name = links.get(file);
      if (!name) {
        name = `in-place-${links.size}${path.extname(file)}`;
        fs.symlinkSync(file, path.join(tmp, name));
        links.set(file, name);
      }
      const at = name;
      return { ...t, externalData: t.externalData.map((e) => (e.key === "location" ? { ...e, value: at } : e)) };
    };
    try {
      const proto = emitModel(config, weights, {
        dialect: "torchscript",
        place: (t) => {
          const file = inPlace(t);
          if (file) return link(t, file);
          if (t.rawData.length > 1 << 20) files.onProgress(`converting: ${++placed} large tensors written`);
          return ext.place(t);
        },
      });
      fs.writeFileSync(path.join(tmp, "model.onnx"), toBinary(ModelProtoSchema, proto));
    } finally {
      fs.closeSync(fd);
    }
    writeFolderFiles(tmp, { config: files.config, tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig });
  });
}
