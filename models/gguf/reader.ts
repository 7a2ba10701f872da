/**
 * GGUF v2/v3 (llama.cpp's model file, docs/gguf.md in ggml): a header, typed
 * metadata, tensor infos, then the tensors' data at `general.alignment`. A file
 * may come as byte-split parts (npm packages cap their size): the parts read as
 * one file, in order. Tensor data is read on demand, one tensor at a time.
 *
 * A hostile file is refused as ggml refuses it (ggml/src/gguf.cpp), before anything is
 * allocated from its counts: a key or tensor named twice, an alignment that is not a power of
 * two, more than 4 dimensions, and tensor data that is not laid out back to back at the
 * alignment (each offset must be the previous tensor's end, padded). Every message names the file.
 */
import fs from "node:fs";
import path from "node:path";
import { tensorBytes } from "./dequantize.js";
import { GgufError } from "./error.js";

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the fastest-varying (a row's length), as torch's shape reversed. */
  dims: number[];
  type: number;
  /** Byte offset of its data from the start of the data section. */
  offset: number;
}

export interface Gguf {
  file: string;
  version: number;
  metadata: Map<string, unknown>;
  tensors: GgufTensorInfo[];
  dataStart: number;
  /** The bytes of `length` from absolute offset `at`, across parts. */
  read(at: number, length: number): Uint8Array;
  close(): void;
}

/** Parts read as one file: their fds and where each begins. A device or a FIFO is refused before it is opened (opening a FIFO blocks). */
export function openParts(files: readonly string[]) {
  for (const f of files)
    if (!fs.statSync(f).isFile())
      throw new GgufError(`${f} is not a regular file (a folder, a device or a pipe), so it is not a GGUF file`);
  const parts: { fd: number; size: number }[] = [];
  try {
    for (const f of files) {
      const fd = fs.openSync(f, "r");
      parts.push({ fd, size: fs.fstatSync(fd).size });
    }
  } catch (e) {
    for (const p of parts) fs.closeSync(p.fd);
    throw e;
  }
  const starts: number[] = [];
  let total = 0;
  for (const p of parts) {
    starts.push(total);
    total += p.size;
  }
  const read = (at: number, length: number): Uint8Array => {
    if (at + length > total)
      throw new GgufError(
        `${files.map((f) => path.basename(f)).join(" + ")}: reading ${length} bytes at ${at} runs past the end (${total} bytes); the file is truncated`,
      );
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const pos = at + done;
      let i = starts.length - 1;
      while (starts[i] > pos) i--;
      const n = fs.readSync(
        parts[i].fd,
        out,
        done,
        Math.min(length - done, parts[i].size - (pos - starts[i]), 1 << 30),
        pos - starts[i],
      );
      if (n <= 0) throw new GgufError(`unexpected end of ${files[i]} at byte ${pos - starts[i]}`);
      done += n;
    }
    return out;
  };
  return { read, total, close: () => parts.forEach((p) => fs.closeSync(p.fd)) };
}

const VALUE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

export function openGguf(files: string | readonly string[]): Gguf {
  const list = typeof files === "string" ? [files] : files;
  const name = list.map((f) => path.basename(f)).join(" + ");
  const io = openParts(list);
  try {
    // The header and infos are read through a moving window: metadata (a 32000-token vocabulary) runs to megabytes.
    let window = io.read(0, Math.min(io.total, 1 << 20)),
      base = 0,
      at = 0;
    const need = (n: number) => {
      if (at + n <= base + window.length) return;
      if (at + n > io.total)
        throw new GgufError(
          `${name}: the header runs past the end of the file (${io.total} bytes); the file is truncated`,
        );
      base = at;
      window = io.read(at, Math.min(io.total - at, Math.max(n, 1 << 22)));
    };
    const dv = () => new DataView(window.buffer, window.byteOffset, window.byteLength);
    const u32 = () => {
      need(4);
      const v = dv().getUint32(at - base, true);
      at += 4;
      return v;
    };
    const u64 = () => {
      need(8);
      const v = dv().getBigUint64(at - base, true);
      at += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER))
        throw new GgufError(`${name}: a 64-bit count or offset (${v}) is too large; the file is corrupt`);
      return Number(v);
    };
    const str = () => {
      const n = u64();
      need(n);
      const s = Buffer.from(window.buffer, window.byteOffset + at - base, n).toString("utf8");
      at += n;
      return s;
    };
    const scalar = (type: number): unknown => {
      const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
      if (type === VALUE.STRING) return str();
      if (type === VALUE.UINT64) return u64();
      const size = sizes[type];
      if (size === undefined) throw new GgufError(`${name}: metadata value type ${type} is not a GGUF type`);
      need(size);
      const d = dv(),
        o = at - base;
      at += size;
      switch (type) {
        case VALUE.UINT8:
          return d.getUint8(o);
        case VALUE.INT8:
          return d.getInt8(o);
        case VALUE.UINT16:
          return d.getUint16(o, true);
        case VALUE.INT16:
          return d.getInt16(o, true);
        case VALUE.UINT32:
          return d.getUint32(o, true);
        case VALUE.INT32:
          return d.getInt32(o, true);
        case VALUE.FLOAT32:
          return d.getFloat32(o, true);
        case VALUE.BOOL:
          return d.getUint8(o) !== 0;
        case VALUE.INT64:
          return Number(d.getBigInt64(o, true));
        default:
          return d.getFloat64(o, true);
      }
    };
    /** Bytes left in the file: no count read from it may promise more elements than these could hold. */
    const left = () => io.total - at;
    const TYPED: Record<number, [number, (b: ArrayBuffer) => ArrayLike<number>]> = {
      [VALUE.UINT8]: [1, (b) => new Uint8Array(b)],
      [VALUE.INT8]: [1, (b) => new Int8Array(b)],
      [VALUE.UINT16]: [2, (b) => new Uint16Array(b)],
      [VALUE.INT16]: [2, (b) => new Int16Array(b)],
      [VALUE.UINT32]: [4, (b) => new Uint32Array(b)],
      [VALUE.INT32]: [4, (b) => new Int32Array(b)],
      [VALUE.FLOAT32]: [4, (b) => new Float32Array(b)],
      [VALUE.FLOAT64]: [8, (b) => new Float64Array(b)],
    };
    const value = (key: string, type: number): unknown => {
      if (type !== VALUE.ARRAY) return scalar(type);
      const elem = u32(),
        n = u64();
      const least = elem === VALUE.STRING ? 8 : (TYPED[elem]?.[0] ?? 1);
      if (n * least > left())
        throw new GgufError(
          `${name}: metadata "${key}" claims ${n} elements, which run past the end of the file (${left()} bytes are left); the file is truncated or corrupt`,
        );
      // Numbers come as a typed array: a vocabulary's scores are 4 bytes each, not a boxed value.
      const typed = TYPED[elem];
      if (typed) {
        const bytes = n * typed[0];
        need(bytes);
        const copy = new Uint8Array(window.subarray(at - base, at - base + bytes));
        at += bytes;
        return typed[1](copy.buffer);
      }
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(scalar(elem));
      return out;
    };
    need(4);
    if (Buffer.from(window.subarray(0, 4)).toString("latin1") !== "GGUF")
      throw new GgufError(`${name} is not a GGUF file (it does not begin with "GGUF")`);
    at = 4;
    const version = u32();
    if (version !== 2 && version !== 3) {
      throw new GgufError(
        `${name}: GGUF version ${version} is not read here (2 and 3 are${version > 0xffff ? "; this looks like a big-endian file" : ""})`,
      );
    }
    const tensorCount = u64(),
      kvCount = u64();
    // A key takes at least 12 bytes (an empty name and a type), a tensor info 24 (an empty name, no dims, type, offset).
    if (kvCount * 12 + tensorCount * 24 > left())
      throw new GgufError(
        `${name}: the header runs past the end of the file (${io.total} bytes) with ${kvCount} metadata keys and ${tensorCount} tensors still to read; the file is truncated or corrupt`,
      );
    const metadata = new Map<string, unknown>();
    for (let i = 0; i < kvCount; i++) {
      const key = str();
      if (metadata.has(key))
        throw new GgufError(`${name}: metadata key "${key}" appears twice (ggml refuses the file)`);
      metadata.set(key, value(key, u32()));
    }
    const alignment = metadata.get("general.alignment") ?? 32;
    if (
      typeof alignment !== "number" ||
      alignment < 1 ||
      alignment > 0xffffffff ||
      !Number.isInteger(Math.log2(alignment))
    )
      throw new GgufError(
        `${name}: general.alignment ${String(alignment)} is not a power of two (ggml refuses the file)`,
      );
    const tensors: GgufTensorInfo[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const tname = str();
      if (seen.has(tname)) throw new GgufError(`${name}: tensor "${tname}" appears twice (ggml refuses the file)`);
      seen.add(tname);
      const nDims = u32();
      if (nDims > 4) throw new GgufError(`${name}: tensor "${tname}" has ${nDims} dimensions; ggml allows 4 at most`);
      const dims = Array.from({ length: nDims }, () => u64());
      if (dims.reduce((a, b) => a * b, 1) > Number.MAX_SAFE_INTEGER)
        throw new GgufError(`${name}: tensor "${tname}" has dimensions [${dims}] too large to address`);
      tensors.push({ name: tname, dims, type: u32(), offset: u64() });
    }
    const dataStart = Math.ceil(at / alignment) * alignment;
    // ggml's layout: each tensor's data where the previous one's ended, padded to the alignment.
    let expected = 0,
      end = 0;
    for (const t of tensors) {
      if (t.offset !== expected)
        throw new GgufError(
          `${name}: tensor "${t.name}" has offset ${t.offset}, where the tensors before it end at ${expected} (aligned to ${alignment}); its data is misplaced or overlaps another's, and ggml refuses the file`,
        );
      // ggml quantises rows: a row (dims[0]) must be whole blocks, not only the tensor.
      tensorBytes(t.type, t.dims[0] ?? 1, `${name}: tensor "${t.name}"'s rows`);
      const bytes = tensorBytes(
        t.type,
        t.dims.reduce((a, b) => a * b, 1),
        `${name}: tensor "${t.name}"`,
      );
      end = expected + bytes;
      expected += Math.ceil(bytes / alignment) * alignment;
    }
    if (dataStart + end > io.total)
      throw new GgufError(
        `${name}: its tensors need ${dataStart + end} bytes, and the file has ${io.total}; the file is truncated (an interrupted download?)`,
      );
    return { file: name, version, metadata, tensors, dataStart, read: io.read, close: io.close };
  } catch (e) {
    io.close();
    throw e;
  }
}
