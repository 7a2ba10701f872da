/**
 * Tokenizers load with @huggingface/transformers from the model's own folder,
 * local files only, with errors that say which file is missing or broken.
 */
import fs from "node:fs";
import path from "node:path";
import { PreTrainedTokenizer } from "@huggingface/transformers";
import { readJsonFile } from "../models/registry/schema.js";
import { LoadError } from "../onnx/errors.js";
import { ProbeError } from "./errors.js";

export interface Tokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  tokenString(id: number): string;
}

export function loadTokenizer(dir: string, modelId?: string): Tokenizer {
  const file = path.join(dir, "tokenizer.json");
  if (!fs.existsSync(file))
    throw new LoadError(
      modelId,
      `no tokenizer.json in ${dir}; probespec tokenises prompts with the model's own tokenizer, so the export must include it`,
    );
  let json: any,
    config: any = {};
  try {
    json = readJsonFile(file);
  } catch (e) {
    throw new LoadError(modelId, `tokenizer.json in ${dir} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!json || typeof json !== "object" || !json.model || typeof json.model !== "object" || !json.model.type) {
    throw new LoadError(
      modelId,
      `tokenizer.json in ${dir} has no "model" section with a "type" (BPE, WordPiece, Unigram…); it does not look like a HuggingFace tokenizer`,
    );
  }
  const cfgFile = path.join(dir, "tokenizer_config.json");
  if (fs.existsSync(cfgFile)) {
    try {
      config = readJsonFile(cfgFile);
    } catch (e) {
      throw new LoadError(modelId, `tokenizer_config.json in ${dir} is not valid JSON: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  let tok: PreTrainedTokenizer;
  try {
    tok = new PreTrainedTokenizer(json, config);
  } catch (e) {
    throw new LoadError(
      modelId,
      `tokenizer.json in ${dir} could not be loaded by @huggingface/transformers: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return {
    encode: (text) => tok.encode(text) as number[],
    decode: (ids) => tok.decode(ids, { skip_special_tokens: true }),
    tokenString: (id) => String((tok as any)._tokenizer?.id_to_token?.(id) ?? tok.decode([id])),
  };
}

/** Token ids for a prompt, checked against the model's vocabulary and context. */
export function tokenize(
  tok: Tokenizer,
  prompt: string,
  vocab: number,
  context: number | undefined,
  modelId?: string,
): number[] {
  if (prompt.trim() === "") throw new ProbeError(modelId, "a prompt is empty");
  const ids = tok.encode(prompt);
  const bad = ids.find((id) => id >= vocab || id < 0);
  if (bad !== undefined) {
    throw new ProbeError(
      modelId,
      `prompt ${JSON.stringify(prompt.slice(0, 60))} has token ${JSON.stringify(tok.tokenString(bad))} (id ${bad}), outside the model's vocabulary of ${vocab}; the tokenizer does not match the model`,
    );
  }
  if (context !== undefined && ids.length > context) {
    throw new ProbeError(
      modelId,
      `prompt ${JSON.stringify(prompt.slice(0, 60))}… is ${ids.length} tokens, longer than the model's context of ${context}`,
    );
  }
  return ids;
}
