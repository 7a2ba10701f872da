/**
 * RoPE's two layouts of a head's rotary pairs: Meta's and llama.cpp's interleaved (2i, 2i+1), HF's rotate-half
 * halves (i, i + hd/2). The writer computes rotate-half; llama2.c checkpoints and llama GGUFs store q's and k's
 * rows interleaved.
 */

/** The rows of a q or k projection ([heads·hd, d]) from interleaved-pair order to rotate-half order, per head. */
export function rotateHalfRows(W: Float32Array, nHeads: number, hd: number, d: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let h = 0; h < nHeads; h++)
    for (let j = 0; j < hd; j++) {
      const src = j < hd / 2 ? 2 * j : 2 * (j - hd / 2) + 1;
      out.set(W.subarray((h * hd + src) * d, (h * hd + src + 1) * d), (h * hd + j) * d);
    }
  return out;
}
