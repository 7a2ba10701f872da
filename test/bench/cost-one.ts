/**
 * Child of the bench: one model's row of the cost curve with its sessions opened one at a time (a 7B model's
 * plain and probed sessions would not fit in memory together), so plain and probed passes are not alternated as
 * costRow alternates them: every length of the plain session, then every length of the probed one. Each session's
 * load time and its own peak resident memory (VmHWM, reset between the two through /proc/self/clear_refs), and the
 * plain pass's next token (the argmax of the last position's logits) at each length, to hold another engine's
 * forward of the same weights to ours. Each length is warmed up once, then timed <runs> times (once where the
 * warm-up took over a minute).
 *
 *   tsx test/bench/cost-one.ts <name> <folder> <ids.json> <runs> <threads>
 *
 * ids.json: a list of token-id lists, one per prompt length. Prints one JSON object on its last line.
 */
import fs from "node:fs";
import type * as ort from "onnxruntime-node";
import { sessionOpener, stats, type SessionKind, type Timing } from "./cost.js";

const [name, dir, idsFile, runsArg, threadsArg] = process.argv.slice(2);
const runs = Number(runsArg);
const LONG_PASS_S = 60;
const prompts: number[][] = JSON.parse(fs.readFileSync(idsFile, "utf8"));
const kb = (field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync("/proc/self/status", "utf8"))![1]) * 1024;

const o = sessionOpener(name, dir, Number(threadsArg));
const bytes = (out: ort.InferenceSession.OnnxValueMapType) =>
  Object.values(out).reduce((n, t) => n + (t.data as ArrayBufferView).byteLength, 0);
const argmaxLast = (logits: ort.Tensor) => {
  const v = logits.dims[logits.dims.length - 1];
  const d = logits.data as Float32Array;
  let best = d.length - v;
  for (let i = d.length - v; i < d.length; i++) if (d[i] > d[best]) best = i;
  return best - (d.length - v);
};

const sessions: Record<string, unknown>[] = [];
const passes: Record<string, { tokens: number; seconds: Timing; bytes: number; next_token?: number }[]> = {};
for (const kind of ["plain", "probed"] as SessionKind[]) {
  fs.writeFileSync("/proc/self/clear_refs", "5"); // VmHWM back to the current RSS: this session's peak alone
  const before = kb("VmRSS");
  const s = await o.open(kind);
  const afterLoad = kb("VmRSS");
  passes[kind] = [];
  for (const ids of prompts) {
    const x = o.feeds(ids);
    let t = performance.now();
    const out = await s.run(x); // the warm-up
    // A pass over a minute long (512 tokens of 7B on 2 cores) is timed once after its warm-up.
    const n = (performance.now() - t) / 1000 > LONG_PASS_S ? 1 : runs;
    const ts: number[] = [];
    for (let r = 0; r < n; r++) {
      t = performance.now();
      await s.run(x);
      ts.push((performance.now() - t) / 1000);
    }
    passes[kind].push({
      tokens: ids.length,
      seconds: stats(ts),
      bytes: bytes(out),
      ...(kind === "plain" && out.logits ? { next_token: argmaxLast(out.logits) } : {}),
    });
    process.stderr.write(
      `[cost-one] ${name} ${kind} ${ids.length} tokens: ${ts.map((t) => t.toFixed(2)).join(", ")} s\n`,
    );
  }
  await s.release();
  sessions.push({
    session: kind,
    load_s: s.load_s,
    exposed: s.exposed,
    rss_before_bytes: before,
    rss_after_load_bytes: afterLoad,
    peak_rss_bytes: kb("VmHWM"),
  });
}

console.log(
  JSON.stringify({
    model: name,
    parameters: o.parameters,
    weightBytes: o.weightBytes,
    runs,
    sessions,
    points: prompts.map((ids, i) => {
      const [p, q] = [passes.plain[i], passes.probed[i]];
      return {
        tokens: ids.length,
        plain_s: p.seconds,
        probed_s: q.seconds,
        overhead: q.seconds.median / p.seconds.median,
        plain_bytes: p.bytes,
        probed_bytes: q.bytes,
        next_token: p.next_token,
      };
    }),
  }),
);
