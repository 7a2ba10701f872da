/**
 * Where a model comes from, one record per source kind (an ONNX export's folder, the HuggingFace cache, an analog,
 * a GGUF, a llama2.c checkpoint): where its files lie, how it becomes a local folder the probes can open
 * (generated, converted into the cache, or as given), and how a report names it. Nothing else asks which kind an
 * entry's source is.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { AbsentError, RegistryError } from "./errors.js";
import { buildAnalog, buildLlama2c } from "../analogs/build.js";
import { buildGguf } from "../gguf/build.js";
import { buildCheckpoint, checkpointWeights, isCheckpoint } from "../safetensors/build.js";
import { float32Weights } from "../gguf/form.js";
import { openGguf } from "../gguf/reader.js";
import { entryFile, findOnnxFile } from "./layout.js";
import { describeMemory, type Probing, sessionMemory } from "./memory.js";
import { readJsonFile, sourceKind, type Source, type SourceKind } from "./schema.js";
import type { ModelEntry } from "./schema.js";

/**
 * Where sources are found and built, as the run's configuration (probes/config.ts) read them
 * from the environment: selection itself reads no variable.
 */
export interface SourceSettings {
  /** What relative paths resolve against (PROBESPEC_MODELS_ROOT, else the project root). */
  modelsRoot: string;
  /** The HuggingFace hub cache (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub). */
  hubCache: string;
  /** PROBESPEC_OFFLINE=1: hub sources not in the local cache are refused. */
  offline: boolean;
  /** Where generated and converted models go (PROBESPEC_CACHE_DIR). */
  cacheDir: string;
  /** PROBESPEC_DEVICE_MEMORY_GB: the device's free memory, where it is given rather than measured. */
  deviceMemoryGb?: number;
}

/** The memory a selection has: a source that would not fit is skipped before it is converted. */
export interface Budget {
  availableGb: number;
  /** "GPU" or "machine", for the message. */
  where: string;
  /** What the sessions will run: the longest prompt, and whether attention is captured. */
  probing?: Probing;
}

/** Where the run does not say: a prompt of 512 tokens, attention captured (the default measures read it). */
export const DEFAULT_PROBING: Probing = { seq: 512, attention: true };

/** The longest prompt is never longer than the model's context: a longer one is refused when it is tokenized. */
export function capped(p: Probing, config: Record<string, unknown>): Probing {
  const context = [config.max_position_embeddings, config.n_positions].find((v): v is number => typeof v === "number");
  return context ? { ...p, seq: Math.min(p.seq, context) } : p;
}

/** Free memory of the device that would run: as given, else GPU memory under CUDA (nvidia-smi), free RAM otherwise. */
export function deviceMemoryGb(device: string, given?: number): number {
  if (given !== undefined) return given;
  if (device === "cuda") {
    try {
      const out = execFileSync("nvidia-smi", ["--query-gpu=memory.free", "--format=csv,noheader,nounits"], {
        encoding: "utf8",
        timeout: 5000,
      });
      return Number(out.split("\n")[0]) / 1024;
    } catch {
      // no nvidia-smi: fall through to RAM
    }
  }
  return os.freemem() / 1e9;
}

/** A path as an entry gives it: ~/ is the home folder, a relative path lies under modelsRoot. */
export function resolvePath(p: string, modelsRoot: string): string {
  if (p.startsWith("~/")) return path.join(os.homedir(), p.slice(2));
  return path.resolve(modelsRoot, p);
}

/** A hub repository's folder in the local HuggingFace cache. */
const hubRepo = (hub: string, hubCache: string) => path.join(hubCache, `models--${hub.replace("/", "--")}`);

const ggufFiles = (s: { gguf: string | string[] }, modelsRoot: string) =>
  (typeof s.gguf === "string" ? [s.gguf] : s.gguf).map((f) => resolvePath(f, modelsRoot));

/**
 * HF's cache layout: hub/models--org--name/{refs/<branch>, snapshots/<commit>/…}. A named
 * revision (a commit or a branch in refs/) must be there: another snapshot is never used in
 * its place. Without one, refs/main, which must be there too; without refs/main, the newest snapshot.
 */
function hubSnapshot(entryId: string, hub: string, revision: string | undefined, hubCache: string): string | undefined {
  const repo = hubRepo(hub, hubCache);
  const snaps = path.join(repo, "snapshots");
  if (!fs.existsSync(snaps)) return undefined;
  const ref = (name: string) => {
    try {
      return fs.readFileSync(path.join(repo, "refs", name), "utf8").trim();
    } catch {
      return undefined;
    }
  };
  const cached = fs.readdirSync(snaps);
  if (revision) {
    const commit = cached.includes(revision) ? revision : ref(revision);
    if (commit && cached.includes(commit)) return folder(entryId, path.join(snaps, commit));
    throw new AbsentError(
      entryId,
      `hub source ${hub} is pinned to revision "${revision}", which is not in the local HuggingFace cache (${repo}); cached: ${cached.join(", ") || "none"}`,
    );
  }
  const main = ref("main");
  if (main && cached.includes(main)) return folder(entryId, path.join(snaps, main));
  // refs/main is what the hub client last downloaded: another snapshot is older weights, never a stand-in for it.
  if (main)
    throw new RegistryError(
      entryId,
      `hub source ${hub}: refs/main names commit ${main}, which is not in ${snaps} (an interrupted download?); cached: ${cached.join(", ") || "none"}. Download it again, or pin a cached one with "revision"`,
    );
  const newest = cached
    .map((s) => path.join(snaps, s))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  return newest && folder(entryId, newest);
}

/** A snapshot is a folder: anything else in its place is a broken cache, said so. */
function folder(entryId: string, snap: string): string {
  if (!fs.statSync(snap, { throwIfNoEntry: false })?.isDirectory())
    throw new RegistryError(
      entryId,
      `hub snapshot ${snap} is not a folder; the HuggingFace cache is damaged, download it again`,
    );
  return snap;
}

/**
 * The share of free memory a float32 session may take for float32 to be chosen over a GGUF's codes: the rest is the
 * margin (the page cache, the report, the next model's load).
 */
const FLOAT32_SHARE = 0.5;

/**
 * The form a GGUF's weights run in: as the entry says; else float32, dequantised once, where its session takes at
 * most FLOAT32_SHARE of the free memory (the entry's memoryGb, where given, is that memory) and its folder fits on the
 * cache's disk, since it runs about twice as fast as the block codes (two MatMulNBits a weight for two-plane formats;
 * measured, docs/performance.md); the codes otherwise. Both are exact: the codes are checked against float32.
 */
function ggufForm(
  entry: ModelEntry,
  forced: "float32" | "codes" | undefined,
  files: readonly string[],
  cache: string,
  budget: Budget,
): { float32: boolean; why: string } {
  if (forced) return { float32: forced === "float32", why: `${forced}: the entry's "weights" says so` };
  const g = openGguf(files);
  let f32: ReturnType<typeof float32Weights>;
  try {
    f32 = float32Weights(g);
  } finally {
    g.close();
  }
  const context = [...g.metadata].find(([k]) => k.endsWith(".context_length"))?.[1];
  const probing = capped(budget.probing ?? DEFAULT_PROBING, { max_position_embeddings: context });
  const needGb = sessionMemory(f32.weights, f32.shape, probing).total / 1e9;
  const roomGb = entry.memoryGb ?? budget.availableGb;
  const diskGb = diskFreeGb(cache);
  const folderGb = f32.bytes / 1e9;
  if (needGb > FLOAT32_SHARE * roomGb)
    return {
      float32: false,
      why: `codes: float32 would take ${needGb.toFixed(1)} GB, more than ${FLOAT32_SHARE * 100}% of the ${roomGb.toFixed(1)} GB ${entry.memoryGb ? "its entry's memoryGb allows" : `the ${budget.where} has free`}`,
    };
  if (diskGb !== undefined && folderGb * 1.1 > diskGb)
    return {
      float32: false,
      why: `codes: the float32 folder (${folderGb.toFixed(1)} GB) would not fit the ${diskGb.toFixed(1)} GB free beside the cache`,
    };
  return {
    float32: true,
    why: `float32: faster than the codes, and its session (${needGb.toFixed(1)} GB) fits in ${FLOAT32_SHARE * 100}% of the ${roomGb.toFixed(1)} GB ${entry.memoryGb ? "its entry's memoryGb allows" : `the ${budget.where} has free`}`,
  };
}

/** Free bytes, in GB, on the disk that holds `dir` (or the nearest folder above it that exists). */
function diskFreeGb(dir: string): number | undefined {
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  try {
    const st = fs.statfsSync(d);
    return (st.bavail * st.bsize) / 1e9;
  } catch {
    return undefined;
  }
}

/** The files a checkpoint is read from. */
const CHECKPOINT_FILES = ["config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json"];

/** Which of `names` in `dir` are links that lead nowhere, each said in words. */
function brokenLinks(dir: string, names: readonly string[]): string[] {
  return names.flatMap((n) => {
    const f = path.join(dir, n);
    if (!fs.lstatSync(f, { throwIfNoEntry: false })?.isSymbolicLink()) return [];
    try {
      fs.statSync(f);
      return [];
    } catch (e) {
      const loop = (e as NodeJS.ErrnoException).code === "ELOOP";
      return [
        `${n} is a link ${loop ? "that loops" : `to ${fs.readlinkSync(f)}, which is gone (an interrupted download?)`}`,
      ];
    }
  });
}

/**
 * A folder with no ONNX file of the entry's and with config.json and safetensors is a HuggingFace
 * checkpoint: converted into the cache, the user's folder only read. Any other folder is as given.
 */
async function checkpointOr(
  entry: ModelEntry,
  dir: string,
  settings: SourceSettings,
  onProgress: (m: string) => void,
  budget: Budget | undefined,
): Promise<string> {
  const onnx = findOnnxFile(dir, entry.dtype, entryFile(entry));
  // A checkpoint's own files behind links that lead nowhere (a hub download cut short, a link loop) are a broken
  // checkpoint to name, not a folder with no export in it.
  // (A link of an ONNX export's that leads nowhere is named where the export is read.)
  const weights = fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors"));
  const broken = onnx ? [] : brokenLinks(dir, [...new Set([...CHECKPOINT_FILES, ...weights])]);
  if (broken.length) throw new RegistryError(entry.id, `${dir}: ${broken.join("; ")}; download it again`);
  if (onnx || !isCheckpoint(dir)) return dir;
  if (entry.dtype !== "fp32")
    throw new RegistryError(
      entry.id,
      `${dir} is a HuggingFace checkpoint, converted to one graph that computes in float32 (float16 and bfloat16 matrices kept at 16 bits), and "dtype": "${entry.dtype}" names an ONNX variant it will not have; leave "dtype" out`,
    );
  try {
    // What the session will hold (memory.ts), from the headers, before anything is converted.
    if (budget) {
      const { weights, shape } = checkpointWeights(dir);
      const probing = capped(
        budget.probing ?? DEFAULT_PROBING,
        readJsonFile(path.join(dir, "config.json")) as Record<string, unknown>,
      );
      const m = sessionMemory(weights, shape, probing);
      const needGb = entry.memoryGb ?? m.total / 1e9;
      if (needGb > budget.availableGb)
        throw new AbsentError(
          entry.id,
          `needs ${needGb.toFixed(1)} GB (${entry.memoryGb ? "its entry's memoryGb" : describeMemory(m)}); the ${budget.where} has ${budget.availableGb.toFixed(1)} GB free`,
        );
    }
    return await buildCheckpoint(dir, settings.cacheDir, (m) => onProgress(`${entry.id}: ${m}`));
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    throw new RegistryError(entry.id, `checkpoint could not be converted: ${(e as Error).message}`, { cause: e });
  }
}

type Progress = (m: string) => void;
/** A local folder the probes can open, with why its weights take the form they do where the kind gave a choice. */
type Found = { dir: string; weightChoice?: string };

interface SourceKindRecord<S> {
  /** The folders its files lie in: the user's own, which probespec never writes (a report is refused there). */
  folders(s: S, settings: SourceSettings): string[];
  /** Generated on demand, so never absent. */
  generated?: true;
  resolve(entry: ModelEntry, s: S, settings: SourceSettings, onProgress: Progress, budget?: Budget): Promise<Found>;
  /** How a report and `probespec models` name it. */
  describe(s: S): string;
  /** The command that fetches it where it is absent, where there is one (the entry's notes say it otherwise). */
  fetch?(s: S): string;
}

const absent = (entry: ModelEntry, what: string) =>
  new AbsentError(entry.id, `${what}${entry.notes ? ` (${entry.notes})` : ""}`);

/** What a run with no budget of its own may use: the CPU's free memory, as selectModels would measure it. */
const freeMemory = (settings: SourceSettings): Budget => ({
  availableGb: deviceMemoryGb("cpu", settings.deviceMemoryGb),
  where: "machine",
});

const SOURCES: { [K in SourceKind]: SourceKindRecord<Extract<Source, Record<K, unknown>>> } = {
  dir: {
    folders: (s, { modelsRoot }) => [resolvePath(s.dir, modelsRoot)],
    async resolve(entry, s, settings, onProgress, budget) {
      const dir = resolvePath(s.dir, settings.modelsRoot);
      if (!fs.existsSync(dir)) throw absent(entry, `source.dir ${dir} does not exist`);
      if (!fs.statSync(dir).isDirectory())
        throw new RegistryError(
          entry.id,
          `source.dir ${dir} is a file, not a folder; point "dir" at the folder that holds the export (model.onnx or onnx/model.onnx)`,
        );
      return { dir: await checkpointOr(entry, dir, settings, onProgress, budget) };
    },
    describe: (s) => `dir ${s.dir}`,
  },
  hub: {
    folders: (s, { modelsRoot, hubCache }) => [
      hubRepo(s.hub, hubCache),
      ...(s.export ? [resolvePath(s.export, modelsRoot)] : []),
    ],
    async resolve(entry, s, settings, onProgress, budget) {
      // An export the user made of the same model is theirs to prefer: it is what the entry read before the hub.
      const exported = s.export && resolvePath(s.export, settings.modelsRoot);
      if (exported && fs.statSync(exported, { throwIfNoEntry: false })?.isDirectory())
        if (findOnnxFile(exported, entry.dtype, entryFile(entry)) || isCheckpoint(exported))
          return { dir: await checkpointOr(entry, exported, settings, onProgress, budget) };
      const snap = hubSnapshot(entry.id, s.hub, s.revision, settings.hubCache);
      if (snap) {
        const dir = s.subfolder ? path.join(snap, s.subfolder) : snap;
        return { dir: await checkpointOr(entry, dir, settings, onProgress, budget) };
      }
      const download = SOURCES.hub.fetch!(s);
      const orExport = exported ? `, or put an ONNX export in ${exported}` : ` or point a "dir" source at an export`;
      throw new AbsentError(
        entry.id,
        settings.offline
          ? `hub source ${s.hub} is not in the local HuggingFace cache (${settings.hubCache}), and PROBESPEC_OFFLINE=1 forbids network use; get it with ${download}${orExport}`
          : `hub source ${s.hub} is not in the local HuggingFace cache (${settings.hubCache}); download it first (${download})${orExport}`,
      );
    },
    describe: (s) => `hub ${s.hub}${s.revision ? `@${s.revision}` : ""}`,
    fetch: (s) => `huggingface-cli download ${s.hub}${s.revision ? ` --revision ${s.revision}` : ""}`,
  },
  analog: {
    folders: () => [],
    generated: true,
    async resolve(entry, s, { cacheDir }) {
      try {
        return { dir: await buildAnalog(s, cacheDir) };
      } catch (e) {
        throw new RegistryError(entry.id, `analog could not be generated: ${(e as Error).message}`, { cause: e });
      }
    },
    describe: (s) => `analog ${s.analog}${s.dialect ? ` (${s.dialect})` : ""}`,
  },
  gguf: {
    // A GGUF's folder is the one that holds it; a "file" that is a folder is its own.
    folders: (s, { modelsRoot }) => [
      ...new Set(
        ggufFiles(s, modelsRoot).map((f) =>
          fs.statSync(f, { throwIfNoEntry: false })?.isDirectory() ? f : path.dirname(f),
        ),
      ),
    ],
    async resolve(entry, s, settings, onProgress, budget) {
      const files = ggufFiles(s, settings.modelsRoot);
      const missing = files.filter((f) => !fs.existsSync(f));
      if (missing.length)
        throw absent(entry, `GGUF ${missing.join(", ")} ${missing.length > 1 ? "do" : "does"} not exist`);
      try {
        const form = ggufForm(entry, s.weights, files, settings.cacheDir, budget ?? freeMemory(settings));
        const dir = await buildGguf(files, settings.cacheDir, {
          sha256: s.sha256,
          float32: form.float32,
          onProgress: (m) => onProgress(`${entry.id}: ${m}`),
        });
        return { dir, weightChoice: form.why };
      } catch (e) {
        throw new RegistryError(entry.id, `GGUF could not be converted: ${(e as Error).message}`, { cause: e });
      }
    },
    describe: (s) => `GGUF ${([] as string[]).concat(s.gguf).join(" + ")}`,
  },
  llama2c: {
    folders: (s, { modelsRoot }) => [resolvePath(s.llama2c, modelsRoot)],
    async resolve(entry, s, { modelsRoot, cacheDir }) {
      const dir = resolvePath(s.llama2c, modelsRoot);
      if (!fs.existsSync(dir)) throw absent(entry, `llama2.c folder ${dir} does not exist`);
      return { dir: await buildLlama2c(dir, cacheDir, s.checkpoint, s.tokenizer) };
    },
    describe: (s) => `llama2.c ${s.llama2c}`,
  },
};

/** The record of an entry's source kind, typed for its source. */
function recordOf(entry: ModelEntry): { record: SourceKindRecord<Source>; s: Source } {
  return { record: SOURCES[sourceKind(entry.source)] as SourceKindRecord<Source>, s: entry.source };
}

export function sourceFolders(entry: ModelEntry, settings: SourceSettings): string[] {
  const { record, s } = recordOf(entry);
  return record.folders(s, settings);
}

/** Made on demand (an analog): never absent, never the user's files. */
export const isGenerated = (entry: ModelEntry) => !!recordOf(entry).record.generated;

/** The command that fetches an absent source, where its kind has one. */
export function fetchCommand(entry: ModelEntry): string | undefined {
  const { record, s } = recordOf(entry);
  return record.fetch?.(s);
}

export function describeSource(entry: ModelEntry): string {
  const { record, s } = recordOf(entry);
  return record.describe(s);
}

/** A local folder for the entry's source, with why its weights take their form where the source gave a choice. */
export function resolveWithForm(
  entry: ModelEntry,
  settings: SourceSettings,
  onProgress: Progress = () => {},
  budget?: Budget,
): Promise<Found> {
  const { record, s } = recordOf(entry);
  return record.resolve(entry, s, settings, onProgress, budget);
}

/** A local folder for the entry's source: generated, converted, found in the HF cache, or as given. */
export async function resolveSource(
  entry: ModelEntry,
  settings: SourceSettings,
  onProgress: Progress = () => {},
  budget?: Budget,
): Promise<string> {
  return (await resolveWithForm(entry, settings, onProgress, budget)).dir;
}
