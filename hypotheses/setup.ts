/**
 * Probes run here, once per model per run, before any spec: the specs read the
 * results through inject("probeRun"), the reporter through PROBESPEC_RUN_FILE.
 */
import fs from "node:fs";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { cacheRoot } from "../models/registry/registry.js";
import { loadPromptSet } from "../probes/prompts.js";
import { runProbes, type ProbeRun } from "../probes/run.js";

declare module "vitest" {
  export interface ProvidedContext {
    probeRun: ProbeRun;
  }
}

export const DEFAULT_PROMPTS = path.join(import.meta.dirname, "prompts.json");

export default async function setup(project: TestProject): Promise<void> {
  const file = process.env.PROBESPEC_PROMPTS ? path.resolve(process.env.PROBESPEC_PROMPTS) : DEFAULT_PROMPTS;
  const set = loadPromptSet(file);
  const log = (m: string) => process.stderr.write(`[probespec] ${m}\n`);
  const run = await runProbes({ promptSet: { name: set.name, file, prompts: set.prompts.map((p) => p.text) }, onProgress: log });
  const real = run.results.filter((r) => !r.synthetic);
  log(real.length ? `probed ${run.results.length} models (${real.length} real)` : `probed ${run.results.length} models: no real export is available, so this run is on synthetic analogs only`);
  const runFile = path.join(cacheRoot(), "runs", `${run.startedAt.replace(/[:.]/g, "-")}-${process.pid}.json`);
  fs.mkdirSync(path.dirname(runFile), { recursive: true });
  fs.writeFileSync(runFile, JSON.stringify(run));
  process.env.PROBESPEC_RUN_FILE = runFile;
  project.provide("probeRun", run);
}
