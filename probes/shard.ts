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
import { z } from "zod";
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

/**
 * A job id names a folder in the store: one path segment of letters, digits, ".", "_" and "-"
 * (not "." or ".."), so that no two ids share a folder and none escapes shards/.
 */
export function checkJob(job: string): string {
  if (!/^[\w.-]+$/.test(job) || job === "." || job === "..")
    throw new ConfigError(
      `PROBESPEC_JOB="${job}" is not a job id: use letters, digits, ".", "_" and "-" (Slurm's array job id is one)`,
    );
  return job;
}

const ModelOutcomeSchema = z.object({
  id: z.string(),
  status: z.enum(["probed", "cached", "failed", "skipped"]),
  error: z.string().optional(),
  /** Where a probed or cached model's result lies in the store (results/<key>.json). */
  key: z
    .string()
    .regex(/^[0-9a-f]{32}$/, "expected a results key")
    .optional(),
  /** What the result was probed under (probespec's source, the entry, prompts, measures, device): a judge must match it. */
  runKey: z.string().optional(),
  /** The entry's own files as the shard found them: a judge serves the result only while they are unchanged. */
  files: z.array(z.object({ file: z.string(), size: z.number(), mtimeMs: z.number(), ino: z.number() })).optional(),
});
export type ModelOutcome = z.infer<typeof ModelOutcomeSchema>;

const ShardRecordSchema = z.object({
  job: z.string(),
  shard: z.string(),
  host: z.string(),
  pid: z.number(),
  log: z.string().optional(),
  startedAt: z.string(),
  /** Absent while the shard runs: a record without it belongs to a shard that never finished. */
  finishedAt: z.string().optional(),
  models: z.array(ModelOutcomeSchema),
});
export type ShardRecord = z.infer<typeof ShardRecordSchema>;

const recordFile = (store: string, job: string, s: Shard) =>
  path.join(store, "shards", job, `${s.index}-of-${s.count}.json`);

/** Written atomically (a temp file of this host and process, then a rename), as the results are. */
export function writeShardRecord(store: string, s: Shard, r: ShardRecord): void {
  const file = recordFile(store, r.job, s);
  makeDir(path.dirname(file));
  const tmp = `${file}.${os.hostname()}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(r, null, 1));
  fs.renameSync(tmp, file);
}

/** The shard's record, absent when the shard never started; one that cannot be read as a record is named. */
export function readShardRecord(store: string, job: string, s: Shard): ShardRecord | undefined {
  const file = recordFile(store, job, s);
  let raw: string;
  try {
    raw = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new Error(`shard ${shardName(s)}'s record ${file} is not valid JSON (${(e as Error).message})`);
  }
  const r = ShardRecordSchema.safeParse(value);
  if (!r.success)
    throw new Error(
      `shard ${shardName(s)}'s record ${file} is not a shard record (${r.error.issues.map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`).join("; ")})`,
    );
  return r.data;
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

export type FileIdentity = NonNullable<ModelOutcome["files"]>[number];

/** The most files of a model's folders a record names: a model is a handful; a folder of thousands is not one. */
const MAX_FILES = 4096;

/**
 * The files in a model's folders as they are now, links followed (a hub snapshot's files are links into blobs/),
 * three levels down at most: what a shard's result was probed from, by path, size, mtime and inode.
 */
export function sourceFiles(folders: readonly string[]): FileIdentity[] {
  const out: FileIdentity[] = [];
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (out.length >= MAX_FILES) return;
      const f = path.join(dir, n);
      const st = fs.statSync(f, { throwIfNoEntry: false });
      if (st?.isFile()) out.push({ file: f, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
      else if (st?.isDirectory() && depth > 0) walk(f, depth - 1);
    }
  };
  for (const d of folders) walk(d, 3);
  return out;
}

/** What changed between the files a shard probed and the files now, in words; undefined where nothing did. */
export function filesChanged(before: readonly FileIdentity[], now: readonly FileIdentity[]): string | undefined {
  const at = new Map(now.map((f) => [f.file, f]));
  for (const b of before) {
    const n = at.get(b.file);
    if (!n) return `${b.file} is gone`;
    if (n.size !== b.size) return `${b.file} changed size (${b.size} → ${n.size} bytes)`;
    if (n.mtimeMs !== b.mtimeMs || n.ino !== b.ino)
      return `${b.file} was rewritten (modified ${new Date(n.mtimeMs).toISOString()})`;
  }
  const known = new Set(before.map((f) => f.file));
  const added = now.find((f) => !known.has(f.file));
  return added && `${added.file} is new`;
}
