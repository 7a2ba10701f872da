/**
 * Initializer data: external data by offset and length, and conversion of
 * float32 / float16 / bfloat16 storage to Float32Array.
 */
import fs from "node:fs";
import path from "node:path";
import { TensorProto_DataType as DT, type TensorProto } from "onnx-buf";
import { LoadError, formatBytes } from "./errors.js";

/** Bytes per element of the ONNX element types probespec reads. */
const ELEMENT_BYTES: Partial<Record<DT, number>> = {
  [DT.FLOAT]: 4,
  [DT.UINT8]: 1,
  [DT.INT8]: 1,
  [DT.UINT16]: 2,
  [DT.INT16]: 2,
  [DT.INT32]: 4,
  [DT.INT64]: 8,
  [DT.BOOL]: 1,
  [DT.FLOAT16]: 2,
  [DT.DOUBLE]: 8,
  [DT.UINT32]: 4,
  [DT.UINT64]: 8,
  [DT.BFLOAT16]: 2,
};

/** int64 fields (dims, offsets) arrive as bigint; refuse values a double cannot hold exactly. */
export function int64ToNumber(v: bigint | number | string, what: string): number {
  const b = BigInt(v);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`${what} = ${b} is beyond 2^53 and cannot be represented exactly`);
  }
  return Number(b);
}

export function dimsOf(t: TensorProto): number[] {
  return t.dims.map((d, i) => int64ToNumber(d, `tensor "${t.name}" dim ${i}`));
}

export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export interface ExternalRef {
  location: string;
  offset: number;
  length: number | undefined;
}

export function externalRef(t: TensorProto): ExternalRef | undefined {
  if (t.dataLocation !== 1 /* EXTERNAL */ && t.externalData.length === 0) return undefined;
  const kv = Object.fromEntries(t.externalData.map((e) => [e.key, e.value]));
  if (!kv.location) return undefined;
  return {
    location: kv.location,
    offset: kv.offset ? int64ToNumber(kv.offset, `tensor "${t.name}" offset`) : 0,
    length: kv.length ? int64ToNumber(kv.length, `tensor "${t.name}" length`) : undefined,
  };
}

/**
 * External data locations are relative to the model file and must stay inside
 * its folder: an absolute path or one that climbs out is refused before any read.
 */
export function resolveExternalPath(modelDir: string, location: string, modelId?: string): string {
  if (path.isAbsolute(location) || path.win32.isAbsolute(location)) {
    throw new LoadError(
      modelId,
      `external data location "${location}" is absolute; ONNX requires a path relative to the model's folder, refused`,
    );
  }
  const resolved = path.resolve(modelDir, location);
  const rel = path.relative(path.resolve(modelDir), resolved);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) {
    throw new LoadError(
      modelId,
      `external data location "${location}" escapes the model's folder ${modelDir}, refused`,
    );
  }
  return resolved;
}

function elementBytes(t: TensorProto, modelId?: string): number {
  const b = ELEMENT_BYTES[t.dataType as DT];
  if (b === undefined)
    throw new LoadError(
      modelId,
      `tensor "${t.name}" has element type ${DT[t.dataType] ?? t.dataType}, which probespec does not read`,
    );
  return b;
}

/** Byte length a tensor's data must have. */
export function byteLength(t: TensorProto, modelId?: string): number {
  return numel(dimsOf(t)) * elementBytes(t, modelId);
}

/**
 * Checks every external reference of a model's initializers (location and
 * file size) without reading tensor data, so bad files fail before a session starts.
 */
export function checkExternalData(tensors: readonly TensorProto[], modelDir: string, modelId?: string): string[] {
  const need = new Map<string, { end: number; tensor: string }>();
  for (const t of tensors) {
    const ref = externalRef(t);
    if (!ref) continue;
    const file = resolveExternalPath(modelDir, ref.location, modelId);
    const end = ref.offset + (ref.length ?? byteLength(t, modelId));
    const prev = need.get(file);
    if (!prev || end > prev.end) need.set(file, { end, tensor: t.name });
  }
  for (const [file, { end, tensor }] of need) {
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch {
      throw new LoadError(
        modelId,
        `external data file "${path.relative(modelDir, file)}" is missing from ${modelDir} (tensor "${tensor}" lives there)`,
      );
    }
    if (size < end) {
      throw new LoadError(
        modelId,
        `external data "${path.relative(modelDir, file)}" is ${formatBytes(end - size)} shorter than its tensors need (${formatBytes(size)} of ${formatBytes(end)}); the download looks incomplete`,
      );
    }
  }
  return [...need.keys()];
}

/** Reads through a file descriptor at an offset, so files over 2 GiB work. */
function readAt(file: string, offset: number, length: number): Uint8Array {
  const out = Buffer.allocUnsafe(length);
  const fd = fs.openSync(file, "r");
  try {
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, out, done, Math.min(length - done, 1 << 30), offset + done);
      if (n === 0) throw new Error(`unexpected end of file at byte ${offset + done}`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** The little-endian bytes of a tensor stored as raw_data or in an external file. */
export function rawBytes(t: TensorProto, modelDir: string, modelId?: string): Uint8Array | undefined {
  const ref = externalRef(t);
  if (ref) {
    const file = resolveExternalPath(modelDir, ref.location, modelId);
    const length = ref.length ?? byteLength(t, modelId);
    try {
      return readAt(file, ref.offset, length);
    } catch (e) {
      throw new LoadError(
        modelId,
        `cannot read tensor "${t.name}" from external data "${ref.location}": ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  return t.rawData.length > 0 ? t.rawData : undefined;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half to float, subnormals, infinities and NaN included. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 is the top half of a float32. */
export function bf16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A floating-point initializer as Float32Array, whatever its storage. */
export function toFloat32(t: TensorProto, modelDir: string, modelId?: string): Float32Array {
  const n = numel(dimsOf(t));
  const bytes = rawBytes(t, modelDir, modelId);
  if (bytes) {
    const need = byteLength(t, modelId);
    if (bytes.byteLength !== need)
      throw new LoadError(modelId, `tensor "${t.name}" holds ${bytes.byteLength} bytes where its shape needs ${need}`);
    const out = new Float32Array(n);
    // float32 little-endian and aligned (this machine's order): a view, not a copy.
    if (t.dataType === DT.FLOAT && bytes.byteOffset % 4 === 0 && LITTLE_ENDIAN)
      return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    const dv = view(bytes);
    switch (t.dataType) {
      case DT.FLOAT:
        for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
        return out;
      case DT.DOUBLE:
        for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
        return out;
      case DT.FLOAT16:
        for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
        return out;
      case DT.BFLOAT16:
        for (let i = 0; i < n; i++) out[i] = bf16ToFloat(dv.getUint16(2 * i, true));
        return out;
    }
  } else {
    // Typed fields: float_data for float32, int32_data holding the 16 bits for float16 / bfloat16.
    const src: ArrayLike<number> =
      t.dataType === DT.FLOAT ? t.floatData : t.dataType === DT.DOUBLE ? t.doubleData : t.int32Data;
    if (src.length !== n)
      throw new LoadError(modelId, `tensor "${t.name}" holds ${src.length} values where its shape needs ${n}`);
    const out = new Float32Array(n);
    switch (t.dataType) {
      case DT.FLOAT:
      case DT.DOUBLE:
        out.set(src);
        return out;
      case DT.FLOAT16:
        for (let i = 0; i < n; i++) out[i] = halfToFloat(src[i]);
        return out;
      case DT.BFLOAT16:
        for (let i = 0; i < n; i++) out[i] = bf16ToFloat(src[i]);
        return out;
    }
  }
  throw new LoadError(modelId, `tensor "${t.name}" has element type ${DT[t.dataType] ?? t.dataType}, not a float type`);
}

/** Integer initializers (shapes, indices, packed int4) as numbers: 8-bit ones as a typed view of their bytes. */
export function toInts(t: TensorProto, modelDir: string, modelId?: string): ArrayLike<number> {
  const n = numel(dimsOf(t));
  const bytes = rawBytes(t, modelDir, modelId);
  // 8-bit codes as a typed view: a number[] of a 7B lm_head's MatMulNBits codes would be 65 M boxed elements.
  if (bytes && bytes.length >= n && t.dataType === DT.UINT8) return bytes.subarray(0, n);
  if (bytes && bytes.length >= n && t.dataType === DT.INT8) return new Int8Array(bytes.buffer, bytes.byteOffset, n);
  if (!bytes) {
    const src = t.dataType === DT.INT64 || t.dataType === DT.UINT64 ? t.int64Data : t.int32Data;
    return Array.from(src as ArrayLike<number | bigint>, (v, i) =>
      int64ToNumber(v as bigint, `tensor "${t.name}"[${i}]`),
    );
  }
  const dv = view(bytes);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    switch (t.dataType) {
      case DT.INT64:
        out[i] = int64ToNumber(dv.getBigInt64(8 * i, true), `tensor "${t.name}"[${i}]`);
        break;
      case DT.UINT64:
        out[i] = int64ToNumber(dv.getBigUint64(8 * i, true), `tensor "${t.name}"[${i}]`);
        break;
      case DT.INT32:
        out[i] = dv.getInt32(4 * i, true);
        break;
      case DT.UINT32:
        out[i] = dv.getUint32(4 * i, true);
        break;
      case DT.INT16:
        out[i] = dv.getInt16(2 * i, true);
        break;
      case DT.UINT16:
        out[i] = dv.getUint16(2 * i, true);
        break;
      case DT.INT8:
        out[i] = dv.getInt8(i);
        break;
      case DT.UINT8:
      case DT.BOOL:
        out[i] = dv.getUint8(i);
        break;
      default:
        throw new LoadError(
          modelId,
          `tensor "${t.name}" has element type ${DT[t.dataType] ?? t.dataType}, not an integer type`,
        );
    }
  }
  return out;
}
