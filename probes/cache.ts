/**
 * Probe results on disk, keyed by the model's content identity, the probe
 * version and the prompts. Entries carry a checksum and are written atomically
 * (temp file + rename), so a killed run or a concurrent one never leaves a
 * half-written entry that is trusted: a bad checksum means recompute.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { makeDir } from "../onnx/io.js";

export const sha = (s: string | Uint8Array) => crypto.createHash("sha256").update(s).digest("hex");

/**
 * What probe results depend on: the ONNX bytes' hash and the identity of every
 * other file that reaches the session or the tokenizer (external data,
 * config.json, genai_config.json, tokenizer files), wherever they lie (onnx/, a
 * symlink into the HuggingFace cache's blobs/). Identity is size, mtime, ctime and
 * inode of the file a link resolves to: any write changes ctime, so a rewritten
 * multi-GB data file changes the key without being read.
 */
export function modelIdentity(onnxSha256: string, files: readonly string[]): string {
  const parts = [onnxSha256];
  for (const f of [...new Set(files)].sort()) {
    const st = fs.statSync(f);
    parts.push(`${f}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`);
  }
  return sha(parts.join("\n"));
}

export function cacheKey(parts: unknown): string {
  return sha(JSON.stringify(parts)).slice(0, 32);
}

/**
 * The source of probes/ and of the ONNX layer under it (every .ts file, recursively), hashed into every
 * results key: any edit to how models are read, located or measured is answered by probing again, never
 * by numbers the old code wrote.
 */
export const PROBES_SOURCE = (() => {
  const h = crypto.createHash("sha256");
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith(".ts")) h.update(path.relative(import.meta.dirname, f)).update(fs.readFileSync(f));
    }
  };
  walk(import.meta.dirname);
  walk(path.join(import.meta.dirname, "..", "onnx"));
  return h.digest("hex").slice(0, 16);
})();

/** What the store holds under a key: nothing, a result, or a file that cannot be trusted and why. */
export type Cached<T> = { value: T } | { problem: string } | undefined;

/**
 * A cached entry, parsed by `schema`. It must be whole (its checksum), of this version (the
 * schema) and filed under its own key (a result copied over another's is not that model's).
 * Nothing is removed here: a run that cannot trust an entry probes again and writes over it; a
 * judge names the file.
 */
export function readCached<T>(cacheDir: string, key: string, schema: z.ZodType<T, unknown>): Cached<T> {
  const file = cachedFile(cacheDir, key);
  let raw: string;
  try {
    raw = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  let entry: { checksum?: unknown; key?: unknown; payload?: unknown } | null;
  try {
    entry = JSON.parse(raw);
  } catch {
    return { problem: `${file} is not whole (not valid JSON): a write was cut short` };
  }
  if (typeof entry?.payload !== "string" || sha(entry.payload) !== entry.checksum)
    return { problem: `${file} is not whole (its checksum does not match): a write was cut short` };
  if (entry.key !== key)
    return { problem: `${file} was filed under another key (${entry.key}): a copy of another result` };
  let payload: unknown;
  try {
    payload = JSON.parse(entry.payload);
  } catch {
    return { problem: `${file} holds a payload that is not JSON` };
  }
  const parsed = schema.safeParse(payload);
  if (!parsed.success) return { problem: `${file} is not a result of this version of probespec` };
  return { value: parsed.data };
}

export const cachedFile = (cacheDir: string, key: string) => path.join(cacheDir, "results", `${key}.json`);

export function writeCached(cacheDir: string, key: string, value: unknown): void {
  const dir = path.join(cacheDir, "results");
  makeDir(dir);
  const payload = JSON.stringify(value);
  const tmp = path.join(dir, `${key}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify({ checksum: sha(payload), key, payload }));
  fs.renameSync(tmp, cachedFile(cacheDir, key));
}
