/**
 * The float64 reference forward pass: written from the families' HuggingFace
 * modeling code (and llama2.c for interleaved RoPE), independent of ONNX and of
 * ONNX Runtime, so that ORT's tensors can be checked against it.
 */
import { type AnalogConfig } from "./config.js";
import { headDim, rotaryDim } from "../writer/config.js";
import type { ModelWeights, LayerWeights } from "../writer/types.js";
import { parallelOf, traitsOf } from "../architectures/table.js";

/** Every probe point, each [seq, d] (logits [seq, vocab]), row-major, float64. */
export interface Trace {
  embed: Float64Array;
  residPre: Float64Array[];
  attnOut: Float64Array[];
  /** Absent for parallel-residual families (GPT-NeoX). */
  residMid: Float64Array[];
  mlpIn: Float64Array[];
  mlpOut: Float64Array[];
  residPost: Float64Array[];
  /** The attention probabilities, [heads, query, key] (zero above the diagonal). */
  pattern: Float64Array[];
  lnFinal: Float64Array;
  logits: Float64Array;
}

/** erf to float64 precision: Taylor series near 0, a continued fraction for erfc in the tails. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x,
      sum = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))), evaluated bottom-up.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

const silu = (x: number) => x / (1 + Math.exp(-x));
const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
const geluErf = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** The MLP nonlinearity of a family (the gate's, in gated MLPs). */
export function activation(c: AnalogConfig, w: LayerWeights<Float32Array>, x: number): number {
  switch (traitsOf(c).activation) {
    case "silu":
      return silu(x);
    case "gelu_pytorch_tanh":
      return geluTanh(x);
    case "gelu":
      return geluErf(x);
    case "xielu": {
      // xIELU (Apertus): alpha_p x² + βx above 0, alpha_n (expm1(min(x, eps)) − x) + βx below.
      const { alphaP, alphaN, beta, eps } = w.xielu!;
      return x > 0 ? alphaP * x * x + beta * x : alphaN * (Math.expm1(Math.min(x, eps)) - x) + beta * x;
    }
  }
}

/** y[s, out] = x[s, in] · W[out, in]ᵀ (+ b) */
export function linear(
  x: Float64Array,
  W: Float32Array,
  rows: number,
  inDim: number,
  outDim: number,
  b?: Float32Array,
): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let s = 0; s < rows; s++) {
    for (let o = 0; o < outDim; o++) {
      let acc = b ? b[o] : 0;
      const wo = o * inDim,
        xs = s * inDim;
      for (let i = 0; i < inDim; i++) acc += x[xs + i] * W[wo + i];
      y[s * outDim + o] = acc;
    }
  }
  return y;
}

/** The family's norm over rows of width n: RMSNorm, Gemma's RMSNorm with 1 + w, or LayerNorm with bias. */
export function norm(c: AnalogConfig, x: Float64Array, n: number, w: Float32Array, b?: Float32Array): Float64Array {
  const traits = traitsOf(c);
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    const off = r * n;
    let mean = 0;
    if (traits.norm === "layer") {
      for (let i = 0; i < n; i++) mean += x[off + i];
      mean /= n;
    }
    let sq = 0;
    for (let i = 0; i < n; i++) sq += (x[off + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / n + c.eps);
    for (let i = 0; i < n; i++) {
      const g = traits.gainPlusOne ? 1 + w[i] : w[i];
      y[off + i] = (x[off + i] - mean) * inv * g + (b ? b[i] : 0);
    }
  }
  return y;
}

function rope(c: AnalogConfig, x: Float64Array, seq: number, nHeads: number): void {
  const hd = headDim(c),
    r = rotaryDim(c);
  for (let s = 0; s < seq; s++) {
    for (let h = 0; h < nHeads; h++) {
      const off = (s * nHeads + h) * hd;
      for (let i = 0; i < r / 2; i++) {
        const theta = s * Math.pow(c.ropeTheta, (-2 * i) / r);
        const cos = Math.cos(theta),
          sin = Math.sin(theta);
        const [a, b] = c.ropeStyle === "half" ? [off + i, off + i + r / 2] : [off + 2 * i, off + 2 * i + 1];
        const x1 = x[a],
          x2 = x[b];
        x[a] = x1 * cos - x2 * sin;
        x[b] = x2 * cos + x1 * sin;
      }
    }
  }
}

function attention(
  c: AnalogConfig,
  w: LayerWeights<Float32Array>,
  xin: Float64Array,
  seq: number,
): { out: Float64Array; pattern: Float64Array } {
  const { d, heads, kvHeads } = c;
  const hd = headDim(c);
  const q = linear(xin, w.q, seq, d, heads * hd, w.qBias);
  const k = linear(xin, w.k, seq, d, kvHeads * hd, w.kBias);
  const v = linear(xin, w.v, seq, d, kvHeads * hd, w.vBias);
  if (w.qNorm) {
    q.set(norm(c, q, hd, w.qNorm));
    k.set(norm(c, k, hd, w.kNorm!));
  }
  rope(c, q, seq, heads);
  rope(c, k, seq, kvHeads);
  const out = new Float64Array(seq * heads * hd);
  const pattern = new Float64Array(heads * seq * seq);
  const group = heads / kvHeads;
  const scores = new Float64Array(seq);
  for (let h = 0; h < heads; h++) {
    const kh = Math.floor(h / group);
    for (let i = 0; i < seq; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let t = 0; t < hd; t++) dot += q[(i * heads + h) * hd + t] * k[(j * kvHeads + kh) * hd + t];
        scores[j] = dot / Math.sqrt(hd);
        max = Math.max(max, scores[j]);
      }
      let z = 0;
      for (let j = 0; j <= i; j++) z += scores[j] = Math.exp(scores[j] - max);
      for (let j = 0; j <= i; j++) {
        const p = scores[j] / z;
        pattern[(h * seq + i) * seq + j] = p;
        for (let t = 0; t < hd; t++) out[(i * heads + h) * hd + t] += p * v[(j * kvHeads + kh) * hd + t];
      }
    }
  }
  return { out: linear(out, w.o, seq, heads * hd, d, w.oBias), pattern };
}

/** The MLP's hidden activations [seq, hidden], before down_proj. */
export function mlpHidden(c: AnalogConfig, w: LayerWeights<Float32Array>, x: Float64Array, seq: number): Float64Array {
  const up = linear(x, w.up, seq, c.d, c.hidden, w.upBias);
  if (w.gate) {
    const gate = linear(x, w.gate, seq, c.d, c.hidden);
    for (let i = 0; i < up.length; i++) up[i] *= activation(c, w, gate[i]);
  } else {
    for (let i = 0; i < up.length; i++) up[i] = activation(c, w, up[i]);
  }
  return up;
}

function mlp(c: AnalogConfig, w: LayerWeights<Float32Array>, x: Float64Array, seq: number): Float64Array {
  return linear(mlpHidden(c, w, x, seq), w.down, seq, c.hidden, c.d, w.downBias);
}

const add = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]);

export function referenceForward(c: AnalogConfig, W: ModelWeights<Float32Array>, ids: readonly number[]): Trace {
  const { d } = c;
  const { embedScale, sharedNorm } = traitsOf(c);
  const parallel = parallelOf(c);
  const seq = ids.length;
  let h = new Float64Array(seq * d);
  // Gemma scales the embedding by √d (HF: the normalizer, in the model's dtype).
  const embScale = embedScale === "sqrt-d" ? Math.fround(Math.sqrt(d)) : 1;
  ids.forEach((id, s) => {
    for (let i = 0; i < d; i++) h[s * d + i] = W.embed[id * d + i] * embScale;
  });
  const t: Trace = {
    embed: h,
    residPre: [],
    attnOut: [],
    residMid: [],
    mlpIn: [],
    mlpOut: [],
    residPost: [],
    pattern: [],
    lnFinal: h,
    logits: h,
  };
  // An analog has both pre-norms; a model without them (OLMo 2's) reads the stream as it is.
  const pre = (x: Float64Array, w?: Float32Array, b?: Float32Array) => (w ? norm(c, x, d, w, b) : x);
  for (const w of W.layers) {
    t.residPre.push(h);
    const aIn = pre(h, w.norm1, w.norm1Bias);
    const { out: attn, pattern } = attention(c, w, aIn, seq);
    t.attnOut.push(attn);
    t.pattern.push(pattern);
    // GPT-NeoX's parallel residual: both branches read the same residual stream.
    const mid = parallel ? h : add(h, attn);
    if (!parallel) t.residMid.push(mid);
    // Phi's one norm feeds both branches.
    const mIn = parallel && sharedNorm ? aIn : pre(mid, w.norm2, w.norm2Bias);
    t.mlpIn.push(mIn);
    const m = mlp(c, w, mIn, seq);
    t.mlpOut.push(m);
    h = parallel ? add(add(h, attn), m) : add(mid, m);
    t.residPost.push(h);
  }
  t.lnFinal = norm(c, h, d, W.finalNorm, W.finalNormBias);
  t.logits = linear(t.lnFinal, W.lmHead, seq, d, c.vocab);
  return t;
}
