/**
 * HuggingFace / Optimum / GenAI folder layouts, read as they are: config.json,
 * tokenizer files, and model.onnx at the top or under onnx/, with the variant
 * file (model_fp16.onnx, model_q4.onnx, …) chosen by dtype.
 */
import fs from "node:fs";
import path from "node:path";
import { LoadError } from "../../onnx/errors.js";
import { PARALLEL_BY_DESIGN } from "../architectures/table.js";
import { readModel } from "../../onnx/io.js";
import { readJsonFile, type ModelEntry } from "./schema.js";

const VARIANT_SUFFIX: Record<ModelEntry["dtype"], string> = {
  fp32: "",
  fp16: "_fp16",
  bf16: "_bf16",
  q4: "_q4",
  q4f16: "_q4f16",
  int8: "_int8",
  uint8: "_uint8",
  quantized: "_quantized",
};

export interface ModelFolder {
  dir: string;
  onnxFile: string;
  /** config.json, or the model section of genai_config.json where that is all there is. */
  config: Record<string, unknown>;
  configFile: string | undefined;
  genaiConfig: Record<string, any> | undefined;
  genaiConfigFile: string | undefined;
  tokenizerFile: string | undefined;
  tokenizerConfigFile: string | undefined;
}

function readJson(file: string, modelId: string): any {
  try {
    return readJsonFile(file);
  } catch (e) {
    throw new LoadError(
      modelId,
      `${path.basename(file)} in ${path.dirname(file)} is not valid JSON: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

const exists = (f: string) => fs.existsSync(f);

/** The ONNX file an entry names (a hub source's `file`), if any. */
export function entryFile(entry: { source?: ModelEntry["source"] }): string | undefined {
  return entry.source && "file" in entry.source ? entry.source.file : undefined;
}

/** Finds the ONNX file of a folder without reading it; undefined where there is none. */
export function findOnnxFile(dir: string, dtype: ModelEntry["dtype"], file?: string): string | undefined {
  if (file) return [path.join(dir, file), path.join(dir, "onnx", file)].find(exists);
  const genai = path.join(dir, "genai_config.json");
  if (exists(genai)) {
    try {
      const name = (readJsonFile(genai) as any)?.model?.decoder?.filename;
      if (typeof name === "string" && exists(path.join(dir, name))) return path.join(dir, name);
    } catch {
      // a malformed genai_config.json is reported by readModelFolder
    }
  }
  const name = `model${VARIANT_SUFFIX[dtype]}.onnx`;
  return [path.join(dir, name), path.join(dir, "onnx", name)].find(exists);
}

export function readModelFolder(
  dir: string,
  entry: Pick<ModelEntry, "id" | "dtype"> & { source?: ModelEntry["source"] },
  file = entryFile(entry),
): ModelFolder {
  if (!fs.existsSync(dir)) throw new LoadError(entry.id, `folder ${dir} does not exist`);
  const onnxFile = findOnnxFile(dir, entry.dtype, file);
  if (!onnxFile) {
    const want = file ?? `model${VARIANT_SUFFIX[entry.dtype]}.onnx`;
    // A symlink whose target is gone (an interrupted download into the HF cache) looks like a file in a listing.
    const broken = [path.join(dir, want), path.join(dir, "onnx", want)].find((f) =>
      fs.lstatSync(f, { throwIfNoEntry: false })?.isSymbolicLink(),
    );
    if (broken)
      throw new LoadError(
        entry.id,
        `${path.relative(dir, broken)} in ${dir} is a symlink to ${fs.readlinkSync(broken)}, which does not exist; the download looks incomplete`,
      );
    const onnxes = [
      ...fs.readdirSync(dir),
      ...(exists(path.join(dir, "onnx")) ? fs.readdirSync(path.join(dir, "onnx")).map((f) => `onnx/${f}`) : []),
    ].filter((f) => f.endsWith(".onnx"));
    throw new LoadError(
      entry.id,
      `no ${want} for dtype ${entry.dtype} in ${dir}${onnxes.length ? ` (found ${onnxes.join(", ")}; choose one with "dtype"${file ? "" : ` or the hub source's "file"`})` : " (no .onnx file at all)"}`,
    );
  }
  const configFile = [path.join(dir, "config.json")].find(exists);
  const genaiFile = path.join(dir, "genai_config.json");
  const genaiConfig = exists(genaiFile) ? readJson(genaiFile, entry.id) : undefined;
  const config = configFile ? readJson(configFile, entry.id) : (genaiConfig?.model ?? {});
  const tok = path.join(dir, "tokenizer.json");
  const tokCfg = path.join(dir, "tokenizer_config.json");
  return {
    dir,
    onnxFile,
    config,
    configFile,
    genaiConfig,
    genaiConfigFile: genaiConfig ? genaiFile : undefined,
    tokenizerFile: exists(tok) ? tok : undefined,
    tokenizerConfigFile: exists(tokCfg) ? tokCfg : undefined,
  };
}

/** The layer count the model declares, from config.json or genai_config.json. */
export function declaredLayers(folder: ModelFolder): number | undefined {
  const c = folder.config as Record<string, unknown>;
  const v = c.num_hidden_layers ?? c.n_layer ?? c.num_layers ?? folder.genaiConfig?.model?.decoder?.num_hidden_layers;
  return typeof v === "number" ? v : undefined;
}

/** Bytes of the ONNX file plus the external data files it names (links followed: a checkpoint's own files): the weights a pass reads. */
export function folderWeightBytes(onnxFile: string): number {
  return [onnxFile, ...readModel(onnxFile).externalFiles].reduce((n, f) => n + fs.statSync(f).size, 0);
}

/** Whether the config declares a parallel residual (GPT-NeoX's use_parallel_residual, Falcon's parallel_attn, GPT-J and Phi-1/2 by design). */
export function declaredParallel(folder: ModelFolder): boolean | undefined {
  const c = folder.config as Record<string, unknown>;
  if (typeof c.use_parallel_residual === "boolean") return c.use_parallel_residual;
  if (typeof c.parallel_attn === "boolean") return c.parallel_attn;
  if (typeof c.model_type === "string" && PARALLEL_BY_DESIGN.includes(c.model_type)) return true;
  return undefined;
}
