/**
 * Child of the bench: probes one model and reports its peak RSS. VmHWM, not
 * getrusage's maxRSS: Linux carries ru_maxrss across fork and exec, so a child
 * of a large parent would report the parent's peak.
 */
import fs from "node:fs";
import { runProbes } from "../../probes/run.js";
import prompts from "../../hypotheses/prompts.json" with { type: "json" };

const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
const baselineRssBytes = process.memoryUsage().rss;
const t = performance.now();
await runProbes({ promptSet: { name: "bench", file: "-", prompts: prompts.prompts.slice(0, 8).map((p) => p.text) } });
console.log(JSON.stringify({ maxRssBytes: hwm(), baselineRssBytes, seconds: (performance.now() - t) / 1000 }));
