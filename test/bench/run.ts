/**
 * npm run bench: each figure a ratio against a baseline measured in the same
 * run (median of ≥ 5 runs after a warm-up, with min and max). Prints a table
 * and writes reports/bench.json. Benchmarks are not tests: nothing here asserts.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { buildAnalog } from "../../models/analogs/build.js";
import { PRESETS } from "../../models/analogs/presets.js";
import { PROJECT_ROOT } from "../../models/registry/registry.js";
import { ModelEntrySchema } from "../../models/registry/schema.js";
import { folderWeightBytes } from "../../models/registry/layout.js";
import { locate } from "../../probes/locate.js";
import { matrixStats } from "../../probes/metrics.js";
import { encodeModel, readModel } from "../../onnx/io.js";
import { runProbes } from "../../probes/run.js";
import { spectralNorm } from "../../probes/spectral.js";
import { probedGraph } from "../../probes/lens.js";
import { loadTokenizer } from "../../probes/tokenizer.js";
import prompts from "../../hypotheses/prompts.json" with { type: "json" };

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const THREADS = 2;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "probespec-bench-"));
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);

interface Timing {
  median: number;
  min: number;
  max: number;
  runs: number;
}
interface Figure {
  value: number | null;
  target: string;
  baseline_s: Timing | number | null;
  ours_s: Timing | number | null;
  runs: number;
  note: string;
}

const stats = (ts: number[]): Timing => {
  const s = [...ts].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], runs: s.length };
};
/** Two functions timed in alternation, so that drift in the machine's speed falls on both alike. */
async function timePair(a: () => Promise<unknown>, b: () => Promise<unknown>, runs = RUNS): Promise<[Timing, Timing]> {
  await a();
  await b();
  const ta: number[] = [],
    tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const [fn, ts] of (i % 2
      ? [
          [b, tb],
          [a, ta],
        ]
      : [
          [a, ta],
          [b, tb],
        ]) as [() => Promise<unknown>, number[]][]) {
      const t = performance.now();
      await fn();
      ts.push((performance.now() - t) / 1000);
    }
  }
  return [stats(ta), stats(tb)];
}

async function timeIt(fn: () => Promise<unknown> | unknown, runs = RUNS): Promise<Timing> {
  await fn(); // warm-up
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ts.push((performance.now() - t) / 1000);
  }
  return stats(ts);
}

/** Big analogs, generated once into the bench's own cache. */
PRESETS["bench-pythia-160m"] = {
  family: "pythia",
  dialect: "torchscript",
  external: true,
  config: {
    layers: 12,
    d: 768,
    heads: 12,
    hidden: 3072,
    vocab: 50304,
    maxPositions: 2048,
    tokenizer: "bytes",
    seed: 160,
  },
  knobs: {},
  description: "pythia-160m-shaped analog (bench)",
};
PRESETS["bench-mistral-160m"] = {
  family: "mistral",
  dialect: "torchscript",
  external: true,
  config: {
    layers: 12,
    d: 768,
    heads: 12,
    kvHeads: 4,
    hidden: 2048,
    vocab: 32000,
    maxPositions: 2048,
    tokenizer: "mistral",
    seed: 161,
  },
  knobs: {},
  description: "mistral-shaped analog of similar size (bench)",
};

const PROMPTS = prompts.prompts.slice(0, 8).map((p) => p.text);
const int64 = (a: number[]) => new ort.Tensor("int64", BigInt64Array.from(a.map(BigInt)), [1, a.length]);
const feeds = (ids: number[]) => ({
  input_ids: int64(ids),
  attention_mask: int64(ids.map(() => 1)),
  position_ids: int64(ids.map((_, i) => i)),
});

/** The plain session, the probed one (every probe point an output) and the probed one with the logit lens, on the same prompts. */
async function sessions(dir: string) {
  const file = path.join(dir, "model.onnx");
  const model = readModel(file);
  const located = locate(model.proto);
  const opts: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
  };
  const edited = (lens: boolean) => probedGraph(model.proto, located, undefined, { lens });
  const create = async (g: ReturnType<typeof edited>) => ({
    session: await ort.InferenceSession.create(encodeModel(g.proto), {
      ...opts,
      extra: { session: { model_external_initializers_file_folder_path: dir } },
    }),
    outputs: g.outputs,
  });
  const plain = { session: await ort.InferenceSession.create(file, opts), outputs: undefined };
  const [probed, lensed] = [await create(edited(false)), await create(edited(true))];
  const tok = loadTokenizer(dir);
  const ids = PROMPTS.map((p) => tok.encode(p));
  const pass =
    ({ session, outputs }: { session: ort.InferenceSession; outputs?: string[] }) =>
    async () => {
      for (const x of ids) await (outputs ? session.run(feeds(x), outputs) : session.run(feeds(x)));
    };
  return {
    plain: pass(plain),
    probed: pass(probed),
    lensed: pass(lensed),
    points: probed.outputs.length,
    weightBytes: folderWeightBytes(file),
    release: () => Promise.all([plain, probed, lensed].map((s) => s.session.release())),
  };
}

function torchAvailable(): string | undefined {
  const r = spawnSync("/usr/bin/python3", ["-c", "import torch, onnx, numpy"], { encoding: "utf8" });
  return r.status === 0 ? undefined : "torch is not installed (apt-get install python3-torch python3-onnx)";
}

/** The baseline needs a real BLAS: Debian's torch falls back to the reference BLAS (≈ 3 GFLOP/s) without libopenblas0-pthread. */
function ensureOpenBlas(): string | undefined {
  const has = () =>
    fs.readdirSync("/usr/lib/x86_64-linux-gnu").some((f) => f.startsWith("libopenblas") && f.includes("pthread")) ||
    fs.existsSync("/usr/lib/x86_64-linux-gnu/openblas-pthread");
  if (has()) return undefined;
  say("installing libopenblas0-pthread so that the torch baseline is not crippled");
  const r = spawnSync("sh", ["-c", "apt-get install -y -qq libopenblas0-pthread"], {
    encoding: "utf8",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return has()
    ? undefined
    : `libopenblas0-pthread could not be installed (${r.stderr.trim().split("\n").pop()}); torch figures refused`;
}

function python(args: string[]): any {
  const out = execFileSync("/usr/bin/python3", [path.join(PROJECT_ROOT, "tools/bench_torch.py"), ...args], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
    env: { ...process.env, OMP_NUM_THREADS: String(THREADS), OPENBLAS_NUM_THREADS: String(THREADS) },
  });
  return JSON.parse(out.trim().split("\n").pop()!);
}

function plantedMatrix(rows: number, cols: number, spikes: number[]): Float32Array {
  let s = 12345;
  const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296 - 0.5;
  const g = () => Math.sqrt(-2 * Math.log(Math.max(r() + 0.5, 1e-300))) * Math.cos(2 * Math.PI * (r() + 0.5));
  const W = new Float32Array(rows * cols);
  for (let i = 0; i < W.length; i++) W[i] = g() * 0.01;
  for (const amp of spikes) {
    const u = Float64Array.from({ length: rows }, g),
      v = Float64Array.from({ length: cols }, g);
    const f = amp / Math.sqrt(u.reduce((a, x) => a + x * x, 0) * v.reduce((a, x) => a + x * x, 0));
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) W[i * cols + j] += f * u[i] * v[j];
  }
  return W;
}

async function main() {
  const figures: Record<string, Figure> = {};
  const torchMissing = torchAvailable() ?? ensureOpenBlas();
  const cache = path.join(work, "cache");

  // 1. probe_overhead, and 4. forward_vs_floor
  say("generating the pythia-160m- and mistral-shaped analogs");
  const dirs = {
    "pythia-160m": await buildAnalog({ analog: "bench-pythia-160m" }, cache),
    "mistral-160m": await buildAnalog({ analog: "bench-mistral-160m" }, cache),
  };
  const big = Buffer.alloc(1 << 30, 1),
    dst = Buffer.alloc(1 << 30);
  const copy = await timeIt(() => big.copy(dst));
  const bandwidth = big.length / copy.median;
  for (const [name, dir] of Object.entries(dirs)) {
    say(`${name}: timing the plain and the probed session`);
    const s = await sessions(dir);
    const [plain, probed] = await timePair(s.plain, s.probed);
    figures[`probe_overhead.${name}`] = {
      value: probed.median / plain.median,
      target: "≤ 1.05",
      baseline_s: plain,
      ours_s: probed,
      runs: RUNS,
      note: `${s.points} probe points exposed; ${PROMPTS.length} prompts a run`,
    };
    const [plain2, lensed] = await timePair(s.plain, s.lensed);
    figures[`lens_overhead.${name}`] = {
      value: lensed.median / plain2.median,
      target: "(reported)",
      baseline_s: plain2,
      ours_s: lensed,
      runs: RUNS,
      note: "the probed pass plus the logit lens of every layer (one [layers, d] × W_U matmul)",
    };
    const floor = (s.weightBytes / bandwidth) * PROMPTS.length;
    // The probed pass as probeModel runs it, lens included.
    figures[`forward_vs_floor.${name}`] = {
      value: lensed.median / floor,
      target: "≤ 2",
      baseline_s: floor,
      ours_s: lensed,
      runs: RUNS,
      note: `floor: ${(s.weightBytes / 1e6).toFixed(0)} MB of weights a pass ÷ ${(bandwidth / 1e9).toFixed(1)} GB/s copy bandwidth, × ${PROMPTS.length} passes`,
    };
    await s.release();
  }

  // 2. vs_torch_forward: the same weights, exported by torch, probed by us and hooked by the notebook's method.
  if (torchMissing) {
    figures.vs_torch_forward = {
      value: null,
      target: "≤ 0.33",
      baseline_s: null,
      ours_s: null,
      runs: 0,
      note: `skipped: ${torchMissing}`,
    };
  } else {
    say("torch: exporting a pythia-160m-shaped GPTNeoX and timing the notebook's hooked forward");
    const tok = loadTokenizer(dirs["pythia-160m"]);
    const idsFile = path.join(work, "ids.json");
    fs.writeFileSync(idsFile, JSON.stringify(PROMPTS.map((p) => tok.encode(p))));
    const exportDir = path.join(work, "torch-pythia-160m");
    const torchRes = python(["forward", exportDir, idsFile, String(RUNS)]);
    const s = await sessions(exportDir);
    const ours = await timeIt(s.lensed);
    await s.release();
    figures.vs_torch_forward = {
      value: ours.median / stats(torchRes.seconds).median,
      target: "≤ 0.33",
      baseline_s: stats(torchRes.seconds),
      ours_s: ours,
      runs: RUNS,
      note: `torch ${(torchRes.params / 1e6) | 0}M params, BLAS ${torchRes.blas}, hooks on 12 decoder layers; ours: every probe point exposed and the logit lens`,
    };
  }

  // 3. spectral_speedup: 32000×4096, planted spectrum and the Gaussian worst case.
  const [rows, cols] = [32000, 4096];
  for (const [name, spikes] of [
    ["planted", [40, 25, 18, 12]],
    ["gaussian", []],
  ] as const) {
    say(`spectral norm of a ${rows}×${cols} ${name} matrix`);
    const W = plantedMatrix(rows, cols, [...spikes]);
    let result = spectralNorm(W, rows, cols, { rtol: 2e-7 });
    const ours = await timeIt(
      () => {
        result = spectralNorm(W, rows, cols, { rtol: 2e-7 });
      },
      name === "gaussian" ? Math.min(RUNS, 5) : RUNS,
    );
    const all12 = await timeIt(() => matrixStats(W, rows, cols), 1);
    let fig: Figure;
    if (torchMissing) {
      fig = {
        value: null,
        target: "≥ 15",
        baseline_s: null,
        ours_s: ours,
        runs: RUNS,
        note: `torch baseline skipped: ${torchMissing}; ${result.iterations} Lanczos iterations`,
      };
    } else {
      const file = path.join(work, `${name}.f32`);
      fs.writeFileSync(file, Buffer.from(W.buffer));
      const t = python(["spectral", file, String(rows), String(cols), String(name === "gaussian" ? 1 : RUNS)]);
      fs.rmSync(file);
      const base = stats(t.seconds);
      const err = Math.abs(result.value - t.svdvals) / t.svdvals;
      fig = {
        value: base.median / ours.median,
        target: "≥ 15 at rel. error ≤ 1e-6",
        baseline_s: base,
        ours_s: ours,
        runs: RUNS,
        note: `relative error vs torch svdvals ${err.toExponential(2)}; ${result.iterations} Lanczos iterations; all 12 matrix stats ${all12.median.toFixed(2)} s; BLAS ${t.blas}${name === "gaussian" ? "; torch baseline timed once (a dense SVD's cost does not depend on the spectrum)" : ""}`,
      };
    }
    figures[`spectral_speedup.${name}`] = fig;
  }

  // 5. loads_per_run and the cached second run; 6. peak_rss_ratio (in a child, so its peak is this model's alone).
  say("a run of the three hypotheses' probes, twice");
  const modelsDir = path.join(work, "models");
  fs.mkdirSync(modelsDir);
  // An entry for the generated folder, as a user would write it.
  fs.writeFileSync(
    path.join(modelsDir, "p.json"),
    JSON.stringify(
      ModelEntrySchema.parse({ id: "p", family: "pythia", source: { dir: dirs["pythia-160m"] }, synthetic: true }),
    ),
  );
  const env = {
    PROBESPEC_MODELS_DIR: modelsDir,
    PROBESPEC_CACHE_DIR: path.join(work, "run-cache"),
    PROBESPEC_DEVICE: "cpu",
    PROBESPEC_THREADS: String(THREADS),
  };
  const promptSet = { name: "bench", file: "-", prompts: PROMPTS };
  const t0 = performance.now();
  const first = await runProbes({ env, promptSet });
  const firstS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const second = await runProbes({ env, promptSet });
  const secondS = (performance.now() - t1) / 1000;
  figures.loads_per_run = {
    value: first.modelLoads / Math.max(first.results.length, 1),
    target: "1",
    baseline_s: firstS,
    ours_s: secondS,
    runs: 1,
    note: `second run: ${second.modelLoads} loads, ${second.cacheHits.length} cache hit(s), ${secondS.toFixed(2)} s vs ${firstS.toFixed(2)} s`,
  };
  const child = spawnSync(process.execPath, ["--import", "tsx", path.join(PROJECT_ROOT, "test/bench/probe-one.ts")], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env, PROBESPEC_NO_CACHE: "1" },
  });
  const peak = JSON.parse(child.stdout.trim().split("\n").pop() ?? "{}");
  const weights = folderWeightBytes(path.join(dirs["pythia-160m"], "model.onnx"));
  figures.peak_rss_ratio = {
    value: peak.maxRssBytes ? peak.maxRssBytes / weights : null,
    target: "≤ 1.3",
    baseline_s: null,
    ours_s: peak.seconds ?? null,
    runs: 1,
    note: `peak RSS ${(peak.maxRssBytes / 1e6).toFixed(0)} MB (Node's own ${(peak.baselineRssBytes / 1e6).toFixed(0)} MB included) for ${(weights / 1e6).toFixed(0)} MB of weights`,
  };

  const machine = {
    cpus: os.cpus()[0]?.model,
    cores: os.availableParallelism(),
    memoryGb: Math.round(os.totalmem() / 1e9),
    node: process.version,
    ort: ort.env.versions?.node,
    threads: THREADS,
  };
  const table = Object.entries(figures).map(
    ([k, f]) =>
      `${k.padEnd(30)} ${f.value === null ? "skipped".padEnd(10) : f.value.toFixed(3).padEnd(10)} target ${f.target.padEnd(26)} ${f.note}`,
  );
  console.log(
    ["figure                         value      target", ...table, `machine: ${JSON.stringify(machine)}`].join("\n"),
  );
  fs.writeFileSync(
    path.join(PROJECT_ROOT, "reports/bench.json"),
    JSON.stringify({ date: new Date().toISOString(), machine, figures }, null, 2),
  );
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
