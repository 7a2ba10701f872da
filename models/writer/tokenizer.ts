/**
 * The tokenizer files a written folder holds, in HuggingFace's format: a Llama-style sentencepiece BPE
 * tokenizer.json (generated for analogs and llama2.c, rebuilt from a GGUF's tokenizer.ggml.*) and a
 * tokenizer_config.json where the source has none.
 */

export const SPECIALS = ["<unk>", "<s>", "</s>"];

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

/** A sentencepiece BPE model given as pieces and scores (llama2.c's tok file, GGUF's tokenizer.ggml.*) as tokenizer.json. */
export function sentencepieceFromScores(vocab: string[], scores: number[]): object {
  return sentencepieceTokenizerJson(vocab, mergesByScore(vocab, scores));
}
