/**
 * The run's configuration, read from the environment and checked once, before
 * anything is probed: a bad value stops the run with one line naming the
 * variable and what is wrong (ConfigError), never a stack trace after the fact.
 * This file is the only one outside bin/ that reads process.env: every other
 * layer is handed the typed value.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_CACHE, MODELS_DIR, PROJECT_ROOT, type Registry } from "../models/registry/registry.js";
import type { SourceSettings } from "../models/registry/sources.js";
import { editDistance } from "../models/registry/schema.js";
import { DEFAULT_PROMPTS, loadPromptSet, runPrompts, type RunPrompts } from "./prompts.js";
import { ConfigError } from "../onnx/errors.js";
import { checkJob, parseShard, type Shard } from "./shard.js";

export const DEVICES = ["auto", "cuda", "webgpu", "cpu"] as const;
export type DeviceRequest = (typeof DEVICES)[number];

/** The most threads PROBESPEC_THREADS may ask ONNX Runtime for. */
export const MAX_THREADS = 1024;

export interface RunConfig extends SourceSettings {
  /** PROBESPEC_PROMPTS, else the default set: read and checked here, once. */
  promptSet: RunPrompts;
  /** PROBESPEC_REPORT_DIR, when set. */
  reportDir?: string;
  /** PROBESPEC_NO_CACHE=1: probe again even where the cache holds a result. */
  noCache: boolean;
  device: DeviceRequest;
  threads: number;
  modelsDir: string;
  /** PROBESPEC_MODELS, when set. */
  models?: string[];
  /** PROBESPEC_MEASURES, when set: the measures to take; every one by default. */
  measures?: string[];
  /** PROBESPEC_SHARD=i/n: probe only shard i's share of the models. */
  shard?: Shard;
  /** PROBESPEC_SHARDS=n: judge the results n shards left in the store; probe nothing. */
  judgeShards?: number;
  /** PROBESPEC_JOB: what the shards' records are filed under (Slurm's array job id); "local" by default. */
  job: string;
  /** PROBESPEC_SHARD_LOG: this shard's log, for its record; PROBESPEC_SHARD_LOGS: every shard's, with {i}, for a judge. */
  shardLog?: string;
  shardLogs?: string;
  /** PROBESPEC_COMPARE: an earlier results.json, to say which verdicts, measures and stamps changed since. */
  compare?: string;
}

function deviceFromEnv(env: NodeJS.ProcessEnv): DeviceRequest {
  const v = (env.PROBESPEC_DEVICE ?? "auto").toLowerCase();
  if (!(DEVICES as readonly string[]).includes(v)) {
    throw new ConfigError(`PROBESPEC_DEVICE="${env.PROBESPEC_DEVICE}" is not one of ${DEVICES.join(", ")}`);
  }
  return v as DeviceRequest;
}

/** The dynamic loader's search path (LD_LIBRARY_PATH), where WebGPU's Vulkan loader is looked for. */
export const libraryPath = (env: NodeJS.ProcessEnv = process.env) => env.LD_LIBRARY_PATH ?? "";

/** ONNX Runtime's native log level (PROBESPEC_ORT_LOG_LEVEL), read when the session module loads. */
export const ortLogLevel = (env: NodeJS.ProcessEnv = process.env) => env.PROBESPEC_ORT_LOG_LEVEL;

/** What the reporter needs of the environment: the run file the setup left, and whether to colour the terminal. */
export const reporterEnv = (env: NodeJS.ProcessEnv = process.env) => ({
  runFile: env.PROBESPEC_RUN_FILE,
  noColor: !!env.NO_COLOR,
});

/**
 * The environment a Slurm job inherits: the user's own (their PROBESPEC_* settings reach every shard), without
 * the variables that say which shard or judge a process is, with `set` on top.
 */
export function jobEnvironment(set: Record<string, string>, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { PROBESPEC_SHARD: _s, PROBESPEC_SHARDS: _n, PROBESPEC_JOB: _j, ...user } = env;
  return { ...user, ...set };
}

/** The setup hands the run to the reporter, which runs in the same process, through a file named here. */
export function setRunFile(file: string): void {
  process.env.PROBESPEC_RUN_FILE = file;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): RunConfig {
  const device = deviceFromEnv(env);
  let threads = os.availableParallelism?.() ?? os.cpus().length;
  if (env.PROBESPEC_THREADS !== undefined) {
    // ONNX Runtime takes a thread count as a 32-bit integer and refuses a larger one only when a session opens, for every
    // model; no machine has more than MAX_THREADS hardware threads to give it.
    const n = Number(env.PROBESPEC_THREADS);
    if (!/^\s*\d+\s*$/.test(env.PROBESPEC_THREADS) || n < 1 || n > MAX_THREADS) {
      throw new ConfigError(
        `PROBESPEC_THREADS="${env.PROBESPEC_THREADS}" is not a whole number of threads from 1 to ${MAX_THREADS}`,
      );
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
  let deviceMemoryGb: number | undefined;
  if (env.PROBESPEC_DEVICE_MEMORY_GB?.trim()) {
    deviceMemoryGb = Number(env.PROBESPEC_DEVICE_MEMORY_GB);
    if (!(deviceMemoryGb >= 0))
      throw new ConfigError(`PROBESPEC_DEVICE_MEMORY_GB="${env.PROBESPEC_DEVICE_MEMORY_GB}" is not a number of GB`);
  }
  const compare = env.PROBESPEC_COMPARE ? path.resolve(env.PROBESPEC_COMPARE) : undefined;
  if (compare && !fs.statSync(compare, { throwIfNoEntry: false })?.isFile())
    throw new ConfigError(
      `PROBESPEC_COMPARE=${compare} is not a file: it should name an earlier run's results.json (reports/runs/<time>/results.json)`,
    );
  const file = env.PROBESPEC_PROMPTS ? path.resolve(env.PROBESPEC_PROMPTS) : DEFAULT_PROMPTS;
  let set;
  try {
    set = loadPromptSet(file);
  } catch (e) {
    throw new ConfigError(`${env.PROBESPEC_PROMPTS ? "PROBESPEC_PROMPTS: " : ""}${(e as Error).message}`);
  }
  return {
    promptSet: runPrompts(set, file),
    reportDir: env.PROBESPEC_REPORT_DIR || undefined,
    noCache: env.PROBESPEC_NO_CACHE === "1",
    cacheDir: path.resolve(env.PROBESPEC_CACHE_DIR || DEFAULT_CACHE),
    modelsRoot: env.PROBESPEC_MODELS_ROOT ? path.resolve(env.PROBESPEC_MODELS_ROOT) : PROJECT_ROOT,
    hubCache: env.HF_HUB_CACHE ?? path.join(env.HF_HOME ?? path.join(os.homedir(), ".cache", "huggingface"), "hub"),
    offline: env.PROBESPEC_OFFLINE === "1",
    deviceMemoryGb,
    shardLog: env.PROBESPEC_SHARD_LOG,
    shardLogs: env.PROBESPEC_SHARD_LOGS,
    compare,
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

/** Every id PROBESPEC_MODELS names must be an entry (or an entry whose file failed to parse). */
export function checkModelIds(models: string[] | undefined, registry: Registry, modelsDir: string): void {
  const known = registry.entries.map((e) => e.id);
  for (const id of models ?? []) {
    if (known.includes(id) || registry.problems.some((p) => p.id === id)) continue;
    const closest = [...known].sort((a, b) => editDistance(id, a) - editDistance(id, b)).slice(0, 3);
    throw new ConfigError(
      `PROBESPEC_MODELS names "${id}", which no entry in ${modelsDir} declares${closest.length ? `; closest: ${closest.join(", ")}` : ""}`,
    );
  }
}
