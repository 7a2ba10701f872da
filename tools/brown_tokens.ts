/**
 * The Brown corpus as TinyLlama's token ids, for tools/train_baseline.py: each text
 * tokenised as probespec tokenises a prompt (the tokenizer.json that models/gguf/convert.ts
 * makes of the GGUF's tokenizer.ggml.*, loaded by probes/tokenizer.ts; BOS first), the
 * training texts and the held-out ones (probes/corpus.ts) in files of their own.
 *
 *   npx tsx tools/brown_tokens.ts [out folder, default scratch/brown]
 *
 * Writes training.u16 and heldout.u16 (little-endian uint16, the texts back to back),
 * texts.json (each text's id, genre, split, offset and length in tokens, and the totals)
 * and tokenizer-ggml.json: TinyLlama's tokenizer.ggml.* metadata, for the baseline's GGUF to
 * carry the same vocabulary.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ggufModel } from "../models/gguf/convert.js";
import { openGguf } from "../models/gguf/reader.js";
import { loadRegistry, PROJECT_ROOT } from "../models/registry/registry.js";
import { resolvePath } from "../models/registry/sources.js";
import { brownDir, readBrown, splitBrown } from "../probes/corpus.js";
import { loadTokenizer } from "../probes/tokenizer.js";

const SUBJECT = "tinyllama-1.1b";
const out = path.resolve(process.argv[2] ?? path.join(PROJECT_ROOT, "scratch", "brown"));
fs.mkdirSync(out, { recursive: true });

const entry = (await loadRegistry()).entries.find((e) => e.id === SUBJECT);
if (!entry || !("gguf" in entry.source)) throw new Error(`models/ has no GGUF entry "${SUBJECT}"`);
const parts = ([] as string[]).concat(entry.source.gguf).map((f) => resolvePath(f, PROJECT_ROOT));
for (const f of parts) if (!fs.existsSync(f)) throw new Error(`${f} is missing: run npm ci (${entry.notes})`);

// The tokenizer a probe run of TinyLlama loads from its converted folder, made the same way.
const g = openGguf(parts);
let vocab: number;
try {
  const { tokenizer, tokenizerConfig, config } = ggufModel(g);
  vocab = config.vocab;
  const dir = path.join(out, "tokenizer");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig, null, 2));
  const meta = Object.fromEntries(
    [...g.metadata]
      .filter(([k]) => k.startsWith("tokenizer.ggml."))
      .map(([k, v]) => [k, ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v]),
  );
  fs.writeFileSync(path.join(out, "tokenizer-ggml.json"), JSON.stringify({ source: path.basename(parts[0]), ...meta }));
} finally {
  g.close();
}
const tok = loadTokenizer(path.join(out, "tokenizer"), SUBJECT);

const { training, heldOut } = splitBrown(readBrown());
const texts: { id: string; genre: string; split: string; offset: number; tokens: number }[] = [];
const totals: Record<string, number> = {};
const t0 = performance.now();
for (const [split, list] of [
  ["training", training],
  ["heldout", heldOut],
] as const) {
  const ids: number[] = [];
  for (const t of list) {
    const one = tok.encode(t.text);
    if (one[0] !== 1) throw new Error(`${t.id}: its tokens do not begin with BOS`);
    texts.push({ id: t.id, genre: t.genre, split, offset: ids.length, tokens: one.length });
    ids.push(...one);
  }
  if (ids.some((i) => i >= vocab || i > 0xffff)) throw new Error(`a ${split} token id is outside the vocabulary`);
  fs.writeFileSync(path.join(out, `${split}.u16`), new Uint16Array(ids));
  totals[split] = ids.length;
  console.log(
    `${split}: ${list.length} texts, ${ids.length} tokens (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
}
const corpus = JSON.parse(fs.readFileSync(path.join(brownDir(), "package.json"), "utf8"));
const sha = crypto
  .createHash("sha256")
  .update(fs.readFileSync(path.join(out, "tokenizer", "tokenizer.json")))
  .digest("hex");
fs.writeFileSync(
  path.join(out, "texts.json"),
  JSON.stringify(
    { corpus: `${corpus.name}@${corpus.version}`, tokenizer: SUBJECT, tokenizerSha256: sha, vocab, totals, texts },
    null,
    1,
  ),
);
console.log(`wrote ${out}`);
