/**
 * Seeded weights for an analog, in HuggingFace's layout ([out, in] matrices),
 * with the knobs planted by exact calibration against the float64 reference.
 */
import { ANALOG_FAMILIES, type AnalogConfig } from "./config.js";
import { headDim, rotaryDim } from "../writer/config.js";
import { referenceForward, activation, mlpHidden, type Trace } from "./reference.js";
import type { ModelWeights, LayerWeights } from "../writer/types.js";
import { traitsOf } from "../architectures/table.js";

/** mulberry32: small, fast, and the same on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-300);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/** The BOS id of every analog tokenizer. */
export const BOS = 1;

export function generateWeights(c: AnalogConfig): ModelWeights<Float32Array> {
  const traits = traitsOf(c);
  const normal = gaussian(rng(c.seed));
  const mat = (rows: number, cols: number, std: number) => {
    const a = new Float32Array(rows * cols);
    for (let i = 0; i < a.length; i++) a[i] = normal() * std;
    return a;
  };
  const gain = (n: number, jitter = 0.1) => {
    const a = new Float32Array(n);
    // Gemma stores w and applies 1 + w: its gains are centred on 0.
    for (let i = 0; i < n; i++) a[i] = (traits.gainPlusOne ? 0 : 1) + normal() * jitter;
    return a;
  };
  const vec = (n: number, std: number) => mat(1, n, std);
  const { d, hidden, vocab } = c;
  const hd = headDim(c);
  const layers: LayerWeights<Float32Array>[] = [];
  for (let l = 0; l < c.layers; l++) {
    const w: LayerWeights<Float32Array> = {
      norm1: gain(d),
      norm2: gain(d),
      q: mat(c.heads * hd, d, 1 / Math.sqrt(d)),
      k: mat(c.kvHeads * hd, d, 1 / Math.sqrt(d)),
      v: mat(c.kvHeads * hd, d, 1 / Math.sqrt(d)),
      o: mat(d, c.heads * hd, 0.25 / Math.sqrt(d)),
      up: mat(hidden, d, 1 / Math.sqrt(d)),
      down: mat(d, hidden, 0.25 / Math.sqrt(hidden)),
    };
    if (traits.gated) w.gate = mat(hidden, d, 1 / Math.sqrt(d));
    if (ANALOG_FAMILIES[c.family].biases) {
      w.norm1Bias = vec(d, 0.05);
      w.norm2Bias = vec(d, 0.05);
      w.qBias = vec(c.heads * hd, 0.02);
      w.kBias = vec(c.kvHeads * hd, 0.02);
      w.vBias = vec(c.kvHeads * hd, 0.02);
      w.oBias = vec(d, 0.02);
      w.upBias = vec(hidden, 0.02);
      w.downBias = vec(d, 0.02);
    }
    if (ANALOG_FAMILIES[c.family].qkNorm) {
      w.qNorm = gain(hd);
      w.kNorm = gain(hd);
    }
    if (traits.activation === "xielu")
      w.xielu = { alphaP: 0.8 + 0.1 * normal(), alphaN: 0.8 + 0.1 * normal(), beta: 0.5, eps: -1e-6 };
    layers.push(w);
  }
  // Tied W_U reads logits off the embedding: Gemma's must be small, as it is in Gemma.
  const embed = mat(vocab, d, c.tied ? 0.5 / Math.sqrt(d) : 1);
  const weights: ModelWeights<Float32Array> = {
    embed,
    layers,
    finalNorm: gain(d),
    finalNormBias: ANALOG_FAMILIES[c.family].biases ? vec(d, 0.05) : undefined,
    lmHead: c.tied ? embed : mat(vocab, d, 1.5 / Math.sqrt(d)),
  };
  plant(c, weights);
  return weights;
}

function scale(a: Float32Array, f: number): void {
  for (let i = 0; i < a.length; i++) a[i] *= f;
}

/** Neuron 0 reads residual dimension k alone: its activation for an input value nk there. */
function privateNeuron(c: AnalogConfig, w: LayerWeights<Float32Array>, k: number, nk: number): number {
  const pre = w.up[k] * nk;
  return w.gate ? activation(c, w, w.gate[k] * nk) * pre : activation(c, w, pre);
}

/** What neuron 0 of `layer` adds to the residual at [position 0, dimension k]. */
function privateContribution(
  c: AnalogConfig,
  w: ModelWeights<Float32Array>,
  t: Trace,
  layer: number,
  k: number,
): number {
  return w.layers[layer].down[k * c.hidden] * privateNeuron(c, w.layers[layer], k, t.mlpIn[layer][k]);
}

/**
 * Plants the knobs. The massive activation uses a private residual dimension k:
 * only BOS's embedding and neuron 0 of the planted layers write it, only neuron 0
 * reads it, so it sits at position 0 alone, as a first-token attention sink does.
 */
function plant(c: AnalogConfig, w: ModelWeights<Float32Array>): void {
  const { d, hidden, knobs } = c;
  if (knobs.wUScale !== 1) scale(w.lmHead, knobs.wUScale);
  if (knobs.sharpness !== 1) {
    if (traitsOf(c).gainPlusOne)
      for (let i = 0; i < d; i++) w.finalNorm[i] = (1 + w.finalNorm[i]) * knobs.sharpness - 1;
    else scale(w.finalNorm, knobs.sharpness);
    if (w.finalNormBias) scale(w.finalNormBias, knobs.sharpness);
  }
  if (knobs.sink) plantSink(c, w);
  const m = knobs.massive;
  const last = c.layers - 1;
  if (m) {
    const k = m.dim;
    for (let t = 0; t < c.vocab; t++) w.embed[t * d + k] = t === BOS ? 1 : 0;
    isolate(c, w, k);
    for (const L of w.layers) {
      for (let i = 0; i < d; i++) {
        L.up[i] = 0;
        if (L.gate) L.gate[i] = 0;
        L.down[i * hidden] = 0;
      }
      L.up[k] = 1;
      if (L.gate) L.gate[k] = 1;
    }
    // Neuron 0's output is linear in its down weight: solve for the value wanted at [0, k].
    const setPrivate = (layer: number, target: (t: Trace) => number) => {
      const t = referenceForward(c, w, c.calibrationIds);
      const act = privateNeuron(c, w.layers[layer], k, t.mlpIn[layer][k]);
      w.layers[layer].down[k * hidden] = (target(t) - t.residMid[layer][k]) / act;
    };
    setPrivate(m.layer, () => m.magnitude);
    if (m.removedAtLast > 0) setPrivate(last, (t) => (1 - m.removedAtLast) * t.residMid[last][k]);
  }
  if (knobs.expansion) {
    const { layer, gain } = knobs.expansion;
    const { s, smallest } = solveMlpScale(c, w, gain, layer);
    if (s === undefined)
      throw new Error(
        `analog ${c.family}: layer ${layer}'s gain ${gain} cannot be planted; the smallest reachable is ${smallest.toFixed(4)}`,
      );
    scaleMlp(c, w, layer, s);
  }
  if (knobs.lastLayerGain !== undefined) plantLastLayerGain(c, w, knobs.lastLayerGain);
}

/** Residual dimension k kept out of every layer: no weight reads it (q, k, v, up, gate) or writes it (o, down). */
function isolate(c: AnalogConfig, w: ModelWeights<Float32Array>, k: number): void {
  const { d, hidden } = c;
  const width = c.heads * headDim(c);
  for (const L of w.layers) {
    for (const name of ["q", "k", "v"] as const) for (let r = 0; r < L[name].length / d; r++) L[name][r * d + k] = 0;
    for (let r = 0; r < hidden; r++) {
      L.up[r * d + k] = 0;
      if (L.gate) L.gate[r * d + k] = 0;
    }
    for (let j = 0; j < width; j++) L.o[k * width + j] = 0;
    for (let j = 0; j < hidden; j++) L.down[k * hidden + j] = 0;
  }
}

/** Residual dimensions only the embedding writes and only planted weights read: the massive activation's, the sink's. */
function privateDims(c: AnalogConfig): number[] {
  const { massive, sink } = c.knobs;
  return [...(massive ? [massive.dim] : []), ...(sink ? [sink.marker, sink.shared] : [])];
}

/**
 * Plants the sink (config.ts, Sink): the marker and shared dimensions written by the embedding alone and read by no
 * weight of any layer, then every head of the sink layers rebuilt on them, its values zeroed. The norm's gain on each
 * private dimension is divided out, so the score is the one Sink states.
 */
function plantSink(c: AnalogConfig, w: ModelWeights<Float32Array>): void {
  const { d } = c;
  const { layers, marker, shared, strength } = c.knobs.sink!;
  const hd = headDim(c);
  for (let t = 0; t < c.vocab; t++) {
    w.embed[t * d + marker] = t === BOS ? 1 : 0;
    w.embed[t * d + shared] = 1;
  }
  for (const k of [marker, shared]) isolate(c, w, k);
  // The slowest rotary pair's first dimension within a head: rotate-half pairs (i, i + r/2), interleaved (2i, 2i + 1).
  const r = rotaryDim(c);
  const slow = c.ropeStyle === "half" ? r / 2 - 1 : r - 2;
  for (const l of layers) {
    const L = w.layers[l];
    const norm1 = L.norm1!; // an analog's layers all have it
    L.q.fill(0);
    L.k.fill(0);
    L.v.fill(0);
    for (let h = 0; h < c.heads; h++) L.q[(h * hd + slow) * d + shared] = (strength * Math.sqrt(hd)) / norm1[shared];
    for (let h = 0; h < c.kvHeads; h++) L.k[(h * hd + slow) * d + marker] = 1 / norm1[marker];
  }
}

function scaleMlp(c: AnalogConfig, w: ModelWeights<Float32Array>, layer: number, s: number): void {
  const L = w.layers[layer];
  const first = c.knobs.massive ? 1 : 0;
  for (let i = 0; i < c.d; i++) for (let j = first; j < c.hidden; j++) L.down[i * c.hidden + j] *= s;
  if (L.downBias) scale(L.downBias, s);
}

/**
 * Plants the last-layer gain g = ‖resid_post‖ / ‖resid_pre‖ on the calibration
 * prompt by scaling the last layer's MLP (all but the private neuron) by the s
 * that solves a quadratic. A random MLP cannot shrink the stream, so for g < 1
 * down_proj is first refitted to write against the residual (fitAntiResidual).
 */
function plantLastLayerGain(c: AnalogConfig, w: ModelWeights<Float32Array>, g: number): void {
  const last = c.layers - 1;
  const k = c.knobs.massive?.dim;
  const first = k === undefined ? 0 : 1;
  // A contraction needs an MLP that writes against the residual: refit down_proj first.
  // Fitted or not, the scale s then plants g exactly on the calibration prompt.
  if (g < 1) fitAntiResidual(c, w, first);
  const { s, smallest } = solveMlpScale(c, w, g, last);
  if (s === undefined) {
    const why =
      c.knobs.massive && c.knobs.massive.removedAtLast < 1
        ? " (a kept first-token activation bounds it from below)"
        : " (a wider MLP fits the contraction better)";
    throw new Error(
      `analog ${c.family}: last-layer gain ${g} cannot be planted with these knobs; the smallest reachable is ${smallest.toFixed(4)}${why}`,
    );
  }
  scaleMlp(c, w, last, s);
}

/** The smallest-magnitude scale of `layer`'s MLP output that gives it gain g (the other root overshoots, flipping the stream); else the smallest gain reachable. */
function solveMlpScale(
  c: AnalogConfig,
  w: ModelWeights<Float32Array>,
  g: number,
  layer: number,
): { s?: number; smallest: number } {
  const t = referenceForward(c, w, c.calibrationIds);
  const r = t.residPre[layer];
  const post = t.residPost[layer];
  // m: the MLP output that s scales; u: everything else in resid_post.
  const m = Float64Array.from(t.mlpOut[layer]);
  const k = c.knobs.massive?.dim;
  if (k !== undefined) m[k] -= privateContribution(c, w, t, layer, k);
  let mm = 0,
    um = 0,
    uu = 0,
    rr = 0;
  for (let i = 0; i < m.length; i++) {
    const u = post[i] - m[i];
    mm += m[i] * m[i];
    um += u * m[i];
    uu += u * u;
    rr += r[i] * r[i];
  }
  const smallest = Math.sqrt(Math.max(0, uu - (um * um) / mm) / rr);
  const disc = um * um - mm * (uu - g * g * rr);
  if (disc < 0) return { smallest };
  const roots = [(-um + Math.sqrt(disc)) / mm, (-um - Math.sqrt(disc)) / mm];
  return { s: roots.reduce((a, b) => (Math.abs(b) < Math.abs(a) ? b : a)), smallest };
}

/**
 * down_proj := the ridge regression of −u (the residual the MLP is added to) on
 * the MLP's hidden activations, over the calibration prompt and seeded random
 * sequences, so that the contraction holds on other prompts too.
 */
function fitAntiResidual(c: AnalogConfig, w: ModelWeights<Float32Array>, first: number): void {
  const last = c.layers - 1;
  const L = w.layers[last];
  const { d, hidden } = c;
  const rand = rng(c.seed + 7919);
  const sequences = [
    c.calibrationIds,
    ...Array.from({ length: 24 }, () => [
      BOS,
      ...Array.from({ length: 15 }, () => 3 + Math.floor(rand() * (c.vocab - 3))),
    ]),
  ];
  const G = new Float64Array(hidden * hidden),
    B = new Float64Array(hidden * d);
  const kept = privateDims(c);
  for (const ids of sequences) {
    const t = referenceForward(c, w, ids);
    const A = mlpHidden(c, L, t.mlpIn[last], ids.length);
    for (let s = 0; s < ids.length; s++) {
      const a = A.subarray(s * hidden, (s + 1) * hidden);
      for (let j = 0; j < first; j++) a[j] = 0;
      for (let i = 0; i < hidden; i++) {
        if (a[i] === 0) continue;
        for (let j = 0; j < hidden; j++) G[i * hidden + j] += a[i] * a[j];
        for (let o = 0; o < d; o++) {
          const u = t.residPost[last][s * d + o] - t.mlpOut[last][s * d + o];
          if (!kept.includes(o)) B[i * d + o] -= a[i] * u;
        }
      }
    }
  }
  let tr = 0;
  for (let i = 0; i < hidden; i++) tr += G[i * hidden + i];
  for (let i = 0; i < hidden; i++) G[i * hidden + i] += (1e-6 * tr) / hidden + (i < first ? 1 : 0);
  const Dt = solve(G, B, hidden, d); // [hidden, d]
  for (let o = 0; o < d; o++) for (let j = first; j < hidden; j++) L.down[o * hidden + j] = Dt[j * d + o];
  if (L.downBias) L.downBias.fill(0);
}

/** Solves G X = B (G n×n, B n×m) by Gaussian elimination with partial pivoting. */
function solve(G: Float64Array, B: Float64Array, n: number, m: number): Float64Array {
  const a = Float64Array.from(G),
    x = Float64Array.from(B);
  for (let col = 0; col < n; col++) {
    let p = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]) > Math.abs(a[p * n + col])) p = r;
    for (let j = 0; j < n; j++) [a[col * n + j], a[p * n + j]] = [a[p * n + j], a[col * n + j]];
    for (let j = 0; j < m; j++) [x[col * m + j], x[p * m + j]] = [x[p * m + j], x[col * m + j]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r * n + col] / a[col * n + col];
      if (f === 0) continue;
      for (let j = col; j < n; j++) a[r * n + j] -= f * a[col * n + j];
      for (let j = 0; j < m; j++) x[r * m + j] -= f * x[col * m + j];
    }
  }
  for (let r = 0; r < n; r++) for (let j = 0; j < m; j++) x[r * m + j] /= a[r * n + r];
  return x;
}
