/**
 * tokenizer.json files in HuggingFace's format for the analogs: Mistral's real
 * 32000-token sentencepiece BPE (from mistral-tokenizer-js), a 512-token
 * byte-level BPE, and llama2.c's tok512.bin converted the way HF converts
 * sentencepiece models (merges ranked by the merged piece's score).
 */
import fs from "node:fs";
import { SPECIALS, sentencepieceFromScores, sentencepieceTokenizerJson } from "../writer/tokenizer.js";

const BYTE_TOKENS = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);

/** Mistral-7B's tokenizer, rebuilt from mistral-tokenizer-js (MIT), which ships its vocabulary and merges. */
export async function mistralTokenizerJson(): Promise<object> {
  const mt = (await import("mistral-tokenizer-js")).default as { vocabById: string[]; merges: Map<string, number> };
  const merges = [...mt.merges.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k.split(" ") as [string, string]);
  return sentencepieceTokenizerJson(mt.vocabById, merges);
}

/** 512 tokens: specials, the 256 bytes, printable ASCII, ▁ and ▁+letter, padded with unused pieces. */
export function byteTokenizerJson(vocabSize = 512): object {
  const vocab = [...SPECIALS, ...BYTE_TOKENS];
  const ascii = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((ch) => ch !== " ");
  vocab.push("▁", ...ascii);
  const letters = ascii.filter((ch) => /[A-Za-z]/.test(ch));
  const merges: [string, string][] = letters.map((ch) => ["▁", ch]);
  vocab.push(...letters.map((ch) => `▁${ch}`));
  for (let i = vocab.length; i < vocabSize; i++) vocab.push(`<unused_${i}>`);
  if (vocab.length > vocabSize) throw new Error(`byte tokenizer needs ${vocab.length} tokens, more than ${vocabSize}`);
  return sentencepieceTokenizerJson(vocab, merges);
}

/** llama2.c's tokenizer file: int32 max_token_length, then per token float32 score, int32 length, bytes. */
export function readLlama2cTokenizer(file: string, vocabSize: number): { vocab: string[]; scores: number[] } {
  const buf = fs.readFileSync(file);
  let at = 4;
  const vocab: string[] = [],
    scores: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    if (at + 8 > buf.length) throw new Error(`${file} ends after ${i} of ${vocabSize} tokens`);
    scores.push(buf.readFloatLE(at));
    const len = buf.readInt32LE(at + 4);
    vocab.push(
      buf
        .subarray(at + 8, at + 8 + len)
        .toString("utf8")
        .replace(/ /g, "▁"),
    );
    at += 8 + len;
  }
  return { vocab, scores };
}

export function llama2cTokenizerJson(file: string, vocabSize: number): object {
  const { vocab, scores } = readLlama2cTokenizer(file, vocabSize);
  return sentencepieceFromScores(vocab, scores);
}
