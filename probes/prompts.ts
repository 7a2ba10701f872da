/** Prompt sets enter through a parse: a JSON file of { "prompts": [{ "text", "kind" }] }. */
import path from "node:path";
import { z } from "zod";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { formatZodError, readJsonFile } from "../models/registry/schema.js";

/** The prompt set a run uses unless PROBESPEC_PROMPTS names another: the notebook's prompt first. */
export const DEFAULT_PROMPTS = path.join(PROJECT_ROOT, "hypotheses", "prompts.json");

export const PromptSetSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  prompts: z
    .array(
      z.strictObject({ text: z.string().refine((t) => t.trim() !== "", "a prompt is empty"), kind: z.string().min(1) }),
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

/** The prompts' texts of a set (the default one unless named), in order. */
export const promptTexts = (file = DEFAULT_PROMPTS): string[] => loadPromptSet(file).prompts.map((p) => p.text);
