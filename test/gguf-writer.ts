/**
 * A GGUF v3 writer for tests: a real file's keys and tensors read back (openGguf), edited, and
 * written again, so that one hostile property at a time can be put into an otherwise good file.
 * Keys are a list, not a map, so that a key can be written twice; a tensor's offset can be forced.
 */
import fs from "node:fs";
import { tensorBytes } from "../models/gguf/dequantize.js";
import { openGguf } from "../models/gguf/reader.js";

export interface GgufTensor {
  name: string;
  dims: number[];
  type: number;
  data: Uint8Array;
  /** Where its data is said to lie; by default where the tensors before it end, padded. */
  offset?: number;
}

export interface GgufSpec {
  kv: [string, unknown][];
  tensors: GgufTensor[];
}

/** Every key and tensor of a GGUF file, with each tensor's bytes. */
export function readSpec(file: string): GgufSpec {
  const g = openGguf(file);
  try {
    return {
      kv: [...g.metadata],
      tensors: g.tensors.map((t) => ({
        name: t.name,
        dims: t.dims,
        type: t.type,
        data: Uint8Array.from(
          g.read(
            g.dataStart + t.offset,
            tensorBytes(
              t.type,
              t.dims.reduce((a, b) => a * b, 1),
              t.name,
            ),
          ),
        ),
      })),
    };
  } finally {
    g.close();
  }
}

/** The spec with `key` set (replacing it where present, appended otherwise). */
export const withKey = (s: GgufSpec, key: string, value: unknown): GgufSpec => ({
  ...s,
  kv: s.kv.some(([k]) => k === key) ? s.kv.map(([k, v]) => [k, k === key ? value : v]) : [...s.kv, [key, value]],
});

const T = { UINT8: 0, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, FLOAT64: 12 };

class Bytes {
  parts: Buffer[] = [];
  length = 0;
  push(b: Buffer) {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string) {
    this.u64(Buffer.byteLength(s));
    this.push(Buffer.from(s));
  }
}

/** A JS value as a GGUF value: whole numbers as u32 (i32 when negative), others as f32; typed arrays as their type. */
function typeOf(v: unknown): number {
  if (typeof v === "string") return T.STRING;
  if (typeof v === "boolean") return T.BOOL;
  if (typeof v === "number") return Number.isInteger(v) ? (v < 0 ? T.INT32 : T.UINT32) : T.FLOAT32;
  return T.ARRAY;
}

function writeValue(out: Bytes, v: unknown, type: number): void {
  if (type === T.STRING) out.str(v as string);
  else if (type === T.BOOL) out.push(Buffer.from([v ? 1 : 0]));
  else if (type === T.UINT32) out.u32(v as number);
  else if (type === T.INT32) out.i32(v as number);
  else if (type === T.FLOAT32) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v as number);
    out.push(b);
  } else {
    const typed: [number, unknown][] = [
      [T.FLOAT32, Float32Array],
      [T.INT32, Int32Array],
      [T.UINT32, Uint32Array],
      [T.UINT8, Uint8Array],
      [T.FLOAT64, Float64Array],
    ];
    const hit = typed.find(([, C]) => v instanceof (C as never));
    if (hit) {
      const a = v as Float32Array;
      out.u32(hit[0]);
      out.u64(a.length);
      out.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
      return;
    }
    const list = v as unknown[];
    const elem = list.length ? typeOf(list[0]) : T.STRING;
    out.u32(elem);
    out.u64(list.length);
    for (const x of list) writeValue(out, x, elem);
  }
}

export function writeGguf(file: string, spec: GgufSpec): string {
  const alignment = Number(spec.kv.find(([k]) => k === "general.alignment")?.[1] ?? 32);
  const pad = (n: number) => (alignment > 0 ? Math.ceil(n / alignment) * alignment : n);
  const head = new Bytes();
  head.push(Buffer.from("GGUF"));
  head.u32(3);
  head.u64(spec.tensors.length);
  head.u64(spec.kv.length);
  for (const [k, v] of spec.kv) {
    head.str(k);
    const type = typeOf(v);
    head.u32(type);
    writeValue(head, v, type);
  }
  let running = 0;
  const placed = spec.tensors.map((t) => {
    const offset = t.offset ?? running;
    running = pad(offset + t.data.length);
    return { ...t, offset };
  });
  for (const t of placed) {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    head.u64(t.offset);
  }
  const start = pad(head.length);
  // The data section is as long as the tensors laid out back to back: a forced offset past it (a hostile file) points nowhere.
  const natural = spec.tensors.reduce((n, t) => pad(n + t.data.length), 0);
  const data = Buffer.alloc(natural);
  for (const t of placed) if (t.offset + t.data.length <= natural) data.set(t.data, t.offset);
  fs.writeFileSync(file, Buffer.concat([...head.parts, Buffer.alloc(start - head.length), data]));
  return file;
}
