/**
 * The weight measures' reductions as ONNX Runtime graphs: a readout matrix W
 * ([vocab, d], as probes/matrices.ts reads it) is fed to small graphs that sum
 * what the notebook's statistics need (row sums of squares, |w| moments, column
 * means) and take the Gram products of its Lanczos steps, multithreaded. The
 * final norm's gain is folded in inside the graph (W_U_eff = W_U · diag(g)): no
 * second matrix is kept in JavaScript, and ONNX Runtime makes W · diag(g) a block
 * of rows at a time. On the CPU, ONNX Runtime reads the fed buffer in place. One
 * float32 matrix is held at a time: W_E is read after W_U is let go (the tie check
 * reads the second beside the first only where every row's extremes agree).
 *
 * Precision: sums are float32 over chunks of at most 64 elements, cast to
 * float64 and finished there (within 4e-7 of exact, as the prompt reductions).
 * A deviation sum comes from the same pass (Σx² − n·m²) unless that would
 * cancel, then from a second pass about a float32-rounded centre, corrected
 * exactly (Σ(x − c)² = Σ(x − m)² + n(m − c)²). A Gram product is float32, which
 * moves σ₁ by about 1e-8 relative (Lanczos reads it through Rayleigh quotients).
 */
import v8 from "node:v8";
import vm from "node:vm";
import * as ort from "onnxruntime-node";
import type { ModelProto } from "onnx-buf";
import { DT, GraphBuilder, valueInfo } from "../onnx/graph.js";
import { encodeModel } from "../onnx/io.js";
import { ProbeError } from "./errors.js";
import type { Located } from "./locate.js";
import { readFinalNorm, readWeight } from "./matrices.js";
import { allClose, matrixStatsOf, type MatrixStats } from "./metrics.js";
import type { Matrix, WeightView } from "./measures/measure.js";
import { sumsqChunk } from "./probed-graph.js";
import { createSession } from "./session.js";
import { spectralNormOf } from "./spectral.js";

type Kind = "moments" | "absDeviation" | "centred" | "gram";

/**
 * A deviation sum taken as Σx² − n·m² loses digits as n·m² nears Σx² (by 1 / (1 − share)): past this
 * share a second pass over the matrix, Σ(x − c)², is run instead. |w| of a Gaussian matrix sits at
 * 2/π; the total Σx² of a whole matrix is good to about 1e-9, so a tenfold loss still leaves 1e-8.
 */
const CANCELLATION = 0.9;

/** The largest share of Σx² the mean row may hold for softmaxGain's one-pass form: its error stays ≲ 1e-7 there. */
const MEAN_ROW_SHARE = 0.01;

/** A reduction's block of rows (64 MB of float32): the most any elementwise step over W allocates. */
const BLOCK_ELEMENTS = 1 << 24;

/** One reduction's graph over W [rows, cols] (times `gain` where given), with the extra input it takes. */
function reductionGraph(kind: Kind, cols: number, gain: boolean): ModelProto {
  const g = new GraphBuilder();
  const s = "/probespec/matrix";
  const c = sumsqChunk(cols);
  g.inputs.push(valueInfo("W", DT.FLOAT, ["rows", cols]));
  if (gain) g.inputs.push(valueInfo("gain", DT.FLOAT, [cols]));
  // W · diag(g) is the one block-sized tensor moments makes (elementwise ops over W cost ten times a reduction).
  const X = gain && kind !== "gram" ? g.o(s, "Mul", ["W", "gain"]) : "W";
  const double = (x: string) => g.o(s, "Cast", [x], { to: DT.DOUBLE });
  /** x in rows of c elements (or [rows, cols / c, c] per matrix row), reduced over them in float32, then widened. */
  const chunked = (op: "ReduceL1" | "ReduceSumSquare", x: string, shape = [-1, c]) =>
    double(g.o(s, op, [g.o(s, "Reshape", [x, g.ints(shape)]), g.ints([-1])], { keepdims: 0 }));
  const total = (x: string) => g.o(s, "ReduceSum", [x], { keepdims: 0 });
  const out = (name: string, type: DT, dims: (number | string)[], from: string) => {
    g.op(s, "Identity", [from], { outputs: [name] });
    g.outputs.push(valueInfo(name, type, dims));
  };
  switch (kind) {
    case "moments":
      out(
        "rowSumsq",
        DT.DOUBLE,
        ["rows"],
        g.o(s, "ReduceSum", [chunked("ReduceSumSquare", X, [0, -1, c]), g.ints([-1])], { keepdims: 0 }),
      );
      out("sumAbs", DT.DOUBLE, [], total(chunked("ReduceL1", X)));
      // In float32: softmaxGain uses them at first order only where the mean row is small (MEAN_ROW_SHARE).
      out("columnSums", DT.FLOAT, [cols], g.o(s, "ReduceSum", [X, g.ints([0])], { keepdims: 0 }));
      break;
    case "absDeviation":
      g.inputs.push(valueInfo("centre", DT.FLOAT, []));
      out("sum", DT.DOUBLE, [], total(chunked("ReduceSumSquare", g.o(s, "Sub", [g.o(s, "Abs", [X]), "centre"]))));
      break;
    case "centred":
      g.inputs.push(valueInfo("centre", DT.FLOAT, [cols]));
      out("sum", DT.DOUBLE, [], total(chunked("ReduceSumSquare", g.o(s, "Sub", [X, "centre"]))));
      break;
    case "gram": {
      // Wᵀ(W q) as two products over the one W: [rows, cols]·[cols, 1], then [1, rows]·[rows, cols]
      // (MLAS is ten times slower at W·q with q of rank 1 than with q a column).
      g.inputs.push(valueInfo("q", DT.FLOAT, [cols, 1]));
      const u = gain ? g.o(s, "Mul", ["q", g.o(s, "Reshape", ["gain", g.ints([-1, 1])])]) : "q";
      const y = g.o(s, "Reshape", [g.o(s, "MatMul", ["W", u]), g.ints([1, -1])]);
      const z = g.o(s, "MatMul", [y, "W"]);
      out("product", DT.FLOAT, [1, cols], gain ? g.o(s, "Mul", [z, "gain"]) : z);
      break;
    }
  }
  return g.model({ "": 18 }, "probespec");
}

/** A matrix's reductions: each graph's session made once, on the CPU provider, where the matrix already is. */
export class MatrixReductions {
  private sessions = new Map<Kind, Promise<ort.InferenceSession>>();
  private readonly feeds: Record<string, ort.Tensor>;
  private momentsRun?: Promise<{ rowSumsq: Float64Array; sumSq: number; sumAbs: number; columnSums: Float64Array }>;
  constructor(
    readonly W: Float32Array,
    readonly rows: number,
    readonly cols: number,
    private readonly gain: Float32Array | undefined,
    private readonly opts: { threads?: number; modelId?: string },
  ) {
    this.feeds = {
      W: new ort.Tensor("float32", W, [rows, cols]),
      ...(gain ? { gain: new ort.Tensor("float32", gain, [cols]) } : {}),
    };
  }

  private session(kind: Kind) {
    let session = this.sessions.get(kind);
    if (!session) {
      const bytes = encodeModel(reductionGraph(kind, this.cols, !!this.gain));
      // No arena: a block's transient tensors (|W|, W − c, W · diag(g)) go back to the system after the run.
      session = createSession(bytes, {
        device: "cpu",
        modelId: this.opts.modelId,
        threads: this.opts.threads,
        ort: { enableCpuMemArena: false },
      }).then((r) => r.session);
      this.sessions.set(kind, session);
    }
    return session;
  }

  /** The Gram product's graph over the whole W: its intermediates are vectors. */
  private async run(kind: Kind, extra: Record<string, ort.Tensor>) {
    return (await this.session(kind)).run({ ...this.feeds, ...extra });
  }

  /**
   * A reduction over W in blocks of rows, each fed as a view of W (no copy): the elementwise tensors a
   * graph makes are a block's size, never W's. Blocks are whole rows, so every float32 chunk is the same.
   */
  private async *blocks(kind: Kind, extra: Record<string, ort.Tensor> = {}) {
    const session = await this.session(kind);
    const step = Math.max(1, Math.floor(BLOCK_ELEMENTS / this.cols));
    for (let r = 0; r < this.rows; r += step) {
      const n = Math.min(step, this.rows - r);
      const W = new ort.Tensor("float32", this.W.subarray(r * this.cols, (r + n) * this.cols), [n, this.cols]);
      yield await session.run({ ...this.feeds, W, ...extra });
    }
  }

  /** A scalar output summed over the blocks (in float64). */
  private async total(kind: Kind, extra: Record<string, ort.Tensor>) {
    let sum = 0;
    for await (const o of this.blocks(kind, extra)) sum += (o.sum.data as Float64Array)[0];
    return sum;
  }

  /** One pass: each row's Σx², Σ|x| and each column's Σx. */
  private moments() {
    return (this.momentsRun ??= (async () => {
      const rowSumsq = new Float64Array(this.rows);
      const columnSums = new Float64Array(this.cols);
      let sumAbs = 0,
        at = 0;
      for await (const o of this.blocks("moments")) {
        const rs = o.rowSumsq.data as Float64Array;
        rowSumsq.set(rs, at);
        at += rs.length;
        sumAbs += (o.sumAbs.data as Float64Array)[0];
        (o.columnSums.data as Float32Array).forEach((x, j) => (columnSums[j] += x));
      }
      return { rowSumsq, sumSq: rowSumsq.reduce((a, b) => a + b, 0), sumAbs, columnSums };
    })());
  }

  async stats(): Promise<MatrixStats> {
    const { rows, cols } = this;
    const n = rows * cols;
    const { rowSumsq, sumSq, sumAbs } = await this.moments();
    const mean = sumAbs / n;
    let absDeviationSq = sumSq - n * mean * mean;
    if (n * mean * mean > CANCELLATION * sumSq) {
      // Σ(|x| − c)² = Σ(|x| − m)² + n(m − c)², c the float32 centre the graph takes.
      const centre = Math.fround(mean);
      const dev = await this.total("absDeviation", { centre: new ort.Tensor("float32", [centre], []) });
      absDeviationSq = dev - n * (mean - centre) ** 2;
    }
    const spectral = rows === 0 ? 0 : (await this.spectral()).value;
    return matrixStatsOf({ rows, cols, rowSumsq, sumAbs, absDeviationSq, spectral });
  }

  /** σ₁ by Lanczos (probes/spectral.ts), its Gram products taken here. */
  spectral(opts?: Parameters<typeof spectralNormOf>[2]) {
    return spectralNormOf((q) => this.gram(q), this.cols, opts);
  }

  /** metrics.softmaxGain: ‖W − 1·w̄ᵀ‖_F / √rows, by the parallel-axis identity Σ‖x − w̄‖² = Σ‖x‖² − rows·‖w̄‖². */
  async softmaxGain(): Promise<number> {
    const { sumSq, columnSums } = await this.moments();
    const centre = Float64Array.from(columnSums, (x) => x / this.rows);
    const meanSq = this.rows * centre.reduce((a, m) => a + m * m, 0);
    // The column sums are float32 (relative error ~eps·√rows), and enter Σx² − rows·‖w̄‖² at first order:
    // the one pass only where the mean row is a sliver of the energy, else the centred pass (second order).
    if (meanSq <= MEAN_ROW_SHARE * sumSq) return Math.sqrt((sumSq - meanSq) / this.rows);
    const sum = await this.total("centred", {
      centre: new ort.Tensor("float32", Float32Array.from(centre), [this.cols]),
    });
    return Math.sqrt(sum / this.rows);
  }

  async gram(q: Float64Array): Promise<Float64Array> {
    const out = await this.run("gram", { q: new ort.Tensor("float32", Float32Array.from(q), [this.cols, 1]) });
    return Float64Array.from(out.product.data as Float32Array);
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}

/**
 * The readout matrices of a model as weight measures see them: W_U and W_E read when first asked for, one at
 * a time (reading one lets the other go), W_U_eff as W_U with the final norm's gain; every statistic computed
 * once, whoever asks.
 */
export function weightView(
  proto: ModelProto,
  located: Located,
  modelDir: string,
  opts: { threads?: number; modelId?: string },
): { view: WeightView; tiedByValues(): Promise<boolean>; release(): Promise<void> } {
  const id = opts.modelId;
  type Readout = "W_U" | "W_E";
  let held: { m: Readout; w: ReturnType<typeof readWeight> } | undefined;
  /** Each row's largest and smallest element, kept for the tie check after the matrix is let go. */
  const extremes = new Map<Readout, { rows: number; cols: number; max: Float32Array; min: Float32Array }>();
  const reducers = new Map<Matrix, MatrixReductions>();
  const releaseReducers = async () => {
    for (const r of reducers.values()) await r.release();
    reducers.clear();
  };
  const matrix = async (m: Readout) => {
    if (held?.m !== m) {
      await releaseReducers();
      held = undefined; // let go before the next is read: at most one float32 matrix at a time
      const w = readWeight(proto, located[m], modelDir, id);
      held = { m, w };
      extremes.set(m, { rows: w.rows, cols: w.cols, ...rowExtremes(w.data, w.rows, w.cols) });
    }
    return held.w;
  };
  const reducer = async (m: Matrix) => {
    let r = reducers.get(m);
    if (!r) {
      const { data, rows, cols } = await matrix(m === "W_E" ? "W_E" : "W_U");
      const gain = m === "W_U_eff" ? readFinalNorm(proto, located, modelDir, id).gain : undefined;
      if (gain && gain.length !== cols)
        throw new ProbeError(id, `the final norm's gain has ${gain.length} elements, W_U ${cols} columns`);
      r = new MatrixReductions(data, rows, cols, gain, opts);
      reducers.set(m, r);
    }
    return r;
  };
  const memo = new Map<string, Promise<unknown>>();
  const once = <T>(key: string, f: () => Promise<T>) => {
    if (!memo.has(key)) memo.set(key, f());
    return memo.get(key) as Promise<T>;
  };
  return {
    view: {
      layers: located.layers,
      d: located.d,
      vocab: located.vocab,
      stats: (m) => once(`stats:${m}`, async () => (await reducer(m)).stats()),
      softmaxGain: (m) => once(`gain:${m}`, async () => (await reducer(m)).softmaxGain()),
    },
    tiedByValues: async () => {
      for (const m of ["W_U", "W_E"] as const) if (!extremes.has(m)) await matrix(m);
      const [U, E] = [extremes.get("W_U")!, extremes.get("W_E")!];
      // Elements within 1e-3 have row extremes within 1e-3: where those differ, W_U and W_E do.
      if (U.rows !== E.rows || U.cols !== E.cols || !allClose(U.max, E.max) || !allClose(U.min, E.min)) return false;
      // Only matrices that agree that far are compared whole, the one case that reads the second beside the first.
      const other = held!.m === "W_U" ? "W_E" : "W_U";
      return allClose(held!.w.data, readWeight(proto, located[other], modelDir, id).data);
    },
    release: async () => {
      await releaseReducers();
      held = undefined;
      extremes.clear();
      collectGarbage();
    },
  };
}

/**
 * V8 frees a let-go matrix's buffer at its next major collection, which can come after the model's session
 * is made: a 7B model then peaked at 1.42x its file, 1.17x with the collection forced here.
 */
function collectGarbage(): void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed();
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}

function rowExtremes(data: Float32Array, rows: number, cols: number) {
  const max = new Float32Array(rows).fill(-Infinity),
    min = new Float32Array(rows).fill(Infinity);
  for (let i = 0; i < rows; i++)
    for (let j = i * cols, end = j + cols; j < end; j++) {
      if (data[j] > max[i]) max[i] = data[j];
      if (data[j] < min[i]) min[i] = data[j];
    }
  return { max, min };
}
