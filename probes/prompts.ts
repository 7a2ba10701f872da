/** Prompt sets enter through a parse: a JSON file of { "prompts": [{ "text", "kind" }] }. */
import path from "node:path";
import { z } from "zod";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { formatZodError, readJsonFile } from "../models/registry/schema.js";

/**
 * The prompt set a run uses unless PROBESPEC_PROMPTS names another: the notebook's prompt first, then a sample of the
 * Brown corpus (tools/brown_sample.ts writes it, by BROWN_SAMPLE), a population a verdict can name.
 */
export const DEFAULT_PROMPTS = path.join(PROJECT_ROOT, "hypotheses", "prompts.json");
/** The 33 hand-written prompts in five kinds the default was before: facts, narrative, code, other languages, lists. */
export const PARADOX_PROMPTS = path.join(PROJECT_ROOT, "hypotheses", "paradox-prompts.json");

/**
 * The default sample: 14 contexts from each of the 15 genres (210, at least the 200 the population's claims rest on),
 * each 32–48 tokens: long enough that position 0 is one token among dozens, short enough that TinyLlama probes all
 * of them in about two and a half minutes on two cores (the forward is compute-bound: the cost is the tokens). The
 * byte-level analogs' 256 positions bound the characters; the seed is the corpus's year.
 */
export const BROWN_SAMPLE = { perGenre: 14, seed: 1961, rule: { minTokens: 32, maxTokens: 48, maxChars: 240 } };

/** How a sampled set was drawn, for the report and results.json: from what, by which rule, with which seed. */
const SampleSchema = z.strictObject({
  corpus: z.string().min(1),
  rule: z.string().min(1),
  seed: z.number().int(),
  command: z.string().min(1),
});

export const PromptSetSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  sample: SampleSchema.optional(),
  prompts: z
    .array(
      z.strictObject({
        text: z.string().refine((t) => t.trim() !== "", "a prompt is empty"),
        /** The prompt's kind: a stratum every bootstrap resamples within (a corpus sample's genre). */
        kind: z.string().min(1),
        /** Where a sampled prompt comes from: "cj01 ¶12". */
        source: z.string().optional(),
      }),
    )
    .min(1)
    // A repeated prompt is no new evidence: resampled as another, it narrows every interval by itself.
    .superRefine((prompts, ctx) => {
      const first = new Map<string, number>();
      const repeats = prompts.flatMap((p, i) => {
        const j = first.get(p.text);
        if (j === undefined) first.set(p.text, i);
        return j === undefined ? [] : [[i, j] as const];
      });
      if (repeats.length) {
        const [i, j] = repeats[0];
        const more = repeats.length > 1 ? `, and ${repeats.length - 1} more prompts repeat earlier ones` : "";
        ctx.addIssue({
          code: "custom",
          path: [i, "text"],
          message: `repeats prompt ${j} (${JSON.stringify(prompts[i].text.slice(0, 40))})${more}: each prompt must be new evidence`,
        });
      }
    }),
});
export type PromptSet = z.infer<typeof PromptSetSchema>;

export function loadPromptSet(file: string): PromptSet {
  let raw: unknown;
  try {
    raw = readJsonFile(file);
  } catch (e) {
    throw new Error(`prompt set ${file} cannot be read: ${(e as Error).message}`);
  }
  const r = PromptSetSchema.safeParse(raw);
  if (!r.success) throw new Error(`prompt set ${file}: ${formatZodError(r.error)}`);
  return r.data;
}

/**
 * A prompt set as a run uses it: its texts in order, each prompt's kind (the report shows every tested measure on
 * each kind alone), and, where the set is a stratified sample, the strata every bootstrap resamples within: its
 * kinds, as it was drawn. A hand-written set was drawn by no design, and its prompts resample as one population
 * (measured: strata of six or seven prompts made the bootstrap liberal, 6.2% false rejections at 5%).
 */
export interface RunPrompts {
  name: string;
  file: string;
  prompts: string[];
  kinds?: string[];
  strata?: string[];
  sources?: (string | null)[];
  sample?: PromptSet["sample"];
}

/** A set as a run uses it. */
export const runPrompts = (set: PromptSet, file: string): RunPrompts => ({
  name: set.name,
  file,
  prompts: set.prompts.map((p) => p.text),
  kinds: set.prompts.map((p) => p.kind),
  ...(set.sample && { strata: set.prompts.map((p) => p.kind) }),
  ...(set.prompts.some((p) => p.source) && { sources: set.prompts.map((p) => p.source ?? null) }),
  ...(set.sample && { sample: set.sample }),
});

/** The prompts' texts of a set (the default one unless named), in order. */
export const promptTexts = (file = DEFAULT_PROMPTS): string[] => loadPromptSet(file).prompts.map((p) => p.text);
