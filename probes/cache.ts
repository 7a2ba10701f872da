/**
 * Probe results on disk, keyed by the model's content identity, the probe
 * version and the prompts. Entries carry a checksum and are written atomically
 * (temp file + rename), so a killed run or a concurrent one never leaves a
 * half-written entry that is trusted: a bad checksum means recompute.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const sha = (s: string | Buffer) => crypto.createHash("sha256").update(s).digest("hex");

/** sha256 of a file, streamed: an ONNX file without external data can be gigabytes. */
export function fileSha256(file: string): string {
  const h = crypto.createHash("sha256");
  const fd = fs.openSync(file, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** The ONNX file's hash and every other file's name, size and mtime: what the results depend on. */
export function folderIdentity(dir: string, onnxFile: string, onnxSha256: string): string {
  const parts = [onnxSha256];
  for (const f of fs.readdirSync(dir).sort()) {
    const st = fs.statSync(path.join(dir, f));
    if (st.isFile() && path.join(dir, f) !== onnxFile) parts.push(`${f}:${st.size}:${st.mtimeMs}`);
  }
  return sha(parts.join("\n"));
}

export function cacheKey(parts: unknown): string {
  return sha(JSON.stringify(parts)).slice(0, 32);
}

export function readCached<T>(cacheDir: string, key: string): T | undefined {
  const file = path.join(cacheDir, "results", `${key}.json`);
  let raw: string;
  try {
    raw = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const { checksum, payload } = JSON.parse(raw);
    if (typeof payload !== "string" || sha(payload) !== checksum) throw new Error("checksum mismatch");
    return JSON.parse(payload) as T;
  } catch {
    fs.rmSync(file, { force: true }); // corrupt or half-written: recompute, never trust
    return undefined;
  }
}

export function writeCached(cacheDir: string, key: string, value: unknown): void {
  const dir = path.join(cacheDir, "results");
  fs.mkdirSync(dir, { recursive: true });
  const payload = JSON.stringify(value);
  const tmp = path.join(dir, `${key}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify({ checksum: sha(payload), payload }));
  fs.renameSync(tmp, path.join(dir, `${key}.json`));
}
