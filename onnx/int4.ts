/**
 * How weight matrices are stored in exported graphs: transposed for a MatMul
 * ([in, out]), and block-wise 4-bit as ONNX Runtime's MatMulNBits stores it:
 * B is [N, blocks, block_size/2] uint8, two values a byte, low nibble first;
 * with no zero_points input the zero point is 8; w = (q − 8) · scale.
 */
export interface Q4 {
  packed: Uint8Array;
  scales: Float32Array;
  blocks: number;
  blockSize: number;
  blockBytes: number;
}

export function quantizeQ4(W: Float32Array, rows: number, cols: number, blockSize = 32): Q4 {
  const blocks = Math.ceil(cols / blockSize);
  const blockBytes = blockSize / 2;
  const packed = new Uint8Array(rows * blocks * blockBytes);
  const scales = new Float32Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      let max = 0;
      for (let i = b * blockSize; i < Math.min(cols, (b + 1) * blockSize); i++)
        max = Math.max(max, Math.abs(W[r * cols + i]));
      const scale = Math.fround(max / 7 || 1);
      scales[r * blocks + b] = scale;
      for (let i = 0; i < blockSize; i++) {
        const col = b * blockSize + i;
        const q = col < cols ? Math.min(15, Math.max(0, Math.round(W[r * cols + col] / scale) + 8)) : 8;
        const at = (r * blocks + b) * blockBytes + (i >> 1);
        packed[at] |= i & 1 ? q << 4 : q;
      }
    }
  }
  return { packed, scales, blocks, blockSize, blockBytes };
}

/** The [rows, cols] float matrix a MatMulNBits weight stands for. */
export const dequantizeQ4 = (
  packed: ArrayLike<number>,
  scales: ArrayLike<number>,
  rows: number,
  cols: number,
  blockSize: number,
  zeroPoints?: ArrayLike<number>,
): Float32Array => dequantizeNbits([{ packed, factor: 1 }], scales, rows, cols, blockSize, { zeroPoints });

/**
 * The [rows, cols] float matrix 4-bit planes on one scales tensor stand for (onnx/nbits.ts):
 * s·Σ_j factor_j·(n_j − zero point) + o in float32: the planes' whole-number sum times s, rounded once (as
 * a block format's own dequantiser rounds s·c), then the offset added once.
 */
export function dequantizeNbits(
  planes: { packed: ArrayLike<number>; factor: number }[],
  scales: ArrayLike<number>,
  rows: number,
  cols: number,
  blockSize: number,
  extra: { zeroPoints?: ArrayLike<number>; offsets?: ArrayLike<number>; offsetsT?: ArrayLike<number> } = {},
): Float32Array {
  const { zeroPoints, offsets, offsetsT } = extra;
  const blocks = Math.ceil(cols / blockSize);
  const blockBytes = blockSize / 2;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const scale = scales[r * blocks + b],
        o = offsets ? offsets[r * blocks + b] : offsetsT ? offsetsT[b * rows + r] : 0;
      // zero_points, when given, are packed 4-bit per block, two blocks a byte, per row.
      const zpByte = zeroPoints ? zeroPoints[r * Math.ceil(blocks / 2) + (b >> 1)] : 0;
      const zp = zeroPoints ? (b & 1 ? zpByte >> 4 : zpByte & 15) : 8;
      for (let i = 0; i < blockSize; i++) {
        const col = b * blockSize + i;
        if (col >= cols) break;
        const at = (r * blocks + b) * blockBytes + (i >> 1);
        let u = 0;
        for (const { packed, factor } of planes) u += factor * (((i & 1 ? packed[at] >> 4 : packed[at]) & 15) - zp);
        out[r * cols + col] = Math.fround(u * scale) + o;
      }
    }
  }
  return out;
}

/** [rows, cols] → [cols, rows]: HF's Linear weight [out, in] as the exporter folds it for MatMul, and back. */
export function transpose(W: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(W.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = W[r * cols + c];
  return t;
}
