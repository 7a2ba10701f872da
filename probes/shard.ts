/**
 * Probing past one machine: shard i of n probes its share of the models into the
 * results store (PROBESPEC_CACHE_DIR on a shared filesystem), and a judge run
 * reads them back without probing. The share depends on the entries' ids alone,
 * never on the host. Each shard leaves a record in the store (started, then
 * finished), so the judge can say of a missing model which shard owed it, whether
 * that shard ran, and where its log is.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "../onnx/errors.js";
import { makeDir } from "../onnx/io.js";

export interface Shard {
  /** 1-based, as Slurm numbers array tasks. */
  index: number;
  count: number;
}

export const shardName = (s: Shard) => `${s.index}/${s.count}`;

/** "i/n" with 1 ≤ i ≤ n. */
export function parseShard(text: string, from: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(count >= 1 && index >= 1 && index <= count))
    throw new ConfigError(`${from}="${text}" is not a shard i/n with 1 ≤ i ≤ n (e.g. 2/8)`);
  return { index, count };
}

/** The shard (1-based) that owes a model: the ids in sorted order, dealt round-robin, so shards differ by one model at most. */
export function ownerOf(id: string, candidates: readonly string[], count: number): number {
  const sorted = [...new Set(candidates)].sort();
  const at = sorted.indexOf(id);
  if (at < 0) throw new Error(`"${id}" is not among the sharded models`);
  return (at % count) + 1;
}

export interface ModelOutcome {
  id: string;
  status: "probed" | "cached" | "failed" | "skipped";
  error?: string;
}

export interface ShardRecord {
  job: string;
  shard: string;
  host: string;
  pid: number;
  log?: string;
  startedAt: string;
  /** Absent while the shard runs: a record without it belongs to a shard that never finished. */
  finishedAt?: string;
  models: ModelOutcome[];
}

const recordFile = (store: string, job: string, s: Shard) =>
  path.join(store, "shards", job.replace(/[^\w.-]/g, "_"), `${s.index}-of-${s.count}.json`);

/** Written atomically (a temp file of this host and process, then a rename), as the results are. */
export function writeShardRecord(store: string, s: Shard, r: ShardRecord): void {
  const file = recordFile(store, r.job, s);
  makeDir(path.dirname(file));
  const tmp = `${file}.${os.hostname()}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(r, null, 1));
  fs.renameSync(tmp, file);
}

export function readShardRecord(store: string, job: string, s: Shard): ShardRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(recordFile(store, job, s), "utf8")) as ShardRecord;
  } catch {
    return undefined;
  }
}

/**
 * Why a model has no result in the store: which shard owed it, what its record says,
 * and its log (from the record, else from PROBESPEC_SHARD_LOGS with {i} for the shard).
 */
export function missingReason(
  id: string,
  owner: Shard,
  record: ShardRecord | undefined,
  { store, job, logs }: { store: string; job: string; logs?: string },
): string {
  const log = record?.log ?? logs?.replace(/\{i\}/g, String(owner.index));
  const where = log ? `; its log: ${log}` : "";
  const name = `shard ${shardName(owner)} of job ${job}`;
  if (!record)
    return `no result in the store ${store}: ${name} never ran (no record in ${path.dirname(recordFile(store, job, owner))})${where}`;
  if (!record.finishedAt)
    return `no result in the store: ${name} started on ${record.host} at ${record.startedAt} and never finished (cancelled, killed or out of time)${where}`;
  const outcome = record.models.find((m) => m.id === id);
  if (outcome?.status === "failed") return `${name} on ${record.host} failed on it: ${outcome.error}${where}`;
  if (outcome?.status === "skipped") return `${name} on ${record.host} skipped it: ${outcome.error}${where}`;
  return `no result in the store: ${name} finished on ${record.host} without it (another configuration: models, prompts or device?)${where}`;
}
