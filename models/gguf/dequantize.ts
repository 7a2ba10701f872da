/**
 * ggml's block formats, dequantised to float32 exactly as ggml and the gguf
 * package do it: each product and difference rounded to float32 in the same
 * order (Math.fround), so the result is bit for bit theirs (test/gguf.test.ts).
 * Layouts: ggml-common.h's block_* structs; K-quants are 256-value super-blocks.
 */
import { halfToFloat } from "../../onnx/tensor.js";
import { IQ2XXS_GRID, IQ2XXS_LEVELS } from "./iq2xxs-grid.js";
import { GgufError } from "./error.js";

const GGML_TYPE = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  IQ2_XXS: 16,
  BF16: 30,
} as const;
const NAMES: Record<number, string> = {
  0: "F32",
  1: "F16",
  2: "Q4_0",
  3: "Q4_1",
  6: "Q5_0",
  7: "Q5_1",
  8: "Q8_0",
  9: "Q8_1",
  10: "Q2_K",
  11: "Q3_K",
  12: "Q4_K",
  13: "Q5_K",
  14: "Q6_K",
  15: "Q8_K",
  16: "IQ2_XXS",
  17: "IQ2_XS",
  18: "IQ3_XXS",
  19: "IQ1_S",
  20: "IQ4_NL",
  21: "IQ3_S",
  22: "IQ2_S",
  23: "IQ4_XS",
  24: "I8",
  25: "I16",
  26: "I32",
  27: "I64",
  28: "F64",
  29: "IQ1_M",
  30: "BF16",
};
export const typeName = (t: number) => NAMES[t] ?? `type ${t}`;

/** Values per block and bytes per block. */
const BLOCK: Record<number, [number, number]> = {
  0: [1, 4],
  1: [1, 2],
  30: [1, 2],
  2: [32, 18],
  3: [32, 20],
  6: [32, 22],
  7: [32, 24],
  8: [32, 34],
  10: [256, 84],
  11: [256, 110],
  12: [256, 144],
  13: [256, 176],
  14: [256, 210],
  16: [256, 66],
};

export function tensorBytes(type: number, count: number, what: string): number {
  const b = BLOCK[type];
  if (!b)
    throw new GgufError(
      `${what} is stored as ${typeName(type)}, which probespec cannot dequantise (it reads ${Object.keys(BLOCK)
        .map((t) => typeName(Number(t)))
        .join(", ")})`,
    );
  if (count % b[0])
    throw new GgufError(`${what}: ${count} values are not a whole number of ${typeName(type)} blocks of ${b[0]}`);
  return (count / b[0]) * b[1];
}

const f = Math.fround;

/** The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (12 packed bytes at `s`). */
function scaleMin(q: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [q[s + j] & 63, q[s + j + 4] & 63];
  return [(q[s + j + 4] & 0x0f) | ((q[s + j - 4] >> 6) << 4), (q[s + j + 4] >> 4) | ((q[s + j] >> 6) << 4)];
}

/** Dequantises `count` values of `type` from `q` into a new Float32Array. */
export function dequantize(type: number, q: Uint8Array, count: number, what = "tensor"): Float32Array {
  const need = tensorBytes(type, count, what);
  if (q.byteLength < need) throw new GgufError(`${what}: ${q.byteLength} bytes where ${typeName(type)} needs ${need}`);
  const out = new Float32Array(count);
  const dv = new DataView(q.buffer, q.byteOffset, q.byteLength);
  const h = (o: number) => halfToFloat(dv.getUint16(o, true));
  const [per, size] = BLOCK[type];
  for (let b = 0, o = 0; b < count / per; b++, o = b * size) {
    const y = b * per;
    switch (type) {
      case GGML_TYPE.F32:
        out[y] = dv.getFloat32(o, true);
        break;
      case GGML_TYPE.F16:
        out[y] = h(o);
        break;
      case GGML_TYPE.BF16:
        out[y] = new Float32Array(Uint32Array.of(dv.getUint16(o, true) << 16).buffer)[0];
        break;
      case GGML_TYPE.Q8_0: {
        const d = h(o);
        for (let j = 0; j < 32; j++) out[y + j] = f(dv.getInt8(o + 2 + j) * d);
        break;
      }
      case GGML_TYPE.Q4_0:
      case GGML_TYPE.Q4_1: {
        const d = h(o),
          m = type === GGML_TYPE.Q4_1 ? h(o + 2) : 0,
          qs = o + (type === GGML_TYPE.Q4_1 ? 4 : 2);
        for (let j = 0; j < 16; j++) {
          const lo = q[qs + j] & 0x0f,
            hi = q[qs + j] >> 4;
          if (type === GGML_TYPE.Q4_0) {
            out[y + j] = f(d * (lo - 8));
            out[y + j + 16] = f(d * (hi - 8));
          } else {
            out[y + j] = f(f(d * lo) + m);
            out[y + j + 16] = f(f(d * hi) + m);
          }
        }
        break;
      }
      case GGML_TYPE.Q5_0:
      case GGML_TYPE.Q5_1: {
        const one = type === GGML_TYPE.Q5_1;
        const d = h(o),
          m = one ? h(o + 2) : 0,
          qhAt = o + (one ? 4 : 2),
          qs = qhAt + 4;
        const qh = dv.getUint32(qhAt, true);
        for (let j = 0; j < 16; j++) {
          const lo = (q[qs + j] & 0x0f) | (((qh >>> j) & 1) << 4),
            hi = (q[qs + j] >> 4) | (((qh >>> (j + 16)) & 1) << 4);
          if (one) {
            out[y + j] = f(f(d * lo) + m);
            out[y + j + 16] = f(f(d * hi) + m);
          } else {
            out[y + j] = f(d * (lo - 16));
            out[y + j + 16] = f(d * (hi - 16));
          }
        }
        break;
      }
      case GGML_TYPE.Q2_K: {
        // scales[16] (4-bit scale | 4-bit min), qs[64] (2 bits each), d, dmin
        const d = h(o + 80),
          dmin = h(o + 82);
        for (let i = 0; i < 256; i++) {
          const sub = i >> 4,
            sc = q[o + sub];
          const half = i >> 7,
            shift = ((i >> 5) & 3) * 2,
            l = i & 31;
          const v = (q[o + 16 + half * 32 + l] >> shift) & 3;
          out[y + i] = f(f(f(d * (sc & 0x0f)) * v) - f(dmin * (sc >> 4)));
        }
        break;
      }
      case GGML_TYPE.Q3_K: {
        // hmask[32], qs[64], scales[12] (6-bit, signed around 32), d
        const d = h(o + 108),
          s = o + 96;
        for (let i = 0; i < 256; i++) {
          const sub = i >> 4;
          const lo = sub < 8 ? q[s + sub] & 0x0f : q[s + sub - 8] >> 4;
          const hi = (q[s + 8 + (sub & 3)] >> (2 * (sub >> 2))) & 3;
          const scale = (lo | (hi << 4)) - 32;
          const half = i >> 7,
            shift = ((i >> 5) & 3) * 2,
            l = i & 31;
          const low = (q[o + 32 + half * 32 + l] >> shift) & 3;
          const high = ((q[o + l] >> (i >> 5)) & 1) ^ 1; // a set mask bit means no offset
          out[y + i] = f(f(d * scale) * (low - (high << 2)));
        }
        break;
      }
      case GGML_TYPE.Q4_K:
      case GGML_TYPE.Q5_K: {
        // d, dmin, scales[12], (Q5_K: qh[32]), qs[128]
        const five = type === GGML_TYPE.Q5_K;
        const d = h(o),
          dmin = h(o + 2),
          qs = o + (five ? 48 : 16);
        for (let i = 0; i < 256; i++) {
          const sub = i >> 5,
            [sc, mn] = scaleMin(q, o + 4, sub);
          const byte = q[qs + (sub >> 1) * 32 + (i & 31)];
          let v = sub & 1 ? byte >> 4 : byte & 0x0f;
          if (five) v |= ((q[o + 16 + (i & 31)] >> sub) & 1) << 4;
          out[y + i] = f(f(f(d * sc) * v) - f(dmin * mn));
        }
        break;
      }
      case GGML_TYPE.Q6_K: {
        // ql[128], qh[64], scales[16] (int8), d
        const d = h(o + 208);
        for (let i = 0; i < 256; i++) {
          const half = i >> 7,
            quarter = (i >> 5) & 3,
            l = i & 31;
          const lq = q[o + half * 64 + (quarter & 1) * 32 + l];
          const lo = quarter >> 1 ? lq >> 4 : lq & 0x0f;
          const hi = (q[o + 128 + half * 32 + l] >> (2 * quarter)) & 3;
          const scale = dv.getInt8(o + 192 + (i >> 4));
          out[y + i] = f(f(d * scale) * ((lo | (hi << 4)) - 32));
        }
        break;
      }
      case GGML_TYPE.IQ2_XXS: {
        // d, then 8 × (4 grid indexes; 4 × 7-bit sign patterns and a 4-bit scale)
        const d = h(o);
        for (let ib = 0; ib < 8; ib++) {
          const aux = dv.getUint32(o + 2 + 8 * ib + 4, true);
          const db = f(f(d * f(0.5 + (aux >>> 28))) * 0.25);
          for (let l = 0; l < 4; l++) {
            const grid = IQ2XXS_GRID[q[o + 2 + 8 * ib + l]];
            // ksigns: the 7 stored bits, and an 8th that makes the count of minus signs even.
            const s7 = (aux >>> (7 * l)) & 127;
            const signs = s7 | ((popcount7(s7) & 1) << 7);
            for (let j = 0; j < 8; j++) {
              const v = f(db * IQ2XXS_LEVELS[(grid >> (2 * j)) & 3]);
              out[y + ib * 32 + l * 8 + j] = (signs >> j) & 1 ? -v : v;
            }
          }
        }
        break;
      }
    }
  }
  return out;
}

function popcount7(x: number): number {
  let n = 0;
  for (let v = x; v; v >>= 1) n += v & 1;
  return n;
}
