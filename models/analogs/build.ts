/**
 * Builds analogs (and llama2.c conversions) on demand into the cache:
 * deterministic, byte-identical for the same preset and seed, keyed by a hash of
 * everything that shapes the bytes.
 */
import fs from "node:fs";
import path from "node:path";
import { PreTrainedTokenizer } from "@huggingface/transformers";
import { analogConfig, CALIBRATION_PROMPT, type AnalogConfig, type Knobs } from "./config.js";
import { type Dialect } from "../writer/config.js";
import { emitModel } from "../writer/emit.js";
import { PRESETS, type Preset } from "./presets.js";
import { dequantizeQ4, quantizeQ4 } from "../../onnx/int4.js";
import { byteTokenizerJson, llama2cTokenizerJson, mistralTokenizerJson } from "./tokenizers.js";
import { tokenizerConfigJson } from "../writer/tokenizer.js";
import { generateWeights } from "./weights.js";
import type { ModelWeights } from "../writer/types.js";
import { hfConfig, writeModelFolder } from "../writer/folder.js";
import { genaiConfig } from "./genai.js";
import { key, reuse, sourceHash, WRITER_SOURCE } from "../writer/cache.js";
import { readLlama2c, toRotateHalf } from "./llama2c.js";

export interface AnalogRequest {
  analog: string;
  dialect?: Dialect;
  int4?: boolean;
  external?: boolean;
  seed?: number;
  knobs?: Partial<Omit<Knobs, "massive">> & { massive?: Knobs["massive"] | null };
}

/** The generator's own source, in every analog's and llama2.c conversion's key beside the writer's. */
const ANALOG_SOURCE = sourceHash(import.meta.dirname);

async function tokenizerFor(kind: AnalogConfig["tokenizer"], vocab: number, llama2cTok?: string): Promise<object> {
  if (kind === "mistral") return mistralTokenizerJson();
  if (kind === "llama2c") return llama2cTokenizerJson(llama2cTok!, vocab);
  return byteTokenizerJson(vocab);
}

/** The preset merged with a request's overrides: the full recipe of an analog. */
export function resolvePreset(req: AnalogRequest): Preset {
  const base = PRESETS[req.analog];
  if (!base) throw new Error(`unknown analog preset "${req.analog}"; known: ${Object.keys(PRESETS).join(", ")}`);
  const knobs: Partial<Knobs> = {
    ...base.knobs,
    ...req.knobs,
    massive: req.knobs?.massive === null ? undefined : (req.knobs?.massive ?? base.knobs.massive),
  };
  return {
    ...base,
    dialect: req.dialect ?? base.dialect,
    int4: req.int4 ?? base.int4,
    external: req.external ?? base.external,
    config: { ...base.config, ...(req.seed !== undefined ? { seed: req.seed } : {}) },
    knobs,
  };
}

/** Everything an analog is made of, before it is written: what buildAnalog writes and tests compare against. */
export async function generateAnalog(req: AnalogRequest) {
  const preset = resolvePreset(req);
  const tokenizer = await tokenizerFor(preset.config.tokenizer ?? "bytes", preset.config.vocab ?? 512);
  const tokenizerConfig = tokenizerConfigJson(preset.config.maxPositions ?? 128);
  const calibrationIds = new PreTrainedTokenizer(tokenizer, tokenizerConfig).encode(CALIBRATION_PROMPT) as number[];
  const config = analogConfig(preset.family, { ...preset.config, knobs: preset.knobs as Knobs, calibrationIds });
  return { preset, config, weights: generateWeights(config), tokenizer, tokenizerConfig };
}

export async function buildAnalog(req: AnalogRequest, cacheDir: string): Promise<string> {
  const preset = resolvePreset(req);
  const dir = path.join(
    cacheDir,
    "analogs",
    `${req.analog}-${preset.dialect}${preset.int4 ? "-int4" : ""}-${key({ preset, WRITER_SOURCE, ANALOG_SOURCE })}`,
  );
  if (reuse(dir)) return dir;
  const { config, weights, tokenizer, tokenizerConfig } = await generateAnalog(req);
  return write(dir, config, weights, preset.dialect, !!preset.int4, !!preset.external, tokenizer, tokenizerConfig, {
    probespec: {
      synthetic: true,
      analog: req.analog,
      description: preset.description,
      knobs: config.knobs,
      seed: config.seed,
    },
  });
}

function write(
  dir: string,
  config: AnalogConfig,
  weights: ModelWeights<Float32Array>,
  dialect: Dialect,
  int4: boolean,
  external: boolean,
  tokenizer: object,
  tokenizerConfig: object,
  extra: Record<string, unknown>,
): string {
  if (int4) {
    // The reference sees the dequantised W_U that MatMulNBits computes with.
    const q = quantizeQ4(weights.lmHead, config.vocab, config.d);
    weights = { ...weights, lmHead: dequantizeQ4(q.packed, q.scales, config.vocab, config.d, q.blockSize) };
  }
  return writeModelFolder(dir, {
    proto: emitModel(config, weights, { dialect, int4 }),
    dialect,
    external,
    config: hfConfig(config, extra),
    tokenizer,
    tokenizerConfig,
    genaiConfig: dialect === "genai" ? genaiConfig(config) : undefined,
  });
}

/** Converts a llama2.c checkpoint folder (stories260K.bin + tok512.bin) into an HF-layout ONNX folder. */
export async function buildLlama2c(
  srcDir: string,
  cacheDir: string,
  checkpoint = "stories260K.bin",
  tokenizerFile = "tok512.bin",
): Promise<string> {
  const ckpt = path.join(srcDir, checkpoint),
    tok = path.join(srcDir, tokenizerFile);
  for (const f of [ckpt, tok]) if (!fs.existsSync(f)) throw new Error(`${f} does not exist`);
  const stat = fs.statSync(ckpt);
  const dir = path.join(
    cacheDir,
    "llama2c",
    `${path.basename(checkpoint, ".bin")}-${key({ ckpt, size: stat.size, mtime: stat.mtimeMs, WRITER_SOURCE, ANALOG_SOURCE })}`,
  );
  if (reuse(dir)) return dir;
  const { config, weights } = readLlama2c(ckpt);
  const half = toRotateHalf(config, weights);
  const tokenizer = await tokenizerFor("llama2c", config.vocab, tok);
  return write(
    dir,
    half.config,
    half.weights,
    "torchscript",
    false,
    false,
    tokenizer,
    tokenizerConfigJson(config.maxPositions),
    {
      probespec: { synthetic: false, converted_from: `llama2.c ${checkpoint}` },
    },
  );
}
