/**
 * Resolving entries to local folders and selecting what runs: every entry that
 * is available and fits the device's memory, as the notebook's select_models
 * did, or exactly PROBESPEC_MODELS=a,b. Each entry left out says why.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { AbsentError, RegistryError } from "./errors.js";
import { LoadError } from "../../onnx/errors.js";
import { buildAnalog, buildGguf, buildLlama2c } from "../analogs/build.js";
import { buildCheckpoint, checkpointWeights, isCheckpoint } from "../safetensors/build.js";
import { float32Weights } from "../gguf/form.js";
import { openGguf } from "../gguf/reader.js";
import { readModel } from "../../onnx/io.js";
import { entryFile, findOnnxFile } from "./layout.js";
import { describeMemory, graphWeights, type Probing, sessionMemory, shapeOf } from "./memory.js";
import { readJsonFile } from "./schema.js";
import { type Registry } from "./registry.js";
import type { ModelEntry } from "./schema.js";

export interface Resolved {
  entry: ModelEntry;
  dir: string;
  memoryGb: number;
  /** Why its weights run in the form they do, where the source had a choice (a GGUF: codes or float32). */
  weightChoice?: string;
}

export interface Skipped {
  id: string;
  family?: string;
  role?: ModelEntry["role"];
  synthetic?: boolean;
  reason: string;
}

/** A model the run selected and could not load: an error verdict for every hypothesis that needs it. */
export interface Unloadable {
  entry: ModelEntry;
  error: RegistryError;
}

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

/** A path as an entry gives it: ~/ is the home folder, a relative path lies under modelsRoot. */
export function resolvePath(p: string, modelsRoot: string): string {
  if (p.startsWith("~/")) return path.join(os.homedir(), p.slice(2));
  return path.resolve(modelsRoot, p);
}

/** A hub repository's folder in the local HuggingFace cache. */
const hubRepo = (hub: string, hubCache: string) => path.join(hubCache, `models--${hub.replace("/", "--")}`);

const ggufFiles = (s: { gguf: string | string[] }, modelsRoot: string) =>
  (typeof s.gguf === "string" ? [s.gguf] : s.gguf).map((f) => resolvePath(f, modelsRoot));

/** The folders an entry's source lies in: the user's own, which probespec never writes (a report is refused there). */
export function sourceFolders(entry: ModelEntry, { modelsRoot, hubCache }: SourceSettings): string[] {
  const s = entry.source;
  if ("dir" in s) return [resolvePath(s.dir, modelsRoot)];
  // A GGUF's folder is the one that holds it; a "file" that is a folder is its own.
  if ("gguf" in s)
    return [
      ...new Set(
        ggufFiles(s, modelsRoot).map((f) =>
          fs.statSync(f, { throwIfNoEntry: false })?.isDirectory() ? f : path.dirname(f),
        ),
      ),
    ];
  if ("llama2c" in s) return [resolvePath(s.llama2c, modelsRoot)];
  if ("hub" in s) return [hubRepo(s.hub, hubCache), ...(s.export ? [resolvePath(s.export, modelsRoot)] : [])];
  return [];
}

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
function capped(p: Probing, config: Record<string, unknown>): Probing {
  const context = [config.max_position_embeddings, config.n_positions].find((v): v is number => typeof v === "number");
  return context ? { ...p, seq: Math.min(p.seq, context) } : p;
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
  files: readonly string[],
  cache: string,
  budget: Budget,
): { float32: boolean; why: string } {
  const forced = "gguf" in entry.source ? entry.source.weights : undefined;
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

/** A local folder for the entry's source: generated, converted, found in the HF cache, or as given. */
export async function resolveSource(
  entry: ModelEntry,
  settings: SourceSettings,
  onProgress: (m: string) => void = () => {},
  budget?: Budget,
): Promise<string> {
  return (await resolveWithForm(entry, settings, onProgress, budget)).dir;
}

/** resolveSource, with why the weights take the form they do where the source gave a choice. */
async function resolveWithForm(
  entry: ModelEntry,
  settings: SourceSettings,
  onProgress: (m: string) => void,
  budget: Budget | undefined,
): Promise<{ dir: string; weightChoice?: string }> {
  const s = entry.source;
  const { cacheDir: cache, modelsRoot } = settings;
  if ("gguf" in s) {
    const files = ggufFiles(s, modelsRoot);
    const missing = files.filter((f) => !fs.existsSync(f));
    if (missing.length)
      throw new AbsentError(
        entry.id,
        `GGUF ${missing.join(", ")} ${missing.length > 1 ? "do" : "does"} not exist${entry.notes ? ` (${entry.notes})` : ""}`,
      );
    try {
      const form = ggufForm(entry, files, cache, budget ?? freeMemory(settings));
      const dir = await buildGguf(files, cache, {
        sha256: s.sha256,
        float32: form.float32,
        onProgress: (m) => onProgress(`${entry.id}: ${m}`),
      });
      return { dir, weightChoice: form.why };
    } catch (e) {
      throw new RegistryError(entry.id, `GGUF could not be converted: ${(e as Error).message}`, { cause: e });
    }
  }
  return { dir: await resolveOther(entry, s, settings, onProgress, budget) };
}

/** What a run with no budget of its own may use: the CPU's free memory, as selectModels would measure it. */
const freeMemory = (settings: SourceSettings): Budget => ({
  availableGb: deviceMemoryGb("cpu", settings.deviceMemoryGb),
  where: "machine",
});

/** Every other source: it has one form. */
async function resolveOther(
  entry: ModelEntry,
  s: Exclude<ModelEntry["source"], { gguf: unknown }>,
  settings: SourceSettings,
  onProgress: (m: string) => void,
  budget: Budget | undefined,
): Promise<string> {
  const { cacheDir: cache, modelsRoot } = settings;
  if ("analog" in s) {
    try {
      return await buildAnalog(s, cache);
    } catch (e) {
      throw new RegistryError(entry.id, `analog could not be generated: ${(e as Error).message}`, { cause: e });
    }
  }
  if ("llama2c" in s) {
    const dir = resolvePath(s.llama2c, modelsRoot);
    if (!fs.existsSync(dir))
      throw new AbsentError(entry.id, `llama2.c folder ${dir} does not exist${entry.notes ? ` (${entry.notes})` : ""}`);
    return buildLlama2c(dir, cache, s.checkpoint, s.tokenizer);
  }
  if ("hub" in s) {
    // An export the user made of the same model is theirs to prefer: it is what the entry read before the hub.
    const exported = s.export && resolvePath(s.export, modelsRoot);
    if (exported && fs.statSync(exported, { throwIfNoEntry: false })?.isDirectory())
      if (findOnnxFile(exported, entry.dtype, entryFile(entry)) || isCheckpoint(exported))
        return checkpointOr(entry, exported, settings, onProgress, budget);
    const snap = hubSnapshot(entry.id, s.hub, s.revision, settings.hubCache);
    if (snap)
      return checkpointOr(entry, s.subfolder ? path.join(snap, s.subfolder) : snap, settings, onProgress, budget);
    const download = `huggingface-cli download ${s.hub}${s.revision ? ` --revision ${s.revision}` : ""}`;
    const orExport = exported ? `, or put an ONNX export in ${exported}` : ` or point a "dir" source at an export`;
    if (settings.offline) {
      throw new AbsentError(
        entry.id,
        `hub source ${s.hub} is not in the local HuggingFace cache (${settings.hubCache}), and PROBESPEC_OFFLINE=1 forbids network use; get it with ${download}${orExport}`,
      );
    }
    throw new AbsentError(
      entry.id,
      `hub source ${s.hub} is not in the local HuggingFace cache (${settings.hubCache}); download it first (${download})${orExport}`,
    );
  }
  const dir = resolvePath(s.dir, modelsRoot);
  if (!fs.existsSync(dir))
    throw new AbsentError(entry.id, `source.dir ${dir} does not exist${entry.notes ? ` (${entry.notes})` : ""}`);
  if (!fs.statSync(dir).isDirectory())
    throw new RegistryError(
      entry.id,
      `source.dir ${dir} is a file, not a folder; point "dir" at the folder that holds the export (model.onnx or onnx/model.onnx)`,
    );
  return checkpointOr(entry, dir, settings, onProgress, budget);
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

export interface Selection {
  selected: Resolved[];
  skipped: Skipped[];
  /** Selected, and could not be loaded: never quietly skipped. */
  unloadable: Unloadable[];
}

/**
 * Every entry is resolved; one whose source is absent, or that needs more memory than the device
 * has, is skipped with the reason, unless PROBESPEC_MODELS asks for it by name: a model that was
 * asked for and cannot be probed is unloadable, as is every source that is there and broken.
 */
export async function selectModels(
  registry: Registry,
  settings: SourceSettings,
  {
    device = "cpu",
    wanted,
    onProgress,
    probing = DEFAULT_PROBING,
  }: { device?: string; wanted?: readonly string[]; onProgress?: (m: string) => void; probing?: Probing } = {},
): Promise<Selection> {
  const selection: Selection = { selected: [], skipped: [], unloadable: [] };
  const available = deviceMemoryGb(device, settings.deviceMemoryGb);
  for (const entry of registry.entries) {
    const base = { id: entry.id, family: entry.family, role: entry.role, synthetic: entry.synthetic };
    if (wanted && !wanted.includes(entry.id)) {
      selection.skipped.push({ ...base, reason: "not in PROBESPEC_MODELS" });
      continue;
    }
    const notProbed = (error: RegistryError) => {
      if (error instanceof AbsentError && !wanted) selection.skipped.push({ ...base, reason: bare(error) });
      else selection.unloadable.push({ entry, error });
    };
    let dir: string, weightChoice: string | undefined;
    try {
      ({ dir, weightChoice } = await resolveWithForm(entry, settings, onProgress ?? (() => {}), {
        availableGb: available,
        where: device === "cuda" ? "GPU" : "machine",
        probing,
      }));
    } catch (e) {
      notProbed(e instanceof RegistryError ? e : new RegistryError(entry.id, (e as Error).message, { cause: e }));
      continue;
    }
    const onnx = findOnnxFile(dir, entry.dtype, entryFile(entry));
    let memory;
    try {
      memory = onnx && !entry.memoryGb ? graphMemory(onnx, dir, probing, entry.id) : undefined;
    } catch (e) {
      // readModel's own line (a folder, a truncated file, missing external data) says what is wrong.
      const why = e instanceof LoadError ? bare(e) : `${onnx} could not be read: ${(e as Error).message}`;
      notProbed(new RegistryError(entry.id, why, { cause: e }));
      continue;
    }
    const memoryGb = entry.memoryGb ?? (memory ? memory.total / 1e9 : 0);
    if (memoryGb > available) {
      notProbed(
        new AbsentError(
          entry.id,
          `needs ${memoryGb.toFixed(1)} GB${memory ? ` (${describeMemory(memory)})` : ""}; the ${device === "cuda" ? "GPU" : "machine"} has ${available.toFixed(1)} GB free`,
        ),
      );
      continue;
    }
    selection.selected.push({ entry, dir, memoryGb, ...(weightChoice && { weightChoice }) });
  }
  return selection;
}

/** What a session of an ONNX file will hold (memory.ts): its graph's weights, and the shape config.json gives. */
function graphMemory(onnx: string, dir: string, probing: Probing, modelId: string) {
  const { proto } = readModel(onnx, modelId);
  const configFile = [path.join(path.dirname(onnx), "config.json"), path.join(dir, "config.json")].find((f) =>
    fs.existsSync(f),
  );
  const config = configFile ? (readJsonFile(configFile) as Record<string, unknown>) : {};
  return sessionMemory(graphWeights(proto), shapeOf(config), capped(probing, config));
}

/** An error's message without its model prefix, for a list already keyed by model. */
export const bare = (e: Error) => e.message.replace(/^model "[^"]*": /, "");
