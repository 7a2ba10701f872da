/**
 * Probes run here, once per model per run, before any spec: the specs read the
 * results through inject("probeRun"), the reporter through PROBESPEC_RUN_FILE.
 * The configuration is checked first: an error in it stops the run with one line.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { loadRegistry } from "../models/registry/registry.js";
import { sourceFolders } from "../models/registry/sources.js";
import { readConfig, setRunFile, type RunConfig } from "../probes/config.js";
import { ConfigError, printable } from "../onnx/errors.js";
import { runProbes, type ProbeRun } from "../probes/run.js";
import { checkReportDir } from "../contract/report-dir.js";
import { makeDir } from "../onnx/io.js";
import type { SetupExtras } from "../contract/run-file.js";
import { plantedSubjects, preregistration } from "./preregistration.js";

declare module "vitest" {
  export interface ProvidedContext {
    probeRun: ProbeRun;
  }
}

/** Run files kept in .probespec-cache/runs: the newest ones; older ones are removed. */
const RUNS_KEPT = 20;
/** A run file's name as writeRunFile makes it (its start time, then its process): pruning removes no other file. */
const RUN_FILE = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-\d+\.json$/;

/** The folders every entry's source lies in (an export, a GGUF's, a llama2.c checkpoint's, the hub cache's): a report is never written into one. */
async function entryFolders(config: RunConfig): Promise<{ id: string; dir: string }[]> {
  const { entries } = await loadRegistry(config.modelsDir);
  return entries.flatMap((e) => sourceFolders(e, config).map((dir) => ({ id: e.id, dir })));
}

/** The run as a file for the reporter: in the cache's runs/, or the system's temp folder where the cache cannot be written. */
function writeRunFile(run: ProbeRun & SetupExtras, cacheDir: string, log: (m: string) => void): string {
  const name = `${run.startedAt.replace(/[:.]/g, "-")}-${process.pid}.json`;
  const runs = path.join(cacheDir, "runs");
  try {
    makeDir(runs);
    fs.writeFileSync(path.join(runs, name), JSON.stringify(run));
    const old = fs
      .readdirSync(runs)
      .filter((f) => RUN_FILE.test(f))
      .sort()
      .slice(0, -RUNS_KEPT);
    for (const f of old) fs.rmSync(path.join(runs, f), { force: true });
    return path.join(runs, name);
  } catch (e) {
    log(`warning: ${runs} cannot be written (${(e as Error).message}); the run is kept in the system's temp folder`);
    const file = path.join(os.tmpdir(), `probespec-run-${name}`);
    fs.writeFileSync(file, JSON.stringify(run));
    return file;
  }
}

/**
 * Progress on stderr. Long steps (a conversion, the weight measures, a model's prompts) update one line per model on
 * a terminal; elsewhere (a pipe, CI) a conversion's first step and a model's last prompt print, so that a run of seven
 * models reads in a screen.
 */
function progressLog(): (m: string) => void {
  const tty = process.stderr.isTTY === true;
  let open = false;
  return (text: string) => {
    const m = printable(text);
    const step = /: (?:prompt (\d+)\/(\d+)|converting: (\d+) large tensors|weight measures|reading )/.exec(m);
    if (step && tty) {
      process.stderr.write(`\r\x1b[K[probespec] ${m}`);
      open = true;
      return;
    }
    const kept = step && (step[3] !== undefined ? step[3] === "1" : step[1] !== undefined && step[1] === step[2]);
    if (step && !kept) return;
    process.stderr.write(`${open ? "\n" : ""}[probespec] ${m}\n`);
    open = false;
  };
}

export default async function setup(project: TestProject): Promise<void> {
  const log = progressLog();
  let run: ProbeRun, config: RunConfig;
  try {
    config = readConfig();
    if (config.reportDir) checkReportDir(config.reportDir, await entryFolders(config));
    run = await runProbes({ config, onProgress: log });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`probespec: ${printable(e.message)}\n`);
    process.exit(2);
  }
  const real = run.results.filter((r) => !r.synthetic);
  log(
    real.length
      ? `probed ${run.results.length} models (${real.length} real)`
      : `probed ${run.results.length} models: no real export is available, so this run is on synthetic analogs only`,
  );
  const { entries } = await loadRegistry(config.modelsDir);
  const extras: SetupExtras = {
    planted: plantedSubjects(
      entries,
      run.results.map((r) => r.id),
      run.promptSet.name,
    ),
    preregistration: preregistration(import.meta.dirname, run.promptSet),
    compare: config.compare,
  };
  setRunFile(writeRunFile({ ...run, ...extras }, config.cacheDir, log));
  project.provide("probeRun", run);
}
