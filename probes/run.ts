/**
 * One probe run: the registry, the selection, and each selected model probed
 * once (or read from the cache). A model that fails becomes a failure record
 * naming it and what went wrong; the others still run.
 */
import { loadRegistry, type EntryProblem } from "../models/registry/registry.js";
import { readModelFolder } from "../models/registry/layout.js";
import { selectModels, type Skipped } from "../models/registry/select.js";
import { sourceFolders } from "../models/registry/sources.js";
import { tokenBound } from "../models/registry/memory.js";
import { PROBES_SOURCE, cacheKey, cachedFile, modelIdentity, readCached, writeCached } from "./cache.js";
import { ProbeResultSchema } from "./result-schema.js";
import { modelFolderHolding, readModel } from "../onnx/io.js";
import { ShardError } from "./errors.js";
import { ConfigError, ProbespecError } from "../onnx/errors.js";
import { probeModel, type ProbeOptions, type ProbeResult } from "./probe.js";
import { describeSource } from "../models/registry/sources.js";
import { ortVersion, resolveProvider, type DeviceRequest } from "./session.js";
import { checkModelIds, readConfig, type RunConfig } from "./config.js";
import os from "node:os";
import {
  filesChanged,
  missingReason,
  ownerOf,
  sourceFiles,
  readShardRecord,
  shardName,
  writeShardRecord,
  type FileIdentity,
  type Shard,
  type ShardRecord,
} from "./shard.js";
import type { ModelEntry } from "../models/registry/schema.js";
import type { RunPrompts } from "./prompts.js";
import { loadMeasures, pick } from "./measures/registry.js";
import { isWeightMeasure, type Drawing } from "./measures/measure.js";

/** A measure as the report shows it: what it is, and how to draw it. */
export interface MeasureInfo {
  name: string;
  description: string;
  unit: string;
  /** Read from the weights, not from prompts. */
  weights: boolean;
  figure?: Drawing;
}

export interface ModelFailure {
  id: string;
  /** Absent where the entry's own file could not be read. */
  family?: string;
  role?: ModelEntry["role"];
  synthetic: boolean;
  source: string;
  domain: string;
  error: string;
}

export interface ProbeRun {
  /** Where the report goes (PROBESPEC_REPORT_DIR), when not reports/runs/<time>/. */
  reportDir?: string;
  startedAt: string;
  durationS: number;
  device: DeviceRequest;
  ortVersion: string;
  promptSet: RunPrompts;
  results: ProbeResult[];
  failures: ModelFailure[];
  skipped: Skipped[];
  registryProblems: EntryProblem[];
  /** The measures taken, in the registry's order. */
  measures: MeasureInfo[];
  /** Models whose results came from the cache, and how many sessions this run created. */
  cacheHits: string[];
  modelLoads: number;
  /** Each model's results cache key (its content, the prompts, the measures, probespec's source): the preregistration stamp names it. */
  keys: Record<string, string>;
}

export interface RunOptions {
  /** The environment the configuration is read from (the process's by default), unless `config` is given. */
  env?: NodeJS.ProcessEnv;
  /** The run's configuration, where the caller has read it already (it is read once a run). */
  config?: RunConfig;
  /** ONNX Runtime options on top of probespec's, for every model (the bench's memory settings). */
  ort?: ProbeOptions["ort"];
  /** The prompts; the configuration's (PROBESPEC_PROMPTS, else the default set) where not given. */
  promptSet?: RunPrompts;
  onProgress?: (message: string) => void;
}

export async function runProbes({
  env,
  config = readConfig(env),
  promptSet = config.promptSet,
  onProgress = () => {},
  ort,
}: RunOptions): Promise<ProbeRun> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const { device, threads, modelsDir, models, measures: asked, shard, judgeShards, job, noCache } = config;
  const allMeasures = await loadMeasures();
  const measures = asked ? pick(allMeasures, asked).map((m) => m.name) : undefined;
  const { cacheDir } = config;
  const registry = await loadRegistry(modelsDir);
  checkModelIds(models, registry, modelsDir);
  // The cache prunes and replaces what it holds: inside a model's folder, that would be the user's own files.
  const holder = modelFolderHolding(
    cacheDir,
    registry.entries.flatMap((e) => sourceFolders(e, config).map((dir) => ({ id: e.id, dir }))),
  );
  if (holder)
    throw new ConfigError(
      `PROBESPEC_CACHE_DIR=${cacheDir} lies inside the folder of model "${holder.id}" (${holder.dir}); probespec never writes into a model's folder, so choose another`,
    );
  for (const p of registry.problems) onProgress(`models/: ${p.error}`);
  // Shards deal the models PROBESPEC_MODELS names (else every entry) among themselves by id alone.
  const candidates = models ?? registry.entries.map((e) => e.id);
  const run: ProbeRun = {
    reportDir: config.reportDir,
    startedAt,
    durationS: 0,
    device,
    ortVersion: ortVersion(),
    promptSet,
    results: [],
    failures: [],
    skipped: [],
    // An entry that could not be read and was not asked for by id entered no cohort: the run names it and goes on.
    registryProblems: registry.problems.filter((p) => !models?.includes(p.id)),
    measures: allMeasures
      .filter((m) => !measures || measures.includes(m.name))
      .map((m) => ({
        name: m.name,
        description: m.description,
        unit: m.unit,
        weights: isWeightMeasure(m),
        figure: m.figure,
      })),
    cacheHits: [],
    modelLoads: 0,
    keys: {},
  };
  const fail = (entry: ModelEntry, e: unknown) => {
    const err = e as Error;
    onProgress(`${entry.id}: FAILED: ${err.message}`);
    run.failures.push({
      id: entry.id,
      family: entry.family,
      role: entry.role,
      synthetic: entry.synthetic,
      source: describeSource(entry),
      domain: e instanceof ProbespecError ? e.domain : "probing",
      error: err.message.startsWith(`model "${entry.id}"`) ? err.message : `model "${entry.id}": ${err.message}`,
    });
  };
  // A broken entry that PROBESPEC_MODELS names is a model the run was asked to probe: an error for its cohort (a shard
  // leaves it to the judge).
  if (!shard)
    for (const p of registry.problems.filter((p) => models?.includes(p.id)))
      run.failures.push({
        id: p.id,
        synthetic: false,
        source: p.file,
        domain: "registry",
        error: `model "${p.id}": ${p.error}`,
      });
  /**
   * What a model's results depend on besides its files: probespec's source, the entry, the prompts and measures.
   * Not the device asked for: the cache key adds the provider that runs, and each result names its own.
   */
  const runKeyOf = (entry: ModelEntry) =>
    cacheKey({
      probes: PROBES_SOURCE,
      entry: {
        family: entry.family,
        dtype: entry.dtype,
        probePoints: entry.probePoints,
        role: entry.role,
        synthetic: entry.synthetic,
        notes: entry.notes,
        training: entry.training,
        id: entry.id,
      },
      prompts: promptSet.prompts,
      measures,
    });

  /** The entry's own files now: a shard records them, and its judge checks them again. */
  const filesOf = (entry: ModelEntry) => sourceFiles(sourceFolders(entry, config));

  if (judgeShards) {
    // A judge probes nothing and resolves no source: each model's result is where its shard's record says.
    for (const entry of registry.entries.filter((e) => candidates.includes(e.id))) {
      const owner = { index: ownerOf(entry.id, candidates, judgeShards), count: judgeShards };
      try {
        const got = fromStore(entry, owner, runKeyOf(entry), {
          cacheDir,
          job,
          logs: config.shardLogs,
          files: filesOf(entry),
        });
        if ("skipped" in got)
          run.skipped.push({
            id: entry.id,
            family: entry.family,
            role: entry.role,
            synthetic: entry.synthetic,
            reason: got.skipped,
          });
        else {
          run.results.push(got.result);
          run.cacheHits.push(entry.id);
          run.keys[entry.id] = got.key;
        }
      } catch (e) {
        fail(entry, e instanceof ShardError ? e : new ShardError(entry.id, (e as Error).message));
      }
    }
    run.durationS = (performance.now() - t0) / 1000;
    return run;
  }

  const mine = shard
    ? {
        ...registry,
        entries: registry.entries.filter(
          (e) => candidates.includes(e.id) && ownerOf(e.id, candidates, shard.count) === shard.index,
        ),
      }
    : registry;
  const record: ShardRecord | undefined = shard && {
    job,
    shard: shardName(shard),
    host: os.hostname(),
    pid: process.pid,
    log: config.shardLog,
    startedAt,
    models: [],
  };
  if (shard && record) {
    try {
      writeShardRecord(cacheDir, shard, record);
    } catch (e) {
      throw new ConfigError(
        `the results store ${cacheDir} (PROBESPEC_CACHE_DIR) cannot be written, and shard ${record.shard} files its results and record there: ${(e as Error).message}`,
      );
    }
    onProgress(
      `shard ${record.shard} of job ${job} on ${record.host}: ${mine.entries.map((e) => e.id).join(", ") || "no models"}`,
    );
  }
  const { selected, skipped, unloadable } = await selectModels(mine, config, {
    device: device === "auto" ? "cpu" : device,
    wanted: models,
    onProgress,
    // What the sessions will hold depends on the longest prompt, and on whether a measure captures the attention.
    probing: {
      seq: Math.max(0, ...promptSet.prompts.map(tokenBound)),
      attention: (measures ?? allMeasures.map((m) => m.name)).some((m) => m.startsWith("pattern.")),
    },
  });
  run.skipped = skipped;
  for (const { entry, error } of unloadable) {
    fail(entry, error);
    record?.models.push({ id: entry.id, status: "failed", error: error.message });
  }
  // The provider that will run, in every cache key: a result probed on WebGPU is never served to a CPU run.
  const provider = selected.length ? await resolveProvider(device) : undefined;
  for (const { entry, dir, weightChoice } of selected) {
    // Why the weights run as they do is this run's choice (it depends on the memory free now), not the cached probe's.
    const chosen = weightChoice ? { weightChoice } : {};
    try {
      const folder = readModelFolder(dir, entry);
      const model = readModel(folder.onnxFile, entry.id);
      const used = [
        ...model.externalFiles,
        folder.configFile,
        folder.genaiConfigFile,
        folder.tokenizerFile,
        folder.tokenizerConfigFile,
      ];
      const runKey = runKeyOf(entry);
      const key = cacheKey({
        runKey,
        provider,
        model: modelIdentity(
          model.sha256,
          used.filter((f): f is string => !!f),
        ),
      });
      const cached = noCache ? undefined : readCached(cacheDir, key, ProbeResultSchema);
      const problem = !cached
        ? undefined
        : "problem" in cached
          ? cached.problem
          : cached.value.id !== entry.id
            ? `${cachedFile(cacheDir, key)} holds the results of model "${cached.value.id}"`
            : cached.value.execution.provider !== provider
              ? `${cachedFile(cacheDir, key)} was probed on ${cached.value.execution.provider}, not ${provider}`
              : undefined;
      if (cached && "value" in cached && !problem) {
        onProgress(`${entry.id}: results from the cache`);
        run.results.push({ ...cached.value, ...chosen });
        run.cacheHits.push(entry.id);
        run.keys[entry.id] = key;
        record?.models.push({ id: entry.id, status: "cached", key, runKey, files: filesOf(entry) });
        continue;
      }
      if (problem) onProgress(`${entry.id}: the cached result cannot be trusted (${problem}); probing again`);
      run.modelLoads++;
      const probed = await probeModel(entry, dir, promptSet.prompts, {
        device,
        threads,
        onProgress,
        model,
        measures,
        ort,
      });
      const result = {
        ...probed,
        ...chosen,
        provenance: { ...probed.provenance, host: os.hostname(), shard: record && { job, shard: record.shard } },
      };
      try {
        // A model auto sent elsewhere than the run's provider (its session failed there) is not filed under it.
        if (result.execution.provider === provider) writeCached(cacheDir, key, result);
      } catch (e) {
        // A cache that cannot be written costs the next run time, not this run its results (a shard's judge, though, will miss them).
        onProgress(
          `${entry.id}: warning: the results cache ${cacheDir} cannot be written (${(e as Error).message}); the run goes on`,
        );
      }
      run.results.push(result);
      run.keys[entry.id] = key;
      record?.models.push({ id: entry.id, status: "probed", key, runKey, files: filesOf(entry) });
    } catch (e) {
      fail(entry, e);
      record?.models.push({ id: entry.id, status: "failed", error: (e as Error).message });
    }
  }
  if (shard && record) {
    for (const k of skipped) record.models.push({ id: k.id, status: "skipped", error: k.reason });
    writeShardRecord(cacheDir, shard, { ...record, finishedAt: new Date().toISOString() });
  }
  run.durationS = (performance.now() - t0) / 1000;
  return run;
}

/**
 * A judged model's result, from the store: where its shard's record files it, probed under this
 * judge's configuration, whole, and that model's own. Anything else is a ShardError naming the
 * shard, the file and what is wrong; a model the shard skipped is skipped here for the same reason.
 */
function fromStore(
  entry: ModelEntry,
  owner: Shard,
  runKey: string,
  { cacheDir, job, logs, files }: { cacheDir: string; job: string; logs?: string; files: FileIdentity[] },
): { result: ProbeResult; key: string } | { skipped: string } {
  const id = entry.id;
  const name = `shard ${shardName(owner)} of job ${job}`;
  const record = readShardRecord(cacheDir, job, owner);
  const outcome = record?.models.find((m) => m.id === id);
  if (outcome?.status === "skipped") return { skipped: `${name} skipped it: ${outcome.error}` };
  if (!outcome?.key) throw new ShardError(id, missingReason(id, owner, record, { store: cacheDir, job, logs }));
  if (outcome.runKey !== runKey)
    throw new ShardError(
      id,
      `${name} probed it under another configuration than this judge's (probespec's source, the entry, the prompts or the measures differ); judge with the shards' own, or probe again`,
    );
  // Weights rewritten since the shard probed them: its numbers are of other weights.
  const changed = outcome.files && filesChanged(outcome.files, files);
  if (changed)
    throw new ShardError(id, `${name} probed it from files that have changed since: ${changed}; probe it again`);
  const file = cachedFile(cacheDir, outcome.key);
  const cached = readCached(cacheDir, outcome.key, ProbeResultSchema);
  if (!cached) throw new ShardError(id, `${name} filed its result as ${file}, which is not in the store`);
  if ("problem" in cached)
    throw new ShardError(id, `${cached.problem}; ${name}'s result cannot be judged: probe it again`);
  if (cached.value.id !== id)
    throw new ShardError(
      id,
      `${file}, where ${name} filed its result, holds the results of model "${cached.value.id}"`,
    );
  return { result: cached.value, key: outcome.key };
}
