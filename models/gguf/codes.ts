/**
 * ggml's block formats as integer codes for MatMulNBits (models/writer/quantized.ts): each weight
 * w = s·c + o, c a whole number in the format's range, s (and o) per block of 16 or 32 along a row,
 * read from the same bytes and in the same float32 steps as dequantize.ts, so that s·c is the very
 * product it rounds (exact: a half times a small integer). Formats with no offset (Q4_0, Q5_0, Q8_0,
 * Q3_K, Q6_K, IQ2_XXS) give x · dequantised(W) within the sums' rounding; those with one (Q4_1, Q5_1,
 * Q2_K, Q4_K, Q5_K) round w = s·c + o once more in the dequantiser, which this form does not.
 */
import { halfToFloat } from "../../onnx/tensor.js";
import type { QuantizedLinear } from "../writer/quantized.js";
import { IQ2XXS_GRID, IQ2XXS_LEVELS } from "./iq2xxs-grid.js";
import { tensorBytes } from "./dequantize.js";

const f = Math.fround;

/** Block size along a row, and the range of c: the formats re-encoded; anything else stays float32. */
const FORMS: Record<number, { block: number; min: number; max: number }> = {
  2: { block: 32, min: -8, max: 7 }, // Q4_0
  3: { block: 32, min: 0, max: 15 }, // Q4_1
  6: { block: 32, min: -16, max: 15 }, // Q5_0
  7: { block: 32, min: 0, max: 31 }, // Q5_1
  8: { block: 32, min: -128, max: 127 }, // Q8_0
  10: { block: 16, min: 0, max: 3 }, // Q2_K
  11: { block: 16, min: -4, max: 3 }, // Q3_K
  12: { block: 32, min: 0, max: 15 }, // Q4_K
  13: { block: 32, min: 0, max: 31 }, // Q5_K
  14: { block: 16, min: -32, max: 31 }, // Q6_K
  16: { block: 32, min: -43, max: 43 }, // IQ2_XXS
};

export const codedTypes = () => Object.keys(FORMS).map(Number);

/** Does this format become MatMulNBits codes (rather than float32)? */
export const isCoded = (type: number) => type in FORMS;

/**
 * A [rows, cols] tensor of a block format (ggml order: cols is dims[0]) as a QuantizedLinear:
 * one 4-bit plane where the codes span 16 values, two where they span 256.
 */
export function quantizedLinear(
  type: number,
  q: Uint8Array,
  rows: number,
  cols: number,
  what: string,
): QuantizedLinear {
  const form = FORMS[type];
  const count = rows * cols;
  tensorBytes(type, count, what);
  const B = form.block,
    blocks = count / B;
  const c = new Int16Array(count),
    s = new Float32Array(blocks);
  let o: Float32Array | undefined;
  const dv = new DataView(q.buffer, q.byteOffset, q.byteLength);
  const h = (at: number) => halfToFloat(dv.getUint16(at, true));
  const offsets = () => (o ??= new Float32Array(blocks));
  switch (type) {
    case 2:
    case 3: // Q4_0, Q4_1: d, (m), qs[16]
      for (let b = 0, at = 0; b < count / 32; b++, at += type === 2 ? 18 : 20) {
        const y = b * 32,
          qs = at + (type === 2 ? 2 : 4),
          zero = type === 2 ? 8 : 0;
        s[b] = h(at);
        if (type === 3) offsets()[b] = h(at + 2);
        for (let j = 0; j < 16; j++) {
          c[y + j] = (q[qs + j] & 15) - zero;
          c[y + j + 16] = (q[qs + j] >> 4) - zero;
        }
      }
      break;
    case 6:
    case 7: {
      // Q5_0, Q5_1: d, (m), qh (32 high bits), qs[16]
      const one = type === 7;
      for (let b = 0, at = 0; b < count / 32; b++, at += one ? 24 : 22) {
        const y = b * 32,
          qhAt = at + (one ? 4 : 2),
          qs = qhAt + 4,
          qh = dv.getUint32(qhAt, true),
          zero = one ? 0 : 16;
        s[b] = h(at);
        if (one) offsets()[b] = h(at + 2);
        for (let j = 0; j < 16; j++) {
          c[y + j] = ((q[qs + j] & 15) | (((qh >>> j) & 1) << 4)) - zero;
          c[y + j + 16] = ((q[qs + j] >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - zero;
        }
      }
      break;
    }
    case 8: // Q8_0: d, qs[32] int8
      for (let b = 0, at = 0; b < count / 32; b++, at += 34) {
        s[b] = h(at);
        for (let j = 0; j < 32; j++) c[b * 32 + j] = dv.getInt8(at + 2 + j);
      }
      break;
    case 10: // Q2_K: scales[16] (4-bit scale | 4-bit min), qs[64], d, dmin
      for (let b = 0, at = 0; b < count / 256; b++, at += 84) {
        const y = b * 256,
          d = h(at + 80),
          dmin = h(at + 82);
        for (let sub = 0; sub < 16; sub++) {
          const sc = q[at + sub];
          s[b * 16 + sub] = f(d * (sc & 15));
          offsets()[b * 16 + sub] = -f(dmin * (sc >> 4));
        }
        for (let i = 0; i < 256; i++) c[y + i] = (q[at + 16 + (i >> 7) * 32 + (i & 31)] >> (((i >> 5) & 3) * 2)) & 3;
      }
      break;
    case 11: // Q3_K: hmask[32], qs[64], scales[12] (6-bit, around 32), d
      for (let b = 0, at = 0; b < count / 256; b++, at += 110) {
        const y = b * 256,
          d = h(at + 108),
          sAt = at + 96;
        for (let sub = 0; sub < 16; sub++) {
          const lo = sub < 8 ? q[sAt + sub] & 15 : q[sAt + sub - 8] >> 4;
          const hi = (q[sAt + 8 + (sub & 3)] >> (2 * (sub >> 2))) & 3;
          s[b * 16 + sub] = f(d * ((lo | (hi << 4)) - 32));
        }
        for (let i = 0; i < 256; i++) {
          const low = (q[at + 32 + (i >> 7) * 32 + (i & 31)] >> (((i >> 5) & 3) * 2)) & 3;
          const high = ((q[at + (i & 31)] >> (i >> 5)) & 1) ^ 1;
          c[y + i] = low - (high << 2);
        }
      }
      break;
    case 12:
    case 13: {
      // Q4_K, Q5_K: d, dmin, scales[12] (6-bit scale and min per 32), (qh[32]), qs[128]
      const five = type === 13;
      for (let b = 0, at = 0; b < count / 256; b++, at += five ? 176 : 144) {
        const y = b * 256,
          d = h(at),
          dmin = h(at + 2),
          qs = at + (five ? 48 : 16);
        for (let sub = 0; sub < 8; sub++) {
          const k = at + 4;
          const [sc, mn] =
            sub < 4
              ? [q[k + sub] & 63, q[k + sub + 4] & 63]
              : [
                  (q[k + sub + 4] & 15) | ((q[k + sub - 4] >> 6) << 4),
                  (q[k + sub + 4] >> 4) | ((q[k + sub] >> 6) << 4),
                ];
          s[b * 8 + sub] = f(d * sc);
          offsets()[b * 8 + sub] = -f(dmin * mn);
        }
        for (let i = 0; i < 256; i++) {
          const sub = i >> 5,
            byte = q[qs + (sub >> 1) * 32 + (i & 31)];
          let v = sub & 1 ? byte >> 4 : byte & 15;
          if (five) v |= ((q[at + 16 + (i & 31)] >> sub) & 1) << 4;
          c[y + i] = v;
        }
      }
      break;
    }
    case 14: // Q6_K: ql[128], qh[64], scales[16] int8, d
      for (let b = 0, at = 0; b < count / 256; b++, at += 210) {
        const y = b * 256,
          d = h(at + 208);
        for (let sub = 0; sub < 16; sub++) s[b * 16 + sub] = f(d * dv.getInt8(at + 192 + sub));
        for (let i = 0; i < 256; i++) {
          const half = i >> 7,
            quarter = (i >> 5) & 3,
            l = i & 31;
          const lq = q[at + half * 64 + (quarter & 1) * 32 + l];
          const lo = quarter >> 1 ? lq >> 4 : lq & 15;
          const hi = (q[at + 128 + half * 32 + l] >> (2 * quarter)) & 3;
          c[y + i] = (lo | (hi << 4)) - 32;
        }
      }
      break;
    case 16: // IQ2_XXS: d, then 8 × (4 grid indexes; 4 × 7-bit signs and a 4-bit scale)
      for (let b = 0, at = 0; b < count / 256; b++, at += 66) {
        const d = h(at);
        for (let ib = 0; ib < 8; ib++) {
          const aux = dv.getUint32(at + 2 + 8 * ib + 4, true);
          s[b * 8 + ib] = f(f(d * f(0.5 + (aux >>> 28))) * 0.25);
          for (let l = 0; l < 4; l++) {
            const grid = IQ2XXS_GRID[q[at + 2 + 8 * ib + l]];
            const s7 = (aux >>> (7 * l)) & 127;
            let odd = 0;
            for (let v = s7; v; v >>= 1) odd ^= v & 1;
            const signs = s7 | (odd << 7);
            for (let j = 0; j < 8; j++) {
              const v = IQ2XXS_LEVELS[(grid >> (2 * j)) & 3];
              c[b * 256 + ib * 32 + l * 8 + j] = (signs >> j) & 1 ? -v : v;
            }
          }
        }
      }
      break;
  }
  return nibbles(c, s, o, rows, cols, B, form.min, form.max);
}

/**
 * u = c + shift split into 4-bit planes; shift puts c's range around MatMulNBits' zero point (8, or 136
 * over two planes) where it fits, and what is left over goes to the offset: o' = o + s·(zero − shift).
 */
function nibbles(
  c: Int16Array,
  s: Float32Array,
  o: Float32Array | undefined,
  rows: number,
  cols: number,
  B: number,
  min: number,
  max: number,
): QuantizedLinear {
  const J = max - min < 16 ? 1 : 2,
    zero = J === 1 ? 8 : 136;
  const shift = Math.min(Math.max(zero, -min), 16 ** J - 1 - max);
  const planes = Array.from({ length: J }, () => new Uint8Array(c.length / 2));
  for (let i = 0; i < c.length; i += 2) {
    const a = c[i] + shift,
      b = c[i + 1] + shift;
    for (let j = 0; j < J; j++) planes[j][i >> 1] = ((a >> (4 * j)) & 15) | (((b >> (4 * j)) & 15) << 4);
  }
  let offsets: Float32Array | undefined;
  if (o || zero !== shift) {
    offsets = new Float32Array(s.length);
    for (let b = 0; b < s.length; b++) offsets[b] = f((o ? o[b] : 0) + s[b] * (zero - shift));
  }
  return {
    form: "codes",
    rows,
    cols,
    blockSize: B,
    planes,
    scales: s,
    offsets,
  };
}
