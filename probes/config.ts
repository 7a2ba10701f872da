/**
 * The run's configuration, read from the environment and checked once, before
 * anything is probed: a bad value stops the run with one line naming the
 * variable and what is wrong (ConfigError), never a stack trace after the fact.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MODELS_DIR, PROJECT_ROOT, type Registry } from "../models/registry/registry.js";
import { loadPromptSet } from "./prompts.js";
import { ConfigError } from "../onnx/errors.js";
import { deviceFromEnv, type DeviceRequest } from "./session.js";
import { checkJob, parseShard, type Shard } from "./shard.js";

/** The prompt set a run uses unless PROBESPEC_PROMPTS names another: the notebook's prompt first. */
const DEFAULT_PROMPTS = path.join(PROJECT_ROOT, "hypotheses", "prompts.json");

export interface RunConfig {
  /** PROBESPEC_PROMPTS, else the default set: read and checked here, once. */
  promptSet: { name: string; file: string; prompts: string[] };
  /** PROBESPEC_REPORT_DIR, when set. */
  reportDir?: string;
  /** PROBESPEC_NO_CACHE=1: probe again even where the cache holds a result. */
  noCache: boolean;
  device: DeviceRequest;
  threads: number;
  modelsDir: string;
  /** PROBESPEC_MODELS, when set. */
  models?: string[];
  /** PROBESPEC_MEASURES, when set: the measures to take (the seed's always are); every one by default. */
  measures?: string[];
  /** PROBESPEC_SHARD=i/n: probe only shard i's share of the models. */
  shard?: Shard;
  /** PROBESPEC_SHARDS=n: judge the results n shards left in the store; probe nothing. */
  judgeShards?: number;
  /** PROBESPEC_JOB: what the shards' records are filed under (Slurm's array job id); "local" by default. */
  job: string;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): RunConfig {
  const device = deviceFromEnv(env);
  let threads = os.availableParallelism?.() ?? os.cpus().length;
  if (env.PROBESPEC_THREADS !== undefined) {
    if (!/^\s*\d+\s*$/.test(env.PROBESPEC_THREADS) || Number(env.PROBESPEC_THREADS) < 1) {
      throw new ConfigError(`PROBESPEC_THREADS="${env.PROBESPEC_THREADS}" is not a whole number of threads, 1 or more`);
    }
    threads = Number(env.PROBESPEC_THREADS);
  }
  const modelsDir = env.PROBESPEC_MODELS_DIR ? path.resolve(env.PROBESPEC_MODELS_DIR) : MODELS_DIR;
  if (!fs.existsSync(modelsDir)) throw new ConfigError(`PROBESPEC_MODELS_DIR=${modelsDir} does not exist`);
  if (!fs.statSync(modelsDir).isDirectory())
    throw new ConfigError(
      `PROBESPEC_MODELS_DIR=${modelsDir} is not a folder (it should hold one .json or .ts entry per model)`,
    );
  const models = env.PROBESPEC_MODELS?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (env.PROBESPEC_MODELS !== undefined && !models?.length)
    throw new ConfigError(`PROBESPEC_MODELS="${env.PROBESPEC_MODELS}" names no model`);
  const measures = env.PROBESPEC_MEASURES?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (env.PROBESPEC_MEASURES !== undefined && !measures?.length)
    throw new ConfigError(`PROBESPEC_MEASURES="${env.PROBESPEC_MEASURES}" names no measure`);
  const shard = env.PROBESPEC_SHARD ? parseShard(env.PROBESPEC_SHARD, "PROBESPEC_SHARD") : undefined;
  let judgeShards: number | undefined;
  if (env.PROBESPEC_SHARDS !== undefined) {
    if (!/^\s*\d+\s*$/.test(env.PROBESPEC_SHARDS) || Number(env.PROBESPEC_SHARDS) < 1)
      throw new ConfigError(`PROBESPEC_SHARDS="${env.PROBESPEC_SHARDS}" is not a number of shards, 1 or more`);
    judgeShards = Number(env.PROBESPEC_SHARDS);
    if (shard)
      throw new ConfigError("PROBESPEC_SHARD (probe a share) and PROBESPEC_SHARDS (judge them all) exclude each other");
  }
  const job = checkJob(env.PROBESPEC_JOB?.trim() || "local");
  const file = env.PROBESPEC_PROMPTS ? path.resolve(env.PROBESPEC_PROMPTS) : DEFAULT_PROMPTS;
  let set;
  try {
    set = loadPromptSet(file);
  } catch (e) {
    throw new ConfigError(`${env.PROBESPEC_PROMPTS ? "PROBESPEC_PROMPTS: " : ""}${(e as Error).message}`);
  }
  return {
    promptSet: { name: set.name, file, prompts: set.prompts.map((p) => p.text) },
    reportDir: env.PROBESPEC_REPORT_DIR || undefined,
    noCache: env.PROBESPEC_NO_CACHE === "1",
    device,
    threads,
    modelsDir,
    models,
    measures,
    shard,
    judgeShards,
    job,
  };
}

/** Edit distance, for suggesting the id a typo meant. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** Every id PROBESPEC_MODELS names must be an entry (or an entry whose file failed to parse). */
export function checkModelIds(models: string[] | undefined, registry: Registry, modelsDir: string): void {
  const known = registry.entries.map((e) => e.id);
  for (const id of models ?? []) {
    if (known.includes(id) || registry.problems.some((p) => p.id === id)) continue;
    const closest = [...known].sort((a, b) => distance(id, a) - distance(id, b)).slice(0, 3);
    throw new ConfigError(
      `PROBESPEC_MODELS names "${id}", which no entry in ${modelsDir} declares${closest.length ? `; closest: ${closest.join(", ")}` : ""}`,
    );
  }
}
