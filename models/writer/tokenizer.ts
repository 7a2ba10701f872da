/**
 * The tokenizer files a written folder holds, in HuggingFace's format: a Llama-style sentencepiece BPE
 * tokenizer.json (generated for analogs and llama2.c, rebuilt from a GGUF's tokenizer.ggml.*) and a
 * tokenizer_config.json where the source has none.
 */

export const SPECIALS = ["<unk>", "<s>", "</s>"];

/** A piece of the vocabulary the tokenizer never splits: a special (control) token, or a user-defined one. */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

/**
 * A sentencepiece tokenizer's special tokens and how it frames a text (llama.cpp's llama-vocab.cpp reads them from a
 * GGUF: its bos/eos/unknown/padding ids, add_bos_token, add_eos_token, add_space_prefix): Llama's by default, where
 * Gemma's are <pad>, <eos>, <bos>, <unk> at 0-3 and no ▁ is prefixed.
 */
export interface SentencepieceSpecials {
  added: AddedToken[];
  unk: string;
  bos: { id: number; content: string };
  eos: { id: number; content: string };
  pad?: string;
  addBos: boolean;
  addEos: boolean;
  /** A ▁ before the text (sentencepiece's add_dummy_prefix): HF's Prepend normalizer, and a Strip of it when decoding. */
  spacePrefix: boolean;
}

export const LLAMA_SPECIALS: SentencepieceSpecials = {
  added: SPECIALS.map((content, id) => ({ id, content, special: true })),
  unk: "<unk>",
  bos: { id: 1, content: "<s>" },
  eos: { id: 2, content: "</s>" },
  addBos: true,
  addEos: false,
  spacePrefix: true,
};

/**
 * HF's TemplateProcessing for BOS and EOS as LlamaTokenizerFast.update_post_processor writes it: "<bos>:0 $A:0 <eos>:0"
 * for one sequence, each present only where it is added; none where neither is.
 */
function framing(s: SentencepieceSpecials): object | null {
  if (!s.addBos && !s.addEos) return null;
  const one = (seq: "A" | "B", type_id: number) => [
    ...(s.addBos ? [{ SpecialToken: { id: s.bos.content, type_id } }] : []),
    { Sequence: { id: seq, type_id } },
    ...(s.addEos ? [{ SpecialToken: { id: s.eos.content, type_id } }] : []),
  ];
  const token = ({ id, content }: { id: number; content: string }) => ({
    [content]: { id: content, ids: [id], tokens: [content] },
  });
  return {
    type: "TemplateProcessing",
    single: one("A", 0),
    pair: [...one("A", 0), ...one("B", 1)],
    special_tokens: { ...(s.addBos ? token(s.bos) : {}), ...(s.addEos ? token(s.eos) : {}) },
  };
}

/** A sentencepiece BPE tokenizer.json (Llama's by default): ▁ for spaces, byte fallback, BOS prepended. */
export function sentencepieceTokenizerJson(
  vocab: string[],
  merges: [string, string][],
  s: SentencepieceSpecials = LLAMA_SPECIALS,
): object {
  const spaces = { type: "Replace", pattern: { String: " " }, content: "▁" };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: s.added.map(({ id, content, special }) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special,
    })),
    normalizer: s.spacePrefix ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" }, spaces] } : spaces,
    pre_tokenizer: null,
    post_processor: framing(s),
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        ...(s.spacePrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: s.unk,
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

export function tokenizerConfigJson(maxLength: number, s: SentencepieceSpecials = LLAMA_SPECIALS): object {
  return {
    add_bos_token: s.addBos,
    add_eos_token: s.addEos,
    bos_token: s.bos.content,
    eos_token: s.eos.content,
    unk_token: s.unk,
    pad_token: s.pad ?? null,
    model_max_length: maxLength,
    tokenizer_class: "LlamaTokenizer",
    clean_up_tokenization_spaces: false,
    legacy: false,
  };
}

/** Merges ranked by the score of the piece they make (HF's SentencePieceExtractor); added tokens and bytes make none. */
function mergesByScore(vocab: string[], scores: number[], added: AddedToken[]): [string, string][] {
  const index = new Map(vocab.map((t, i) => [t, i]));
  const whole = new Set(added.map((t) => t.id));
  const merges: [string, string, number, number][] = [];
  vocab.forEach((piece, id) => {
    if (whole.has(id) || /^<0x[0-9A-F]{2}>$/.test(piece)) return;
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

/**
 * A sentencepiece BPE model given as pieces and scores (llama2.c's tok file, GGUF's tokenizer.ggml.*) as tokenizer.json,
 * with Llama's special tokens unless said.
 */
export function sentencepieceFromScores(
  vocab: string[],
  scores: number[],
  s: SentencepieceSpecials = LLAMA_SPECIALS,
): object {
  return sentencepieceTokenizerJson(vocab, mergesByScore(vocab, scores, s.added), s);
}
