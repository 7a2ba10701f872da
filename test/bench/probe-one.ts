/**
 * Child of the bench: one probe run (the environment says of what), its peak RSS
 * printed at the end. VmHWM, not getrusage's maxRSS: Linux carries ru_maxrss across
 * fork and exec, so a child of a large parent would report the parent's peak. The
 * parent samples anonymous and file-backed memory apart while this runs
 * (cost.ts memoryOfRun). BENCH_ORT: ONNX Runtime options to try, as JSON.
 */
import fs from "node:fs";
import { runProbes } from "../../probes/run.js";
import { PARADOX_PROMPTS, promptTexts } from "../../probes/prompts.js";

const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
const baselineRssBytes = process.memoryUsage().rss;
const t = performance.now();
const run = await runProbes({
  promptSet: { name: "bench", file: "-", prompts: promptTexts(PARADOX_PROMPTS).slice(0, 8) },
  ort: process.env.BENCH_ORT ? JSON.parse(process.env.BENCH_ORT) : undefined,
});
if (run.failures.length) throw new Error(run.failures.map((f) => f.error).join("; "));
console.log(JSON.stringify({ maxRssBytes: hwm(), baselineRssBytes, seconds: (performance.now() - t) / 1000 }));
