/**
 * Every metric, defined once: pure functions, typed arrays in, numbers out,
 * accumulated in float64. Field names follow the notebook's JSON
 * (shared/reference/mistral-paradox-notebook.txt) wherever the notebook had them.
 */
import { spectralNorm } from "./spectral.js";
import { bootstrap, interval } from "./statistics.js";

type Vec = ArrayLike<number>;

/** Frobenius norm over a whole tensor, as torch.norm(x) over [batch, seq, d]. */
export function frobenius(x: Vec): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** The arithmetic mean. */
export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Unbiased (n − 1) standard deviation, as torch.std. */
export function std(xs: Vec): number {
  const n = xs.length;
  if (n < 2) return NaN;
  let m = 0;
  for (let i = 0; i < n; i++) m += xs[i];
  m /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (n - 1));
}

export interface ResidualStreamStats {
  norms: number[];
  gains: number[];
  contracting_pct: number;
  last_gain: number;
  max_gain: number;
  max_gain_layer: number;
  expansion_layers: [number, number][];
}

/**
 * The notebook's residual statistics from the norms after each layer and the gains
 * between them: gains[i] is the step into layer i+1, ‖resid_post.(i+1)‖ / ‖resid_post.i‖.
 */
export function residualStreamStats(norms: readonly number[], gains: readonly number[]): ResidualStreamStats {
  const maxGain = gains.length ? Math.max(...gains) : 0;
  return {
    norms: [...norms],
    gains: [...gains],
    contracting_pct: gains.length ? (100 * gains.filter((g) => g < 1).length) / gains.length : 0,
    last_gain: gains.length ? gains[gains.length - 1] : 0,
    max_gain: maxGain,
    max_gain_layer: gains.length ? gains.indexOf(maxGain) : -1,
    expansion_layers: gains.flatMap((g, i) => (g > 1 ? [[i, g] as [number, number]] : [])),
  };
}

export interface MatrixStats {
  shape: [number, number];
  frobenius_norm: number;
  spectral_norm: number;
  max_singular: number;
  mean_row_norm: number;
  std_row_norm: number;
  max_row_norm: number;
  min_row_norm: number;
  mean_abs: number;
  std_abs: number;
  frobenius_normalized: number;
  spectral_normalized: number;
}

/**
 * What the notebook's 12 matrix statistics are made of, each a sum over the matrix
 * (or its Gram operator's top eigenvalue): here in float64, or by ONNX Runtime
 * (probes/matrix-graphs.ts); either way `matrixStatsOf` finishes them.
 */
export interface MatrixSums {
  rows: number;
  cols: number;
  /** Σ_c w_rc² for each row. */
  rowSumsq: ArrayLike<number>;
  /** Σ |w|. */
  sumAbs: number;
  /** Σ (|w| − mean |w|)². */
  absDeviationSq: number;
  /** σ₁, by Lanczos to SPECTRAL_RTOL. */
  spectral: number;
}

export function matrixStatsOf({ rows, cols, rowSumsq, sumAbs, absDeviationSq, spectral }: MatrixSums): MatrixStats {
  const rowNorms = Float64Array.from(rowSumsq, Math.sqrt);
  let sumSq = 0,
    rowMean = 0,
    rowMax = -Infinity,
    rowMin = Infinity;
  for (let r = 0; r < rows; r++) {
    sumSq += rowSumsq[r];
    rowMean += rowNorms[r];
    rowMax = Math.max(rowMax, rowNorms[r]);
    rowMin = Math.min(rowMin, rowNorms[r]);
  }
  rowMean /= rows;
  const n = rows * cols;
  const frob = Math.sqrt(sumSq);
  return {
    shape: [rows, cols],
    frobenius_norm: frob,
    spectral_norm: spectral,
    max_singular: spectral,
    mean_row_norm: rowMean,
    std_row_norm: std(rowNorms),
    max_row_norm: rowMax,
    min_row_norm: rowMin,
    mean_abs: sumAbs / n,
    std_abs: Math.sqrt(absDeviationSq / (n - 1)),
    frobenius_normalized: frob / Math.sqrt(n),
    spectral_normalized: spectral / Math.sqrt(cols),
  };
}

/** The notebook's 12 matrix statistics in float64 here: the reference the ONNX Runtime reductions are checked against. */
export function matrixStats(
  W: Float32Array,
  rows: number,
  cols: number,
  spectral = spectralNorm(W, rows, cols).value,
): MatrixStats {
  const rowSumsq = new Float64Array(rows);
  let sumAbs = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = r * cols; c < (r + 1) * cols; c++) {
      s += W[c] * W[c];
      sumAbs += Math.abs(W[c]);
    }
    rowSumsq[r] = s;
  }
  const meanAbs = sumAbs / (rows * cols);
  let absDeviationSq = 0;
  for (let i = 0; i < W.length; i++) absDeviationSq += (Math.abs(W[i]) - meanAbs) ** 2;
  return matrixStatsOf({ rows, cols, rowSumsq, sumAbs, absDeviationSq, spectral });
}

export interface LogitStats {
  logit_mean: number;
  logit_std: number;
  logit_max: number;
  logit_min: number;
  logit_range: number;
  entropy: number;
  effective_vocab: number;
  top10_prob_mass: number;
}

/** Softmax probabilities in float64, max-shifted. */
export function softmax(logits: Vec): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const p = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += p[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < p.length; i++) p[i] /= z;
  return p;
}

/** The notebook's entropy: −Σ p·log(p + 1e-10), in nats. */
export function entropy(logits: Vec): number {
  const p = softmax(logits);
  let h = 0;
  for (const x of p) h -= x * Math.log(x + 1e-10);
  return h;
}

/** The notebook's 8 statistics of one position's logits. */
export function logitStats(logits: Vec): LogitStats {
  let sum = 0,
    max = -Infinity,
    min = Infinity;
  for (let i = 0; i < logits.length; i++) {
    sum += logits[i];
    max = Math.max(max, logits[i]);
    min = Math.min(min, logits[i]);
  }
  const p = softmax(logits);
  const h = entropy(logits);
  const top = Array.from(p)
    .sort((a, b) => b - a)
    .slice(0, 10)
    .reduce((a, b) => a + b, 0);
  return {
    logit_mean: sum / logits.length,
    logit_std: std(logits),
    logit_max: max,
    logit_min: min,
    logit_range: max - min,
    entropy: h,
    effective_vocab: Math.exp(h),
    top10_prob_mass: top,
  };
}

/** Tied when the graph shares the matrix, else (as the notebook did) when values agree to 1e-3. */
/**
 * The attention on key 0, averaged over heads and query positions 1..seq−1 (query 0 can attend to nothing else):
 * `p` is [heads, seq], query q's probability on key 0.
 */
export function firstKeyMass(p: Vec, seq: number): number {
  const heads = p.length / seq;
  let sum = 0;
  for (let h = 0; h < heads; h++) for (let q = 1; q < seq; q++) sum += p[h * seq + q];
  return sum / (heads * (seq - 1));
}

/** What uniform causal attention puts on key 0, averaged as firstKeyMass averages: query q gives it 1/(q+1). */
export function uniformFirstKeyMass(seq: number): number {
  let sum = 0;
  for (let q = 1; q < seq; q++) sum += 1 / (q + 1);
  return sum / (seq - 1);
}

export function allClose(a: Float32Array, b: Float32Array, atol = 1e-3): boolean {
  if (a.length !== b.length) return false;
  // Written so that a NaN on either side is not close.
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= atol)) return false;
  return true;
}

/** Bootstrap CI of a statistic over resamples, seeded: BCa, expanded for few prompts, as every verdict's (probes/statistics.ts). */
export function bootstrapCI(
  samples: readonly number[][],
  statistic: (resampled: number[][]) => number,
  { resamples = 2000, level = 0.95, seed = 20240501 } = {},
): { estimate: number; lo: number; hi: number; resamples: number } {
  const [lo, hi] = interval(bootstrap(samples, statistic, { resamples, seed }), level);
  return { estimate: statistic(samples.map((xs) => [...xs])), lo, hi, resamples };
}

/** Bootstrap CI of mean(a) / mean(b), prompts resampled jointly (the same prompts were run on both). */
export function meanRatioCI(a: readonly number[], b: readonly number[], opts?: Parameters<typeof bootstrapCI>[2]) {
  return bootstrapCI([[...a], [...b]], ([x, y]) => mean(x) / mean(y), opts);
}

/** Bootstrap CI of mean(a) − mean(b), prompts resampled jointly (the same prompts were run on both). */
export function meanDifferenceCI(a: readonly number[], b: readonly number[], opts?: Parameters<typeof bootstrapCI>[2]) {
  return bootstrapCI([[...a], [...b]], ([x, y]) => mean(x) - mean(y), opts);
}

/** Bootstrap CI of a mean over prompts. */
export function meanCI(a: readonly number[], opts?: Parameters<typeof bootstrapCI>[2]) {
  return bootstrapCI([[...a]], ([x]) => mean(x), opts);
}

/** Per-layer means over prompts of a per-prompt, per-layer quantity. */
export function layerMeans(rows: readonly (readonly number[])[]): number[] {
  return rows[0].map((_, L) => mean(rows.map((r) => r[L])));
}

/**
 * The softmax-relevant gain of a readout matrix W ([vocab, d]): its mean row
 * removed (a shift every logit shares, which softmax cannot see), then the RMS of
 * the rows, ‖W − 1·w̄ᵀ‖_F / √vocab. For a direction x of unit RMS (as a final
 * norm leaves it), that is the RMS spread of the logits Wx across the vocabulary.
 * A mean over rows, it does not grow with the vocabulary; rows of the usual 1/√d
 * initialisation keep it near 1 at any width. In float64.
 */
export function softmaxGain(W: Float32Array, rows: number, cols: number): number {
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += W[r * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  let sum = 0;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) sum += (W[r * cols + c] - mean[c]) ** 2;
  return Math.sqrt(sum / rows);
}
