/**
 * How cost grows (npm run bench): the plain and the probed forward pass (every
 * measure's in-graph reductions and the logit lens, as probeModel runs it) at several model
 * sizes and prompt lengths; peak memory of a real probe run, anonymous and
 * file-backed apart, sampled from /proc while it runs; and the peer a user would
 * run instead at 1.1B (transformers + torch with hooks on every decoder layer).
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { folderWeightBytes } from "../../models/registry/layout.js";
import { PROJECT_ROOT } from "../../models/registry/registry.js";
import { encodeModel, readModel, relocateExternalData } from "../../onnx/io.js";
import { feeder } from "../../probes/feeds.js";
import { planReads, probedGraph } from "../../probes/probed-graph.js";
import { loadMeasures } from "../../probes/measures/registry.js";
import { locate } from "../../probes/locate.js";
import { loadTokenizer } from "../../probes/tokenizer.js";

export interface Timing {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export const stats = (ts: number[]): Timing => {
  const s = [...ts].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], runs: s.length };
};

/** Two functions timed in alternation after a warm-up of each, so that drift in the machine's speed falls on both alike. */
export async function timePair(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  runs: number,
): Promise<[Timing, Timing]> {
  await a();
  await b();
  const ta: number[] = [],
    tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    const order: [() => Promise<unknown>, number[]][] =
      i % 2
        ? [
            [b, tb],
            [a, ta],
          ]
        : [
            [a, ta],
            [b, tb],
          ];
    for (const [fn, ts] of order) {
      const t = performance.now();
      await fn();
      ts.push((performance.now() - t) / 1000);
    }
  }
  return [stats(ta), stats(tb)];
}

/** `length` token ids from the prompts' text, repeated as needed: real tokens of the model's own tokenizer. */
export function idsOfLength(dir: string, text: string, length: number): number[] {
  const base = loadTokenizer(dir).encode(text);
  return Array.from({ length }, (_, i) => base[i % base.length]);
}

export interface CostPoint {
  model: string;
  parameters: number;
  weightBytes: number;
  tokens: number;
  plain_s: Timing;
  probed_s: Timing;
  /** The probed pass over the plain one. */
  overhead: number;
  /** Bytes one pass returns to JavaScript: the plain session's logits, the probed session's reductions and lens. */
  plain_bytes: number;
  probed_bytes: number;
  probed_per_token_s: number;
}

/** The sessions the bench opens of a model: its file as it is, and the probed graph with or without the lens. */
export type SessionKind = "plain" | "probed" | "probed without the lens";

/**
 * A model's sessions as the bench times them, each opened on demand: the plain one (from its file), the probed
 * one (every measure's in-graph reductions and the logit lens, the graph probeModel runs) and the probed one
 * without the lens; the model's own feeds (probes/feeds.ts). A 7B model's sessions are opened one at a time.
 */
export function sessionOpener(name: string, dir: string, threads: number) {
  const file = path.join(dir, "model.onnx");
  const model = readModel(file);
  const located = locate(model.proto);
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const opts: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
  };
  const open = async (kind: SessionKind) => {
    const plan = planReads(await loadMeasures(), located);
    const t = performance.now();
    const g =
      kind === "plain"
        ? undefined
        : probedGraph(model.proto, located, name, { ...plan.graph, lens: kind === "probed" });
    // As probeModel hands a graph over: bytes, with a folder its external data (perhaps links to a checkpoint's
    // own files) resolves in.
    const forOrt = relocateExternalData(g ? g.proto : model.proto, dir);
    const session = await ort.InferenceSession.create(encodeModel(forOrt.proto), {
      ...opts,
      extra: { session: { model_external_initializers_file_folder_path: forOrt.dir } },
    });
    return {
      run: (x: ort.InferenceSession.FeedsType) => (g ? session.run(x, g.outputs) : session.run(x)),
      /** Tensors the session fetches: the probed graph's reductions (and lens), or the plain graph's outputs. */
      exposed: g ? g.outputs.length : session.outputNames.length,
      load_s: (performance.now() - t) / 1000,
      release: () => session.release(),
    };
  };
  return {
    open,
    feeds: feeder(located, config, undefined, name),
    weightBytes: folderWeightBytes(file),
    parameters: parametersOf(config) ?? folderWeightBytes(file) / 4,
  };
}

/**
 * A Llama-shaped config.json's parameter count (embedding, attention with grouped KV heads, gated MLP, norms,
 * lm_head unless tied), or undefined for another shape: weight bytes over 4 count parameters only in float32,
 * not in a GGUF's block codes or 16 bits.
 */
export function parametersOf(c: Record<string, number | boolean | string>): number | undefined {
  if (!["llama", "mistral"].includes(c.model_type as string)) return undefined;
  const [d, layers, heads, hidden, vocab] = [
    c.hidden_size,
    c.num_hidden_layers,
    c.num_attention_heads,
    c.intermediate_size,
    c.vocab_size,
  ] as number[];
  const headDim = (c.head_dim as number | undefined) ?? d / heads;
  const kv = (c.num_key_value_heads as number | undefined) ?? heads;
  const layer = 2 * d * heads * headDim + 2 * d * kv * headDim + 3 * d * hidden + 2 * d;
  return vocab * d * (c.tie_word_embeddings ? 1 : 2) + layers * layer + d;
}

/** The plain, probed (with the lens) and, where asked, unlensed probed sessions open together, with load times. */
export async function openSessions(name: string, dir: string, threads: number, { unlensed = false } = {}) {
  const o = sessionOpener(name, dir, threads);
  const plain = await o.open("plain");
  const lensed = await o.open("probed");
  const probed = unlensed ? await o.open("probed without the lens") : undefined;
  const load_s: Record<string, number> = { plain: plain.load_s, probed: lensed.load_s };
  if (probed) load_s["probed without the lens"] = probed.load_s;
  return {
    plain: plain.run,
    lensed: lensed.run,
    probed: probed?.run,
    /** Tensors the probed session fetches (without the lens, where opened). */
    exposed: (probed ?? lensed).exposed,
    feeds: o.feeds,
    load_s,
    weightBytes: o.weightBytes,
    parameters: o.parameters,
    release: () => Promise.all([plain, lensed, probed].map((s) => s?.release())),
  };
}

/** One model's row of the curve: the plain and the probed pass timed at each length. */
export async function costRow(
  name: string,
  dir: string,
  lengths: number[],
  text: string,
  runs: number,
  threads: number,
) {
  const s = await openSessions(name, dir, threads);
  const points: CostPoint[] = [];
  for (const tokens of lengths) {
    const x = s.feeds(idsOfLength(dir, text, tokens), text);
    const bytes = (out: ort.InferenceSession.OnnxValueMapType) =>
      Object.values(out).reduce((n, t) => n + (t.data as ArrayBufferView).byteLength, 0);
    const [plain_bytes, probed_bytes] = [bytes(await s.plain(x)), bytes(await s.lensed(x))];
    const [p, q] = await timePair(
      () => s.plain(x),
      () => s.lensed(x),
      runs,
    );
    points.push({
      model: name,
      parameters: s.parameters,
      weightBytes: s.weightBytes,
      tokens,
      plain_s: p,
      probed_s: q,
      overhead: q.median / p.median,
      plain_bytes,
      probed_bytes,
      probed_per_token_s: q.median / tokens,
    });
  }
  await s.release();
  return { load_s: s.load_s, points, exposed: s.exposed };
}

/** time ≈ a · (parameters × tokens)^b by least squares in log–log: the exponent b. */
export function fitExponent(points: { x: number; t: number }[]): { exponent: number; r2: number } {
  const xs = points.map((p) => Math.log(p.x)),
    ys = points.map((p) => Math.log(p.t));
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n,
    my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return { exponent: sxy / sxx, r2: (sxy * sxy) / (sxx * syy) };
}

export interface MemoryPeak {
  /** Peaks of RssAnon and RssFile sampled every 20 ms, and the kernel's own VmHWM (anonymous + file). */
  anonBytes: number;
  fileBytes: number;
  hwmBytes: number;
  seconds: number;
  samples: number;
}

const statusField = (text: string, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) * 1024;

/** A probe run in a child (test/bench/probe-one.ts) with this environment, its memory sampled from /proc while it runs. */
export async function memoryOfRun(env: Record<string, string>): Promise<MemoryPeak & { error?: string }> {
  const r = await sampledChild(
    process.execPath,
    ["--import", "tsx", path.join(PROJECT_ROOT, "test/bench/probe-one.ts")],
    {
      env,
    },
  );
  const { result, error, ...peak } = r;
  return result ? { ...peak, hwmBytes: (result as { maxRssBytes: number }).maxRssBytes } : { ...peak, error };
}

/**
 * A command in a child, its memory (RssAnon and RssFile) sampled from /proc every 20 ms while it runs: its last
 * line of output parsed as JSON, or, where it failed, the last lines of its error output. A child's VmHWM is its
 * own to print (Linux carries getrusage's maxRSS across fork and exec). `prlimit` in front of a command is
 * sampled through: the pid is the command's own once prlimit has exec'd it.
 */
export function sampledChild(
  command: string,
  args: string[],
  { env = {}, errorLines = 3, timeoutS }: { env?: Record<string, string>; errorLines?: number; timeoutS?: number } = {},
): Promise<MemoryPeak & { result?: unknown; error?: string; code: number | null }> {
  return new Promise((resolve) => {
    const t = performance.now();
    const child = spawn(command, args, {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "",
      err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const peak = { anonBytes: 0, fileBytes: 0, hwmBytes: 0, samples: 0 };
    const sample = () => {
      try {
        const s = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
        peak.anonBytes = Math.max(peak.anonBytes, statusField(s, "RssAnon"));
        peak.fileBytes = Math.max(peak.fileBytes, statusField(s, "RssFile"));
        peak.hwmBytes = Math.max(peak.hwmBytes, statusField(s, "VmHWM"));
        peak.samples++;
      } catch {
        // exited between two samples
      }
    };
    const timer = setInterval(sample, 20);
    let timedOut = false;
    const limit =
      timeoutS === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, timeoutS * 1000);
    child.on("exit", (code, signal) => {
      clearInterval(timer);
      clearTimeout(limit);
      const seconds = (performance.now() - t) / 1000;
      const last = out.trim().split("\n").pop() ?? "";
      try {
        if (code !== 0) throw new Error();
        resolve({ ...peak, seconds, code, result: JSON.parse(last) });
      } catch {
        const tail = err.trim().split("\n").slice(-errorLines).join(" ");
        const why = timedOut ? `stopped after ${timeoutS} s` : `exit ${code ?? signal}`;
        resolve({ ...peak, seconds, code, error: `${why}: ${tail}` });
      }
    });
  });
}

/** The peer's Python: the project's .venv (transformers 5, torch 2.13) with gguf, installed from the wheel mirror when missing. */
export function peerPython(): string | { missing: string } {
  const py = path.join(PROJECT_ROOT, ".venv/bin/python");
  if (!fs.existsSync(py)) return { missing: "no .venv (bash tools/make_exports.sh builds it from the wheel mirror)" };
  const has = () => {
    try {
      execFileSync(py, ["-c", "import torch, transformers, gguf, accelerate"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return py;
  const indexes = execFileSync("sh", ["-c", "pip3 config list 2>/dev/null || true"], { encoding: "utf8" })
    .split("\n")
    .flatMap((l) => /index-url='(.*)'$/.exec(l)?.[1].split(/\s+/) ?? [])
    .filter((u) => u.startsWith("file://"));
  if (!indexes.length) return { missing: "gguf or accelerate is not in .venv and pip names no local wheel mirror" };
  try {
    execFileSync(
      path.join(PROJECT_ROOT, ".venv/bin/pip"),
      [
        "install",
        "-q",
        "--index-url",
        indexes[0],
        ...indexes.slice(1).flatMap((u) => ["--extra-index-url", u]),
        "-r",
        path.join(PROJECT_ROOT, "tools/requirements-peer.txt"),
      ],
      { stdio: "ignore" },
    );
  } catch (e) {
    return { missing: `the peer's packages could not be installed into .venv: ${(e as Error).message.split("\n")[0]}` };
  }
  return has() ? py : { missing: "gguf or accelerate still cannot be imported in .venv" };
}
