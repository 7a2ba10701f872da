/**
 * Builds analogs (and llama2.c conversions) on demand into the cache:
 * deterministic, byte-identical for the same preset and seed, keyed by a hash of
 * everything that shapes the bytes.
 */
import crypto from "node:crypto";
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
import {
  ExternalData,
  genaiConfig,
  generatedIntact,
  hfConfig,
  writeFolder,
  writeFolderFiles,
  writeModelFolder,
} from "./write.js";
import { ggufModel } from "../gguf/convert.js";
import { openGguf, openParts } from "../gguf/reader.js";
import { ggufWeightForm } from "../gguf/form.js";
import { GgufError } from "../gguf/error.js";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type TensorProto } from "onnx-buf";
import { inPlace } from "../writer/half.js";
import { readLlama2c, toRotateHalf } from "./llama2c.js";

export interface AnalogRequest {
  analog: string;
  dialect?: Dialect;
  int4?: boolean;
  external?: boolean;
  seed?: number;
  knobs?: Partial<Omit<Knobs, "massive">> & { massive?: Knobs["massive"] | null };
}

/** The .ts sources of these folders (where they exist: a bundle has none), hashed. */
export function sourceHash(...dirs: string[]): string {
  const h = crypto.createHash("sha256");
  for (const dir of dirs.filter((d) => fs.existsSync(d))) {
    for (const f of fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".ts"))
      .sort())
      h.update(f).update(fs.readFileSync(path.join(dir, f)));
  }
  return h.digest("hex").slice(0, 16);
}

/**
 * The generator's own source, the writer's and the ONNX layer it writes through (graph building, the int4
 * codec), hashed into every cache key: an edit to how analogs are made can never be answered with a folder
 * the old code wrote. The GGUF and checkpoint converters' sources key their folders the same way.
 */
export const GENERATOR_SOURCE = sourceHash(
  import.meta.dirname,
  path.join(import.meta.dirname, "..", "writer"),
  path.join(import.meta.dirname, "..", "..", "onnx"),
);
// A GGUF is converted through the checkpoint path's hfModel (models/gguf/convert.ts): its source keys GGUFs too.
const GGUF_SOURCE = sourceHash(
  path.join(import.meta.dirname, "..", "gguf"),
  path.join(import.meta.dirname, "..", "safetensors"),
);

export function key(value: unknown): string {
  return crypto.createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

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
    `${req.analog}-${preset.dialect}${preset.int4 ? "-int4" : ""}-${key({ preset, GENERATOR_SOURCE })}`,
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

/** A cached generated folder is reused only while it matches its manifest; otherwise it is removed and made again. */
export function reuse(dir: string): boolean {
  if (!fs.existsSync(dir)) return false;
  if (generatedIntact(dir)) return true;
  fs.rmSync(dir, { recursive: true, force: true });
  return false;
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
    `${path.basename(checkpoint, ".bin")}-${key({ ckpt, size: stat.size, mtime: stat.mtimeMs, GENERATOR_SOURCE })}`,
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
 * sha256 of files read as one (a GGUF split into byte parts), streamed asynchronously: the event
 * loop turns between chunks, so a multi-GB hash can be interrupted (SIGTERM, a test's timeout).
 */
export async function partsSha256(files: readonly string[]): Promise<string> {
  const h = crypto.createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 22);
  for (const f of files) {
    const fh = await fs.promises.open(f, "r");
    try {
      for (let n; (n = (await fh.read(buf, 0, buf.length, null)).bytesRead) > 0;) h.update(buf.subarray(0, n));
    } finally {
      await fh.close();
    }
  }
  return h.digest("hex");
}

/**
 * Converts a GGUF of an architecture models/gguf/archs.ts knows (one file, or byte-split parts) into an
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
    `${sha.slice(0, 12)}-${key({ sha, GENERATOR_SOURCE, GGUF_SOURCE, weights: float32 ? "float32" : "matmulnbits-codes" })}`,
  );
  if (reuse(dir)) return dir;
  const g = openGguf(files);
  try {
    const { config, weights, tokenizer, tokenizerConfig, modelType } = ggufModel(g, { float32 });
    return writeConverted(dir, config, weights, {
      tokenizer,
      tokenizerConfig,
      config: hfConfig(config, {
        model_type: modelType,
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

/**
 * Writes a converted model into the cache as one folder: TorchScript dialect, weights (float32, a
 * converter's block codes, 16-bit matrices) streamed tensor by tensor into model.onnx_data as the lazy
 * weights are read, so the model is never whole in memory; a checkpoint's 16-bit matrices are not
 * copied but linked (in-place-N, models/writer/half.ts).
 */
export function writeConverted(
  dir: string,
  config: AnalogConfig,
  weights: AnalogWeights,
  files: {
    config: Record<string, unknown>;
    tokenizer: object;
    tokenizerConfig: object;
    onProgress: (m: string) => void;
  },
): string {
  return writeFolder(dir, (tmp) => {
    const fd = fs.openSync(path.join(tmp, "model.onnx_data"), "w");
    let placed = 0;
    const ext = new ExternalData("model.onnx_data", (b) => fs.writeSync(fd, b));
    // A weight that runs as the user's file stores it is read there: through a symlink of the folder's own
    // (ONNX locations are relative), one a file, never a copy; the file is opened by nobody for writing.
    const links = new Map<string, string>();
    const link = (t: TensorProto, file: string): TensorProto => {
      let name = links.get(file);
      if (!name) {
        name = `in-place-${links.size}${path.extname(file)}`;
        fs.symlinkSync(file, path.join(tmp, name));
        links.set(file, name);
      }
      const at = name;
      return { ...t, externalData: t.externalData.map((e) => (e.key === "location" ? { ...e, value: at } : e)) };
    };
    try {
      const proto = emitAnalog(config, weights, {
        dialect: "torchscript",
        place: (t) => {
          const file = inPlace(t);
          if (file) return link(t, file);
          if (t.rawData.length > 1 << 20) files.onProgress(`converting: ${++placed} large tensors written`);
          return ext.place(t);
        },
      });
      fs.writeFileSync(path.join(tmp, "model.onnx"), toBinary(ModelProtoSchema, proto));
    } finally {
      fs.closeSync(fd);
    }
    writeFolderFiles(tmp, { config: files.config, tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig });
  });
}
