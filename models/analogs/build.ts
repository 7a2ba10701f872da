/**
 * Builds analogs (and llama2.c conversions) on demand into the cache:
 * deterministic, byte-identical for the same preset and seed, keyed by a hash of
 * everything that shapes the bytes.
 */
import fs from "node:fs";
import path from "node:path";
import { PreTrainedTokenizer } from "@huggingface/transformers";
import { analogConfig, CALIBRATION_PROMPT, type AnalogConfig, type Dialect, type Knobs } from "./config.js";
import { emitAnalog } from "../writer/emit.js";
import { PRESETS, type Preset } from "./presets.js";
import { dequantizeQ4, quantizeQ4 } from "../../onnx/int4.js";
import { byteTokenizerJson, llama2cTokenizerJson, mistralTokenizerJson, tokenizerConfigJson } from "./tokenizers.js";
import { generateWeights } from "./weights.js";
import type { AnalogWeights } from "../writer/types.js";
import { hfConfig, writeModelFolder } from "../writer/folder.js";
import { genaiConfig } from "./genai.js";
import { key, partsSha256, reuse, sourceHash, WRITER_SOURCE, writeConverted } from "../writer/cache.js";
import { ggufLlama } from "../gguf/convert.js";
import { openGguf, openParts } from "../gguf/reader.js";
import { ggufWeightForm } from "../gguf/form.js";
import { GgufError } from "../gguf/error.js";
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
const GGUF_SOURCE = sourceHash(path.join(import.meta.dirname, "..", "gguf"));

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
  weights: AnalogWeights,
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
    proto: emitAnalog(config, weights, { dialect, int4 }),
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

/**
 * Converts a Llama-architecture GGUF (one file, or byte-split parts) into an
 * HF-layout ONNX folder, cached by content: TorchScript dialect, weights streamed tensor by
 * tensor into model.onnx_data: every block-format tensor as its codes, 4-bit planes for MatMulNBits and
 * GatherBlockQuantized (models/gguf/codes.ts, onnx/nbits.ts), norms and float tensors as float32
 * (`float32`: every weight dequantised, the form the codes are checked against).
 * `sha256`, where given, must match.
 */
export async function buildGguf(
  files: readonly string[],
  cacheDir: string,
  {
    sha256,
    onProgress = () => {},
    float32 = false,
  }: { sha256?: string; onProgress?: (m: string) => void; float32?: boolean } = {},
): Promise<string> {
  for (const f of files) if (!fs.existsSync(f)) throw new Error(`${f} does not exist`);
  // What is not a GGUF is named before a byte of it is hashed (a FIFO or /dev/zero would never end).
  const io = openParts(files);
  try {
    if (io.total < 4 || Buffer.from(io.read(0, 4)).toString("latin1") !== "GGUF")
      throw new GgufError(`${files.join(" + ")} is not a GGUF file (it does not begin with "GGUF")`);
  } finally {
    io.close();
  }
  onProgress(`checking ${files.map((f) => path.basename(f)).join(" + ")} (sha256)`);
  const sha = await partsSha256(files);
  if (sha256 && sha !== sha256)
    throw new Error(
      `${files.join(" + ")} has sha256 ${sha}, not the ${sha256} the entry names; the file is damaged or another one`,
    );
  // The weights' form is in the key too (block formats as MatMulNBits codes, or float32), besides the sources.
  const dir = path.join(
    cacheDir,
    "gguf",
    `${sha.slice(0, 12)}-${key({ sha, WRITER_SOURCE, GGUF_SOURCE, weights: float32 ? "float32" : "matmulnbits-codes" })}`,
  );
  if (reuse(dir)) return dir;
  const g = openGguf(files);
  try {
    const { config, weights, tokenizer, tokenizerConfig } = ggufLlama(g, { float32 });
    return writeConverted(dir, config, weights, {
      tokenizer,
      tokenizerConfig,
      config: hfConfig(config, {
        probespec: {
          synthetic: false,
          converted_from: `GGUF ${files.map((f) => path.basename(f)).join(" + ")} (sha256 ${sha})`,
          weights: float32 ? "float32 (every block format dequantised)" : ggufWeightForm(g.tensors),
        },
      }),
      onProgress,
    });
  } finally {
    g.close();
  }
}
