/** Child of the bench: probes one model and reports its peak RSS (process.resourceUsage().maxRSS). */
import { runProbes } from "../../probes/run.js";
import prompts from "../../hypotheses/prompts.json" with { type: "json" };

const baselineRssBytes = process.memoryUsage().rss;
const t = performance.now();
await runProbes({ promptSet: { name: "bench", file: "-", prompts: prompts.prompts.slice(0, 8).map((p) => p.text) } });
console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024, baselineRssBytes, seconds: (performance.now() - t) / 1000 }));
