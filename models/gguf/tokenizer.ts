/**
 * A GGUF's tokenizer.ggml.* as a HuggingFace tokenizer.json, for the tokenizer the probes load:
 *
 * - "llama": sentencepiece BPE with byte fallback, merges ranked by score (Llama 1/2, Mistral, Gemma), its special
 *   tokens and framing (BOS, EOS, the ▁ prefixed) as the metadata says, with llama-vocab.cpp's defaults;
 * - "gpt2": byte-level BPE (Llama 3, Qwen2, GPT-2…) with its merges, split before the byte mapping by the
 *   regexes llama.cpp's llama-vocab.cpp applies for tokenizer.ggml.pre, each match and each run between
 *   matches a piece (a Split pre-tokenizer with behaviour "Isolated", one per regex, in order).
 *
 * An unknown pre-tokenizer name is refused: its regex is what makes the ids, and a guess would change them.
 */
import {
  type AddedToken,
  sentencepieceFromScores,
  type SentencepieceSpecials,
  tokenizerConfigJson,
} from "../writer/tokenizer.js";
import { GgufError } from "./error.js";
import type { Gguf } from "./reader.js";

/** Contractions in either case: llama.cpp's spelling of the (?i:'s|'t|…) that Llama 3's and Qwen2's tokenizer.json have. */
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

/**
 * llama-vocab.cpp's pre-tokenizers: the names tokenizer.ggml.pre gives each (llama_vocab::impl::load), the regexes
 * llm_tokenizer_bpe applies for it, and whether a word in the vocabulary is taken whole before any merge
 * (ignore_merges) and BOS prepended where the file does not say (add_bos).
 */
const PRE_TOKENIZERS: { names: string[]; regexes: string[]; ignoreMerges?: boolean; addBos?: boolean }[] = [
  {
    // LLAMA_VOCAB_PRE_TYPE_LLAMA3: digits in runs of up to three.
    names: ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"],
    regexes: [
      `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    ],
    ignoreMerges: true,
    addBos: true,
  },
  {
    // LLAMA_VOCAB_PRE_TYPE_QWEN2 and STABLELM2 (StableLM 2's, the same regex): digits one by one.
    names: ["qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"],
    regexes: [
      `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    ],
  },
  // LLAMA_VOCAB_PRE_TYPE_GPT2.
  { names: ["gpt-2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "mpt", "olmo"], regexes: [GPT2] },
  // LLAMA_VOCAB_PRE_TYPE_DEFAULT: what llama.cpp applies to "default".
  { names: ["default"], regexes: ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"] },
];

/** gguf-py's TokenType: 2 is UNKNOWN, 3 CONTROL (a special token), 4 USER_DEFINED (an added, non-special one). */
const UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4;

/** The tokenizer.json and tokenizer_config.json the converted model is written with. */
export function ggufTokenizer(
  g: Gguf,
  model: string,
  vocab: number,
  maxPositions: number,
): { tokenizer: object; tokenizerConfig: object } {
  const fail = (m: string): never => {
    throw new GgufError(`${g.file}: ${m}`);
  };
  const kind = g.metadata.get("tokenizer.ggml.model");
  const tokens = g.metadata.get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string"))
    fail(`tokenizer.ggml.tokens is not a list of strings`);
  const list = tokens as string[];
  if (list.length !== vocab) fail(`the tokenizer has ${list.length} tokens where the embedding has ${vocab} rows`);
  if (kind === "llama") return sentencepiece(g, list, maxPositions, fail);
  if (kind === "gpt2") return byteLevel(g, model, list, maxPositions, fail);
  return fail(`tokenizer "${kind}" is neither sentencepiece ("llama") nor byte-level BPE ("gpt2")`);
}

/** Each token's gguf-py TokenType, where the file gives them (tokenizer.ggml.token_type); NORMAL (1) otherwise. */
function tokenTypes(g: Gguf): (i: number) => number {
  const types = g.metadata.get("tokenizer.ggml.token_type");
  return (i) => (types && typeof types === "object" && i in types ? Number((types as never)[i]) : 1);
}

/** tokenizer.ggml.<key>_token_id, where the file has it: a token of the vocabulary. */
function tokenId(g: Gguf, key: string, count: number, fail: (m: string) => never): number | undefined {
  const v = g.metadata.get(`tokenizer.ggml.${key}_token_id`);
  if (v !== undefined && !(typeof v === "number" && Number.isInteger(v) && v >= 0 && v < count))
    fail(`tokenizer.ggml.${key}_token_id ${JSON.stringify(v)} is not a token of the ${count}`);
  return v as number | undefined;
}

/** tokenizer.ggml.<key>, a flag, where the file has it; `otherwise` where not. */
function flag(g: Gguf, key: string, otherwise: boolean, fail: (m: string) => never): boolean {
  const v = g.metadata.get(`tokenizer.ggml.${key}`) ?? otherwise;
  return typeof v === "boolean" ? v : fail(`tokenizer.ggml.${key} is ${JSON.stringify(v)}, not true or false`);
}

/**
 * tokenizer.ggml.* of a "llama" model: BPE with byte fallback, read as llama-vocab.cpp reads a sentencepiece (SPM)
 * vocabulary: the special ids the metadata gives, else its defaults (unknown 0, BOS 1, EOS 2: Llama's; Gemma's are
 * <pad>, <eos>, <bos>, <unk> at 0-3, each named); BOS prepended and EOS not unless add_bos_token / add_eos_token say
 * otherwise; a ▁ before the text unless add_space_prefix is false (Gemma's). Control and unknown pieces are special
 * tokens, user-defined ones added tokens that are not (llama.cpp splits the text at each before the BPE); where the
 * file gives no types, the special ids are the special tokens.
 */
function sentencepiece(
  g: Gguf,
  tokens: string[],
  maxPositions: number,
  fail: (m: string) => never,
): { tokenizer: object; tokenizerConfig: object } {
  const scores = g.metadata.get("tokenizer.ggml.scores");
  if (!(scores instanceof Float32Array || scores instanceof Float64Array))
    fail(`tokenizer.ggml.scores is not a list of float scores`);
  const s = scores as Float32Array | Float64Array;
  if (s.length !== tokens.length)
    fail(`tokenizer.ggml.scores has ${s.length} entries for ${tokens.length} tokens; each token needs its score`);
  const id = (key: string) => tokenId(g, key, tokens.length, fail);
  const [unk, bos, eos, pad] = [id("unknown") ?? 0, id("bos") ?? 1, id("eos") ?? 2, id("padding")];
  const typed = g.metadata.has("tokenizer.ggml.token_type");
  const type = tokenTypes(g);
  const specialIds = new Set([unk, bos, eos, ...(pad === undefined ? [] : [pad])]);
  const added = tokens.flatMap((content, i): AddedToken[] => {
    const t = type(i);
    if (typed ? t === CONTROL || t === UNKNOWN : specialIds.has(i)) return [{ id: i, content, special: true }];
    return typed && t === USER_DEFINED ? [{ id: i, content, special: false }] : [];
  });
  const specials: SentencepieceSpecials = {
    added,
    unk: tokens[unk],
    bos: { id: bos, content: tokens[bos] },
    eos: { id: eos, content: tokens[eos] },
    ...(pad === undefined ? {} : { pad: tokens[pad] }),
    addBos: flag(g, "add_bos_token", true, fail),
    addEos: flag(g, "add_eos_token", false, fail),
    spacePrefix: flag(g, "add_space_prefix", true, fail),
  };
  return {
    tokenizer: sentencepieceFromScores(tokens, Array.from(s), specials),
    tokenizerConfig: tokenizerConfigJson(maxPositions, specials),
  };
}

/** tokenizer.ggml.* of a "gpt2" model: byte-level BPE, pre-tokenized as llama.cpp does for tokenizer.ggml.pre. */
function byteLevel(
  g: Gguf,
  model: string,
  tokens: string[],
  maxPositions: number,
  fail: (m: string) => never,
): { tokenizer: object; tokenizerConfig: object } {
  const name = g.metadata.get("tokenizer.ggml.pre") ?? "default";
  const pre = PRE_TOKENIZERS.find((p) => p.names.includes(String(name)))!;
  if (!pre)
    fail(
      `model "${model}" has tokenizer.ggml.pre "${name}", a pre-tokenizer probespec does not know (it knows ${PRE_TOKENIZERS.flatMap((p) => p.names).join(", ")}); its regexes decide the token ids, so the file is refused rather than tokenised another way`,
    );
  const merges = g.metadata.get("tokenizer.ggml.merges");
  if (!Array.isArray(merges) || merges.some((m) => typeof m !== "string" || !m.includes(" ")))
    fail(`tokenizer.ggml.merges is not a list of "left right" strings`);
  const type = tokenTypes(g);
  const id = (k: string) => tokenId(g, k, tokens.length, fail);
  const [bos, eos] = [id("bos"), id("eos")];
  const addBos = (g.metadata.get("tokenizer.ggml.add_bos_token") ?? pre.addBos ?? false) === true;
  if (addBos && bos === undefined) fail(`add_bos_token is set and tokenizer.ggml.bos_token_id is missing`);
  const bosToken = bos === undefined ? undefined : tokens[bos];
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    // Control tokens are special; user-defined ones are added tokens that are not.
    added_tokens: tokens.flatMap((content, i) =>
      type(i) === CONTROL || type(i) === USER_DEFINED
        ? [
            {
              id: i,
              content,
              single_word: false,
              lstrip: false,
              rstrip: false,
              normalized: false,
              special: type(i) === CONTROL,
            },
          ]
        : [],
    ),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        ...pre.regexes.map((r) => ({ type: "Split", pattern: { Regex: r }, behavior: "Isolated", invert: false })),
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: addBos
      ? {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: bosToken, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [
            { SpecialToken: { id: bosToken, type_id: 0 } },
            { Sequence: { id: "A", type_id: 0 } },
            { SpecialToken: { id: bosToken, type_id: 1 } },
            { Sequence: { id: "B", type_id: 1 } },
          ],
          special_tokens: { [bosToken!]: { id: bosToken, ids: [bos], tokens: [bosToken] } },
        }
      : null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre.ignoreMerges ?? false,
      vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
      merges,
    },
  };
  const tokenizerConfig = {
    add_bos_token: addBos,
    add_eos_token: false,
    bos_token: bosToken ?? null,
    eos_token: eos === undefined ? null : tokens[eos],
    model_max_length: maxPositions,
    tokenizer_class: "PreTrainedTokenizerFast",
    clean_up_tokenization_spaces: false,
  };
  return { tokenizer, tokenizerConfig };
}
