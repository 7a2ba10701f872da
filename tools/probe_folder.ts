/**
 * Probes one converted folder on TinyLlama's reference prompts and writes its measures, with the
 * probed pass's wall time, to a JSON file: before/after figures for a conversion (#25).
 *
 *   npx tsx tools/probe_folder.ts <model folder> <out.json> [prompts]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runProbes } from "../probes/run.js";

const [dir, out, n] = process.argv.slice(2);
const ref = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, "..", "test", "fixtures", "tinyllama", "reference.json"), "utf8"),
);
const prompts: string[] = ref.prompts.map((p: { prompt: string }) => p.prompt).slice(0, Number(n ?? 33));
const models = fs.mkdtempSync(path.join(os.tmpdir(), "probe-folder-"));
fs.writeFileSync(path.join(models, "m.json"), JSON.stringify({ id: "m", family: "llama", source: { dir } }));
const t0 = performance.now();
const run = await runProbes({
  env: {
    PROBESPEC_MODELS_DIR: models,
    PROBESPEC_CACHE_DIR: path.join(models, "cache"),
    PROBESPEC_DEVICE: "cpu",
    PROBESPEC_NO_CACHE: "1",
  },
  promptSet: { name: "tinyllama", file: "-", prompts },
});
const wall = (performance.now() - t0) / 1000;
if (run.failures.length) throw new Error(JSON.stringify(run.failures));
fs.writeFileSync(out, JSON.stringify({ wall_s: wall, prompts: prompts.length, measures: run.results[0].measures }));
console.log(`${dir}: ${prompts.length} prompts probed in ${wall.toFixed(1)} s`);
