/**
 * A HuggingFace checkpoint folder converted on demand into the cache, keyed by its content as GGUFs
 * are: the files are hashed (read only, never written, nothing placed beside them), then the
 * project's ONNX writer reads the weights tensor by tensor into float32 external data.
 */
import fs from "node:fs";
import path from "node:path";
import { GENERATOR_SOURCE, key, partsSha256, reuse, sourceHash, writeConverted } from "../analogs/build.js";
import { hfConfig } from "../analogs/write.js";
import { hfCheckpoint } from "./convert.js";
import { openCheckpoint } from "./reader.js";

const CHECKPOINT_SOURCE = sourceHash(import.meta.dirname);

/** Whether a folder is a checkpoint to convert: config.json and safetensors weights. */
export function isCheckpoint(dir: string): boolean {
  return (
    fs.existsSync(path.join(dir, "config.json")) &&
    ["model.safetensors", "model.safetensors.index.json"].some((f) => fs.existsSync(path.join(dir, f)))
  );
}

export async function buildCheckpoint(
  dir: string,
  cacheDir: string,
  onProgress: (m: string) => void = () => {},
): Promise<string> {
  // Everything that can be refused from the headers and config.json is refused before a byte is hashed.
  const ck = openCheckpoint(dir);
  const converted = hfCheckpoint(ck);
  const inputs = ["config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"]
    .map((f) => path.join(dir, f))
    .filter((f) => fs.existsSync(f));
  onProgress(`checking ${ck.files.map((f) => path.basename(f)).join(" + ")} (sha256)`);
  const sha = await partsSha256([...inputs, ...ck.files]);
  const out = path.join(
    cacheDir,
    "checkpoints",
    `${converted.modelType}-${sha.slice(0, 12)}-${key({ sha, GENERATOR_SOURCE, CHECKPOINT_SOURCE })}`,
  );
  if (reuse(out)) return out;
  const { config, weights, tokenizer, tokenizerConfig, modelType } = converted;
  return writeConverted(out, config, weights, {
    config: hfConfig(config, {
      model_type: modelType,
      probespec: { synthetic: false, converted_from: `HF checkpoint ${dir} (sha256 ${sha}), weights as float32` },
    }),
    tokenizer,
    tokenizerConfig,
    onProgress,
  });
}
