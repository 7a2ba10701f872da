/**
 * The registry: every `models/<id>.json` or `models/<id>.ts` file is one entry.
 * A bad file is a problem named with its file and field; the other entries load.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ModelEntrySchema, formatZodError, readJsonFile, type ModelEntry } from "./schema.js";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MODELS_DIR = path.join(PROJECT_ROOT, "models");

/** Where generated models, edited graphs and probe results live unless PROBESPEC_CACHE_DIR says; never inside a user's model folder. */
export const DEFAULT_CACHE = path.join(PROJECT_ROOT, ".probespec-cache");

export interface EntryProblem {
  file: string;
  id: string;
  error: string;
}

export interface Registry {
  entries: ModelEntry[];
  /** id → the file that declared it */
  files: Map<string, string>;
  problems: EntryProblem[];
}

async function readEntryFile(file: string): Promise<unknown> {
  if (file.endsWith(".json")) return readJsonFile(file);
  const mod = await import(pathToFileURL(file).href);
  return mod.default;
}

export function parseEntry(value: unknown, file: string): ModelEntry {
  const r = ModelEntrySchema.safeParse(value);
  if (!r.success) {
    // The declared id is shown only where it is a valid one: an id carrying escape sequences is never printed.
    const declared = ModelEntrySchema.shape.id.safeParse((value as { id?: unknown } | null)?.id);
    const id = declared.success ? ` (id "${declared.data}")` : "";
    throw new Error(`${path.basename(file)}${id}: ${formatZodError(r.error, Object.keys(ModelEntrySchema.shape))}`);
  }
  return r.data;
}

/**
 * The id a broken entry answers to, so that PROBESPEC_MODELS can name it and its hypotheses get an
 * error verdict: the id it declares where that is a valid id, else its file's name.
 */
function problemId(value: unknown, name: string): string {
  const valid = ModelEntrySchema.shape.id.safeParse((value as { id?: unknown } | null)?.id);
  return valid.success ? valid.data : name.replace(/\.(json|ts)$/, "");
}

/** Loads every entry file directly in `dir`; code lives in its subfolders. */
export async function loadRegistry(dir: string = MODELS_DIR): Promise<Registry> {
  const entries: ModelEntry[] = [];
  const files = new Map<string, string>();
  const problems: EntryProblem[] = [];
  const names = fs
    .readdirSync(dir)
    .filter(
      (f) =>
        (f.endsWith(".json") || (f.endsWith(".ts") && !f.endsWith(".d.ts"))) && fs.statSync(path.join(dir, f)).isFile(),
    )
    .sort();
  for (const name of names) {
    const file = path.join(dir, name);
    let value: unknown;
    try {
      value = await readEntryFile(file);
      const entry = parseEntry(value, file);
      const prior = files.get(entry.id);
      if (prior) {
        problems.push({
          file,
          id: entry.id,
          error: `${name}: duplicate id "${entry.id}", already declared by ${path.basename(prior)}`,
        });
        continue;
      }
      entries.push(entry);
      files.set(entry.id, file);
    } catch (e) {
      const message = (e as Error).message;
      // A .ts entry that throws says only what it threw: the file's name comes first, as for every entry problem.
      problems.push({
        file,
        id: problemId(value, name),
        error:
          e instanceof SyntaxError && name.endsWith(".json")
            ? `${name}: not valid JSON: ${message}`
            : message.startsWith(name)
              ? message
              : `${name}: ${message}`,
      });
    }
  }
  return { entries, files, problems };
}
