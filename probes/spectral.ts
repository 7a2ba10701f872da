/**
 * The spectral norm (largest singular value) of a [rows, cols] float32 matrix by
 * Lanczos on the implicit Gram matrix, with full reorthogonalisation: no dense
 * SVD, two matrix-vector products an iteration.
 */
export interface SpectralResult {
  value: number;
  iterations: number;
  /** Bound on |λ − λ_true| / λ from the Lanczos residual. */
  relResidual: number;
  /** Estimated relative error of σ: the residual bound, or where the top is crowded the extrapolated remaining climb of the Ritz value. */
  relError: number;
  converged: boolean;
}

/**
 * The tolerance Lanczos stops at: relative, on σ. With float64 Gram products (spectralNorm) σ meets it;
 * with ONNX Runtime's float32 ones (probes/matrix-graphs.ts) the Ritz value stops climbing within about
 * 1e-8 first, and the climb test ends it there.
 */
export const SPECTRAL_RTOL = 1e-9;

/**
 * y = Wᵀ(W x) for W [rows, cols], x of length cols; float64 accumulation.
 * Two rows a pass with four partial sums each: the loop is bound by reading W once.
 */
function gramApply(
  W: Float32Array,
  rows: number,
  cols: number,
  x: Float64Array,
  _tmp: Float64Array,
  y: Float64Array,
): void {
  y.fill(0);
  const c4 = cols - (cols % 4);
  let r = 0;
  for (; r + 1 < rows; r += 2) {
    const o0 = r * cols,
      o1 = o0 + cols;
    let a0 = 0,
      a1 = 0,
      a2 = 0,
      a3 = 0,
      b0 = 0,
      b1 = 0,
      b2 = 0,
      b3 = 0;
    let c = 0;
    for (; c < c4; c += 4) {
      const x0 = x[c],
        x1 = x[c + 1],
        x2 = x[c + 2],
        x3 = x[c + 3];
      a0 += W[o0 + c] * x0;
      a1 += W[o0 + c + 1] * x1;
      a2 += W[o0 + c + 2] * x2;
      a3 += W[o0 + c + 3] * x3;
      b0 += W[o1 + c] * x0;
      b1 += W[o1 + c + 1] * x1;
      b2 += W[o1 + c + 2] * x2;
      b3 += W[o1 + c + 3] * x3;
    }
    for (; c < cols; c++) {
      a0 += W[o0 + c] * x[c];
      b0 += W[o1 + c] * x[c];
    }
    const p = a0 + a1 + a2 + a3,
      q = b0 + b1 + b2 + b3;
    for (c = 0; c < cols; c++) y[c] += W[o0 + c] * p + W[o1 + c] * q;
  }
  for (; r < rows; r++) {
    const o = r * cols;
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += W[o + c] * x[c];
    for (let c = 0; c < cols; c++) y[c] += W[o + c] * acc;
  }
}

/** Largest eigenvalue of the symmetric tridiagonal (alpha, beta) and the last component of its eigenvector. */
function tridiagTop(alpha: number[], beta: number[]): { value: number; lastComponent: number } {
  const n = alpha.length;
  // Sturm-sequence bisection for the top eigenvalue.
  let lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const r = (i > 0 ? Math.abs(beta[i - 1]) : 0) + (i < n - 1 ? Math.abs(beta[i]) : 0);
    lo = Math.min(lo, alpha[i] - r);
    hi = Math.max(hi, alpha[i] + r);
  }
  const countBelow = (x: number) => {
    let count = 0,
      q = 1;
    for (let i = 0; i < n; i++) {
      q = alpha[i] - x - (i > 0 ? (beta[i - 1] * beta[i - 1]) / q : 0);
      if (q === 0) q = 1e-300;
      if (q < 0) count++;
    }
    return count;
  };
  for (let it = 0; it < 200 && hi - lo > 1e-15 * Math.max(Math.abs(hi), 1e-300); it++) {
    const mid = (lo + hi) / 2;
    if (countBelow(mid) >= n) hi = mid;
    else lo = mid;
  }
  const value = (lo + hi) / 2;
  // Eigenvector by the three-term recurrence from the top, normalised.
  const v = new Float64Array(n);
  v[0] = 1;
  for (let i = 0; i < n - 1; i++) {
    if (beta[i] === 0) break;
    v[i + 1] = ((value - alpha[i]) * v[i] - (i > 0 ? beta[i - 1] * v[i - 1] : 0)) / beta[i];
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  return { value, lastComponent: v[n - 1] / Math.sqrt(norm) };
}

/**
 * Lanczos on an implicit symmetric operator of size n: yields each vector q for the caller to
 * apply (WᵀW q, however it is computed) and takes the product back, until the top Ritz value
 * meets `rtol`. The product array may be reused between steps; it is read before the next yield.
 */
export function* lanczos(
  n: number,
  { rtol = SPECTRAL_RTOL, maxIter = 300, seed = 12345 } = {},
): Generator<Float64Array, SpectralResult, Float64Array> {
  const k = Math.min(maxIter, n);
  const V: Float64Array[] = [];
  const alpha: number[] = [],
    beta: number[] = [];
  let q = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    q[i] = s / 4294967296 - 0.5;
  }
  let qn = 0;
  for (const x of q) qn += x * x;
  qn = Math.sqrt(qn);
  for (let i = 0; i < n; i++) q[i] /= qn;
  let result: SpectralResult = { value: 0, iterations: 0, relResidual: Infinity, relError: Infinity, converged: false };
  const sigmas: number[] = [];
  for (let j = 0; j < k; j++) {
    V.push(q);
    const w = Float64Array.from(yield q);
    let a = 0;
    for (let i = 0; i < n; i++) a += w[i] * q[i];
    alpha.push(a);
    // Full reorthogonalisation (twice is enough) keeps the Ritz values honest.
    for (let pass = 0; pass < 2; pass++) {
      for (const v of V) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += w[i] * v[i];
        for (let i = 0; i < n; i++) w[i] -= dot * v[i];
      }
    }
    let b = 0;
    for (let i = 0; i < n; i++) b += w[i] * w[i];
    b = Math.sqrt(b);
    const top = tridiagTop(alpha, beta);
    // |β_j · s_j| bounds the distance of the Ritz value to an eigenvalue of WᵀW.
    const rel = top.value > 0 ? Math.abs(b * top.lastComponent) / top.value : 0;
    const sigma = Math.sqrt(Math.max(top.value, 0));
    sigmas.push(sigma);
    // σ = √λ: a relative error e on λ is e/2 on σ. Where many singular values crowd the top the
    // residual cannot shrink, but the Ritz value still climbs monotonically to σ₁: extrapolating its
    // geometric convergence (Aitken) estimates what is left of the climb.
    let climb = Infinity;
    if (sigmas.length >= 3) {
      const [d0, d1] = [sigmas.at(-2)! - sigmas.at(-3)!, sigma - sigmas.at(-2)!];
      if (d1 <= 0) climb = 0;
      else if (d0 > 0) {
        const rho = Math.min(d1 / d0, 0.999);
        climb = (d1 * rho) / (1 - rho) / sigma;
      }
    }
    const relError = Math.min(rel / 2, climb);
    const exhausted = b < 1e-300 * Math.max(1, top.value);
    result = {
      value: sigma,
      iterations: j + 1,
      relResidual: rel,
      relError: exhausted ? 0 : relError,
      converged: exhausted || relError < rtol,
    };
    if (result.converged) break;
    beta.push(b);
    q = new Float64Array(n);
    for (let i = 0; i < n; i++) q[i] = w[i] / b;
  }
  return result;
}

/** σ₁ of a [rows, cols] float32 matrix, its Gram products taken here in float64. */
export function spectralNorm(
  W: Float32Array,
  rows: number,
  cols: number,
  opts?: Parameters<typeof lanczos>[1],
): SpectralResult {
  if (rows === 0 || cols === 0) return { value: 0, iterations: 0, relResidual: 0, relError: 0, converged: true };
  const tmp = new Float64Array(rows),
    y = new Float64Array(cols);
  const steps = lanczos(cols, opts);
  for (let step = steps.next(); ; step = steps.next(y)) {
    if (step.done) return step.value;
    gramApply(W, rows, cols, step.value, tmp, y);
  }
}

/** σ₁ of a matrix whose Gram products WᵀW q another engine takes (ONNX Runtime: probes/matrix-graphs.ts). */
export async function spectralNormOf(
  gram: (q: Float64Array) => Promise<Float64Array>,
  cols: number,
  opts?: Parameters<typeof lanczos>[1],
): Promise<SpectralResult> {
  if (cols === 0) return { value: 0, iterations: 0, relResidual: 0, relError: 0, converged: true };
  const steps = lanczos(cols, opts);
  for (let step = steps.next(); ;) {
    if (step.done) return step.value;
    step = steps.next(await gram(step.value));
  }
}
