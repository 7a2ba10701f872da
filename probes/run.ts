/**
 * One probe run: the registry, the selection, and each selected model probed
 * once (or read from the cache). A model that fails becomes a failure record
 * naming it and what went wrong; the others still run.
 */
import { loadRegistry, cacheRoot, type EntryProblem } from "../models/registry/registry.js";
import { readModelFolder } from "../models/registry/layout.js";
import { selectModels, type Skipped } from "../models/registry/select.js";
import { PROBES_SOURCE, cacheKey, modelIdentity, readCached, writeCached } from "./cache.js";
import { ProbeResultSchema } from "./result-schema.js";
import { readModel } from "../onnx/io.js";
import { ConfigError, ProbespecError, ShardError } from "../onnx/errors.js";
import { SEED_MEASURES, describeSource, probeModel, type ProbeOptions, type ProbeResult } from "./probe.js";
import { ortVersion, type DeviceRequest } from "./session.js";
import { checkModelIds, readConfig } from "./config.js";
import os from "node:os";
import { missingReason, ownerOf, readShardRecord, shardName, writeShardRecord, type ShardRecord } from "./shard.js";
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
  family: string;
  synthetic: boolean;
  source: string;
  domain: string;
  error: string;
}

export interface ProbeRun {
  startedAt: string;
  durationS: number;
  device: DeviceRequest;
  ortVersion: string;
  promptSet: { name: string; file: string; prompts: string[] };
  results: ProbeResult[];
  failures: ModelFailure[];
  skipped: Skipped[];
  registryProblems: EntryProblem[];
  /** The measures taken, in the registry's order. */
  measures: MeasureInfo[];
  /** Models whose results came from the cache, and how many sessions this run created. */
  cacheHits: string[];
  modelLoads: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** ONNX Runtime options on top of probespec's, for every model (the bench's memory settings). */
  ort?: ProbeOptions["ort"];
  promptSet: { name: string; file: string; prompts: string[] };
  onProgress?: (message: string) => void;
}

export async function runProbes({
  env = process.env,
  promptSet,
  onProgress = () => {},
  ort,
}: RunOptions): Promise<ProbeRun> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const { device, threads, modelsDir, models, measures: asked, shard, judgeShards, job } = readConfig(env);
  const allMeasures = await loadMeasures();
  const measures = asked ? pick(allMeasures, asked).map((m) => m.name) : undefined;
  const cacheDir = cacheRoot(env);
  const registry = await loadRegistry(modelsDir);
  checkModelIds(models, registry, modelsDir);
  for (const p of registry.problems) onProgress(`models/: ${p.error}`);
  // Shards deal the models PROBESPEC_MODELS names (else every entry) among themselves by id alone.
  const candidates = models ?? registry.entries.map((e) => e.id);
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
    log: env.PROBESPEC_SHARD_LOG,
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
  const { selected, skipped } = await selectModels(mine, {
    env,
    device: device === "auto" ? "cpu" : device,
    onProgress,
  });
  const run: ProbeRun = {
    startedAt,
    durationS: 0,
    device,
    ortVersion: ortVersion(),
    promptSet,
    results: [],
    failures: [],
    skipped,
    registryProblems: registry.problems,
    measures: allMeasures
      .filter((m) => !measures || measures.includes(m.name) || SEED_MEASURES.includes(m.name))
      .map((m) => ({
        name: m.name,
        description: m.description,
        unit: m.unit,
        weights: isWeightMeasure(m),
        figure: m.figure,
      })),
    cacheHits: [],
    modelLoads: 0,
  };
  for (const { entry, dir } of selected) {
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
      const key = cacheKey({
        probes: PROBES_SOURCE,
        model: modelIdentity(
          model.sha256,
          used.filter((f): f is string => !!f),
        ),
        entry: {
          family: entry.family,
          dtype: entry.dtype,
          probePoints: entry.probePoints,
          role: entry.role,
          synthetic: entry.synthetic,
          notes: entry.notes,
          id: entry.id,
        },
        prompts: promptSet.prompts,
        measures,
        device,
      });
      const cached = env.PROBESPEC_NO_CACHE === "1" ? undefined : readCached(cacheDir, key, ProbeResultSchema);
      if (cached) {
        onProgress(`${entry.id}: results from the cache`);
        run.results.push(cached);
        run.cacheHits.push(entry.id);
        record?.models.push({ id: entry.id, status: "cached" });
        continue;
      }
      if (judgeShards) {
        // A judge probes nothing: a model without a result is its shard's failure, named.
        const owner = { index: ownerOf(entry.id, candidates, judgeShards), count: judgeShards };
        throw new ShardError(
          entry.id,
          missingReason(entry.id, owner, readShardRecord(cacheDir, job, owner), {
            store: cacheDir,
            job,
            logs: env.PROBESPEC_SHARD_LOGS,
          }),
        );
      }
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
        provenance: { ...probed.provenance, host: os.hostname(), shard: record && { job, shard: record.shard } },
      };
      try {
        writeCached(cacheDir, key, result);
      } catch (e) {
        // A cache that cannot be written costs the next run time, not this run its results.
        onProgress(
          `${entry.id}: warning: the results cache ${cacheDir} cannot be written (${(e as Error).message}); the run goes on`,
        );
      }
      run.results.push(result);
      record?.models.push({ id: entry.id, status: "probed" });
    } catch (e) {
      const err = e as Error;
      onProgress(`${entry.id}: FAILED: ${err.message}`);
      record?.models.push({ id: entry.id, status: "failed", error: err.message });
      run.failures.push({
        id: entry.id,
        family: entry.family,
        synthetic: entry.synthetic,
        source: describeSource(entry),
        domain: e instanceof ProbespecError ? e.domain : "probing",
        error: err.message.startsWith(`model "${entry.id}"`) ? err.message : `model "${entry.id}": ${err.message}`,
      });
    }
  }
  if (shard && record) {
    for (const k of skipped) record.models.push({ id: k.id, status: "skipped", error: k.reason });
    writeShardRecord(cacheDir, shard, { ...record, finishedAt: new Date().toISOString() });
  }
  run.durationS = (performance.now() - t0) / 1000;
  return run;
}
