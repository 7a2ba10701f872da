/**
 * A GGUF file (or its byte-split parts) converted on demand into the cache, keyed by its content and the weights'
 * form: its architecture's entry in the table says how it reads, and the checkpoint path (models/safetensors)
 * writes it, so its source keys GGUFs too.
 */
import fs from "node:fs";
import path from "node:path";
import { key, partsSha256, reuse, sourceHash, WRITER_SOURCE, writeConverted } from "../writer/cache.js";
import { hfConfig } from "../writer/folder.js";
import { ggufModel } from "./convert.js";
import { GgufError } from "./error.js";
import { ggufWeightForm } from "./form.js";
import { openGguf, openParts } from "./reader.js";

const GGUF_SOURCE = sourceHash(
  import.meta.dirname,
  path.join(import.meta.dirname, "..", "safetensors"),
  path.join(import.meta.dirname, "..", "architectures"),
);

/**
 * Converts a GGUF of an architecture the architecture table knows (one file, or byte-split parts) into an
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
