/**
 * Resolving entries to local folders and selecting what runs: every entry that
 * is available and fits the device's memory, as the notebook's select_models
 * did, or exactly PROBESPEC_MODELS=a,b. Each entry left out says why.
 */
import fs from "node:fs";
import path from "node:path";
import { AbsentError, RegistryError } from "./errors.js";
import { LoadError } from "../../onnx/errors.js";
import { readModel } from "../../onnx/io.js";
import { entryFile, findOnnxFile } from "./layout.js";
import { describeMemory, graphWeights, type Probing, sessionMemory, shapeOf } from "./memory.js";
import { capped, DEFAULT_PROBING, deviceMemoryGb, resolveWithForm, type SourceSettings } from "./sources.js";
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
