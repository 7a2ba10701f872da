/**
 * tokenizer.json files in HuggingFace's format for the analogs: Mistral's real
 * 32000-token sentencepiece BPE (from mistral-tokenizer-js), a 512-token
 * byte-level BPE, and llama2.c's tok512.bin converted the way HF converts
 * sentencepiece models (merges ranked by the merged piece's score).
 */
import fs from "node:fs";

const SPECIALS = ["<unk>", "<s>", "</s>"];
const BYTE_TOKENS = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);

/** A Llama-style sentencepiece BPE tokenizer.json: ▁ for spaces, byte fallback, BOS prepended. */
export function sentencepieceTokenizerJson(vocab: string[], merges: [string, string][]): object {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

export function tokenizerConfigJson(maxLength: number): object {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    pad_token: null,
    model_max_length: maxLength,
    tokenizer_class: "LlamaTokenizer",
    clean_up_tokenization_spaces: false,
    legacy: false,
  };
}

/** Merges ranked by the score of the piece they make (HF's SentencePieceExtractor). */
function mergesByScore(vocab: string[], scores: number[]): [string, string][] {
  const index = new Map(vocab.map((t, i) => [t, i]));
  const merges: [string, string, number, number][] = [];
  vocab.forEach((piece, id) => {
    if (id < 3 + 256 && (SPECIALS.includes(piece) || /^<0x[0-9A-F]{2}>$/.test(piece))) return;
    const chars = [...piece];
    for (let i = 1; i < chars.length; i++) {
      const a = chars.slice(0, i).join(""),
        b = chars.slice(i).join("");
      const ia = index.get(a),
        ib = index.get(b);
      if (ia !== undefined && ib !== undefined) merges.push([a, b, scores[id], ia * 1e6 + ib]);
    }
  });
  merges.sort((x, y) => y[2] - x[2] || x[3] - y[3]);
  return merges.map(([a, b]) => [a, b]);
}

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

/** A sentencepiece BPE model given as pieces and scores (llama2.c's tok file, GGUF's tokenizer.ggml.*) as tokenizer.json. */
export function sentencepieceFromScores(vocab: string[], scores: number[]): object {
  return sentencepieceTokenizerJson(vocab, mergesByScore(vocab, scores));
}
