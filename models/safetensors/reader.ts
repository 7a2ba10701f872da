/**
 * safetensors (huggingface/safetensors, docs/source/index.mdx): an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then
 * the tensors' bytes, little-endian, offsets relative to the end of the header. A checkpoint is
 * one model.safetensors, or shards named by model.safetensors.index.json's weight_map.
 *
 * A hostile file is refused as the reference implementation refuses it (safetensors/src/tensor.rs,
 * validate): a header over 100 MB, offsets that are not laid out back to back from 0 to the end of
 * the file, a byte count that is not dtype × shape. Tensors are read one at a time at their offset,
 * never the whole file: shards run to gigabytes, and a Node Buffer stops at 2 GiB.
 */
import fs from "node:fs";
import path from "node:path";
import { bf16ToFloat, halfToFloat } from "../../onnx/tensor.js";
import { readJsonFile } from "../registry/schema.js";

/** What is wrong with a checkpoint, its file named first: the reader and the converter throw it. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** The dtypes read, with their bytes per element: as the hub ships weights. */
const READ = { F32: 4, F16: 2, BF16: 2 } as const;
type Dtype = keyof typeof READ;
/** The others safetensors defines (safetensors/src/tensor.rs, Dtype): named when refused. */
const KNOWN = [
  "BOOL",
  "U8",
  "I8",
  "I16",
  "U16",
  "I32",
  "U32",
  "I64",
  "U64",
  "F64",
  "F8_E4M3",
  "F8_E5M2",
  "F4",
  "F6_E2M3",
  "F6_E3M2",
  "E8M0",
  "F8_E8M0",
];

export interface TensorInfo {
  name: string;
  /** As the header names it: F32, BF16, F8_E4M3, … */
  dtype: string;
  shape: number[];
  file: string;
  /** Absolute byte offset in the file, and byte length. */
  offset: number;
  length: number;
}

/** safetensors' own cap (MAX_HEADER_SIZE): a larger header is refused before it is read. */
const MAX_HEADER = 100_000_000;

/** The tensors a safetensors file declares, checked against the file's size; nothing of the data is read. */
export function readHeader(file: string): TensorInfo[] {
  const name = path.basename(file);
  const fail = (m: string): never => {
    throw new SafetensorsError(`${file}: ${m}`);
  };
  const st = fs.statSync(file);
  if (!st.isFile()) fail("is not a regular file (a folder, a device or a pipe)");
  const fd = fs.openSync(file, "r");
  let header: unknown;
  let dataStart: number;
  try {
    if (st.size < 8) fail(`is ${st.size} bytes, shorter than the 8-byte header length; the file is truncated`);
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const n = len.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER))
      fail(`header length ${n} is over safetensors' limit of ${MAX_HEADER} bytes; this is not a safetensors file`);
    if (8n + n > BigInt(st.size))
      fail(
        `header length ${n} runs past the end of the file (${st.size} bytes); the file is truncated or not a safetensors file`,
      );
    const text = Buffer.alloc(Number(n));
    fs.readSync(fd, text, 0, text.length, 8);
    try {
      header = JSON.parse(text.toString("utf8"));
    } catch (e) {
      fail(`its header is not valid JSON (${(e as Error).message})`);
    }
    dataStart = 8 + Number(n);
  } finally {
    fs.closeSync(fd);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) return fail("its header is not a JSON object");
  const dataSize = st.size - dataStart;
  const tensors: TensorInfo[] = [];
  for (const [tname, v] of Object.entries(header)) {
    if (tname === "__metadata__") continue;
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const what = `tensor "${tname}"`;
    if (!t || typeof t !== "object") fail(`${what} is not an object`);
    const whole = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
    if (!Array.isArray(t.shape) || !t.shape.every(whole))
      fail(`${what} has shape ${JSON.stringify(t.shape)}, not a list of sizes`);
    const offs = t.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(whole))
      fail(`${what} has data_offsets ${JSON.stringify(offs)}, not [begin, end]`);
    const dtype = String(t.dtype);
    if (!(dtype in READ) && !KNOWN.includes(dtype))
      fail(`${what} is of dtype ${JSON.stringify(t.dtype)}, which safetensors does not define`);
    const [begin, end] = offs as number[];
    if (end < begin) fail(`${what} has data_offsets [${begin}, ${end}], which end before they begin`);
    // A dtype that is not read is refused when its tensor is read: a checkpoint may carry buffers nobody reads.
    const bytes = dtype in READ ? (t.shape as number[]).reduce((a, b) => a * b, 1) * READ[dtype as Dtype] : end - begin;
    if (end - begin !== bytes)
      fail(`${what} is ${dtype} [${t.shape}], ${bytes} bytes, but its data_offsets span ${end - begin}`);
    tensors.push({
      name: tname,
      dtype,
      shape: t.shape as number[],
      file,
      offset: dataStart + begin,
      length: end - begin,
    });
  }
  // Back to back from 0, as safetensors writes and validates them: anything else overlaps, leaves a hole, or is cut short.
  // Empty tensors first at an offset they share: they overlap nothing.
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset || a.length - b.length);
  let at = dataStart;
  for (const t of sorted) {
    if (t.offset < at)
      fail(
        `tensor "${t.name}" overlaps the tensor before it (data_offsets begin at ${t.offset - dataStart}, before ${at - dataStart})`,
      );
    if (t.offset > at)
      fail(
        `tensor "${t.name}" begins at ${t.offset - dataStart}, leaving a gap after ${at - dataStart}; the tensors are not laid out back to back`,
      );
    at = t.offset + t.length;
  }
  if (at - dataStart > dataSize)
    fail(
      `its tensors need ${at - dataStart} bytes of data and the file holds ${dataSize}; the file is truncated (an interrupted download?)`,
    );
  if (at - dataStart < dataSize)
    fail(`${dataSize - (at - dataStart)} bytes follow the last tensor; ${name} is not a safetensors file as written`);
  return tensors;
}

/** A tensor of a dtype probespec reads, or the error that names it. */
export function assertReadable(t: TensorInfo): void {
  if (!(t.dtype in READ))
    throw new SafetensorsError(
      `${t.file}: tensor "${t.name}" is ${t.dtype}, which probespec does not read (it reads ${Object.keys(READ).join(", ")}); save the checkpoint in one of those`,
    );
}

/** A tensor's bytes, read at its offset alone. */
function readBytes(t: TensorInfo, into: Uint8Array): Uint8Array {
  const fd = fs.openSync(t.file, "r");
  try {
    for (let done = 0; done < t.length;) {
      const n = fs.readSync(fd, into, done, Math.min(t.length - done, 1 << 30), t.offset + done);
      if (n <= 0)
        throw new SafetensorsError(
          `${t.file}: tensor "${t.name}" ends early at byte ${t.offset + done}; the file is truncated`,
        );
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return into;
}

/** A tensor as float32, read at its offset alone: float16 and bfloat16 widened exactly. */
export function readTensor(t: TensorInfo): Float32Array {
  assertReadable(t);
  const count = t.length / READ[t.dtype as Dtype];
  if (t.dtype === "F32") {
    const out = new Float32Array(count);
    readBytes(t, new Uint8Array(out.buffer));
    return out;
  }
  const widen = t.dtype === "F16" ? halfToFloat : bf16ToFloat;
  return Float32Array.from(readHalf(t), widen);
}

/** A float16 or bfloat16 tensor's 16-bit patterns as stored (safetensors is little-endian, as this machine is). */
export function readHalf(t: TensorInfo): Uint16Array {
  assertReadable(t);
  if (t.dtype !== "F16" && t.dtype !== "BF16")
    throw new SafetensorsError(`${t.file}: tensor "${t.name}" is ${t.dtype}, not a 16-bit float`);
  const bits = new Uint16Array(t.length / 2);
  readBytes(t, new Uint8Array(bits.buffer));
  return bits;
}

export interface Checkpoint {
  dir: string;
  /** The safetensors files, as the index names them (or model.safetensors). */
  files: string[];
  tensors: Map<string, TensorInfo>;
}

const INDEX = "model.safetensors.index.json";

/**
 * A checkpoint folder's tensors: model.safetensors, or the shards model.safetensors.index.json's
 * weight_map names. A shard missing, or a tensor the index puts in a shard that does not hold it,
 * is named with the index; a tensor held twice is refused, as transformers' loader would be ambiguous.
 */
export function openCheckpoint(dir: string): Checkpoint {
  const index = path.join(dir, INDEX);
  if (!fs.existsSync(index)) {
    const file = path.join(dir, "model.safetensors");
    if (!fs.existsSync(file)) throw new SafetensorsError(`${dir}: it holds neither model.safetensors nor ${INDEX}`);
    return { dir, files: [file], tensors: new Map(readHeader(file).map((t) => [t.name, t])) };
  }
  let map: unknown;
  try {
    map = (readJsonFile(index) as { weight_map?: unknown })?.weight_map;
  } catch (e) {
    throw new SafetensorsError(`${index}: not valid JSON (${(e as Error).message})`);
  }
  if (!map || typeof map !== "object" || Object.values(map).some((f) => typeof f !== "string"))
    throw new SafetensorsError(`${index}: weight_map is not an object of tensor name → shard file`);
  const weightMap = map as Record<string, string>;
  const files = [...new Set(Object.values(weightMap))];
  const held = new Map<string, TensorInfo[]>();
  for (const f of files) {
    const file = path.join(dir, f);
    // A shard name is a file beside the index, as huggingface_hub lays them out: never a path out of the folder.
    if (path.basename(f) !== f || f === "." || f === "..")
      throw new SafetensorsError(`${index}: names shard "${f}", which is not a file beside the index`);
    if (!fs.existsSync(file))
      throw new SafetensorsError(`${index}: names shard ${f}, which is not in ${dir}; the download is incomplete`);
    held.set(f, readHeader(file));
  }
  const tensors = new Map<string, TensorInfo>();
  for (const [f, list] of held)
    for (const t of list) {
      const other = tensors.get(t.name);
      if (other)
        throw new SafetensorsError(
          `${index}: tensor "${t.name}" is held by both ${path.basename(other.file)} and ${f}`,
        );
      tensors.set(t.name, t);
    }
  for (const [name, f] of Object.entries(weightMap)) {
    const t = tensors.get(name);
    if (!t || path.basename(t.file) !== f)
      throw new SafetensorsError(
        `${index}: puts tensor "${name}" in ${f}, which does not hold it${t ? ` (${path.basename(t.file)} does)` : ""}`,
      );
  }
  for (const name of tensors.keys())
    if (!Object.hasOwn(weightMap, name))
      throw new SafetensorsError(
        `${index}: does not list tensor "${name}" of ${path.basename(tensors.get(name)!.file)}`,
      );
  return { dir, files: files.map((f) => path.join(dir, f)), tensors };
}
