/**
 * llama2.c checkpoints ("v0" layout, see shared/conformance/README.md) read into
 * analog weights: a real, trained Llama-architecture model.
 */
import { rotateHalfRows } from "../writer/rotary.js";
import fs from "node:fs";
import { analogConfig, type AnalogConfig } from "./config.js";
import type { ModelWeights, LayerWeights } from "../writer/types.js";

export function readLlama2c(file: string): { config: AnalogConfig; weights: ModelWeights<Float32Array> } {
  const buf = fs.readFileSync(file);
  if (buf.length < 28) throw new Error(`${file} is ${buf.length} bytes, too short for a llama2.c header`);
  const [dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen] = Array.from({ length: 7 }, (_, i) =>
    buf.readInt32LE(4 * i),
  );
  const vocab = Math.abs(vocabSigned);
  const hd = dim / heads,
    kvDim = kvHeads * hd;
  const floats = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
  let at = 0;
  const take = (n: number) => {
    if (at + n > floats.length)
      throw new Error(`${file} ends early: it holds ${floats.length} floats, the header needs more`);
    const a = floats.slice(at, at + n);
    at += n;
    return a;
  };
  const embed = take(vocab * dim);
  const perLayer = (n: number) => {
    const all = take(layers * n);
    return Array.from({ length: layers }, (_, l) => all.slice(l * n, (l + 1) * n));
  };
  const rmsAtt = perLayer(dim),
    wq = perLayer(dim * dim),
    wk = perLayer(kvDim * dim),
    wv = perLayer(kvDim * dim),
    wo = perLayer(dim * dim);
  const rmsFfn = perLayer(dim),
    w1 = perLayer(hidden * dim),
    w2 = perLayer(dim * hidden),
    w3 = perLayer(hidden * dim);
  const finalNorm = take(dim);
  take(seqLen * (hd / 2) * 2); // freq_cis_real, freq_cis_imag: RoPE recomputed from theta
  const lmHead = vocabSigned > 0 ? embed : take(vocab * dim);
  const config = analogConfig("llama", {
    layers,
    d: dim,
    heads,
    kvHeads,
    hidden,
    vocab,
    maxPositions: seqLen,
    tied: vocabSigned > 0,
    ropeStyle: "interleaved",
    eps: 1e-5,
    tokenizer: "llama2c",
    calibrationIds: [1],
  });
  const layerWeights: LayerWeights<Float32Array>[] = Array.from({ length: layers }, (_, l) => ({
    norm1: rmsAtt[l],
    norm2: rmsFfn[l],
    q: wq[l],
    k: wk[l],
    v: wv[l],
    o: wo[l],
    gate: w1[l],
    up: w3[l],
    down: w2[l],
  }));
  return { config, weights: { embed, layers: layerWeights, finalNorm, lmHead } };
}

/**
 * llama2.c rotates interleaved pairs (2i, 2i+1); HF rotates halves (i, i + hd/2).
 * Permuting q and k rows per head turns one into the other (HF's convert script does the same).
 */
export function toRotateHalf(
  config: AnalogConfig,
  w: ModelWeights<Float32Array>,
): { config: AnalogConfig; weights: ModelWeights<Float32Array> } {
  const hd = config.d / config.heads;
  return {
    config: { ...config, ropeStyle: "half" },
    weights: {
      ...w,
      layers: w.layers.map((L) => ({
        ...L,
        q: rotateHalfRows(L.q, config.heads, hd, config.d),
        k: rotateHalfRows(L.k, config.kvHeads, hd, config.d),
      })),
    },
  };
}
