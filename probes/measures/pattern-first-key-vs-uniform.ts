/**
 * The attention mass on position 0 as a multiple of what uniform causal attention
 * would give it on the same prompt: a query at position q that attends evenly puts
 * 1/(q+1) on key 0, so short prompts favour position 0 with no sink at all (about
 * 0.2 at 10 tokens). 1 is no preference; a sink reads well above it.
 */
import { firstKeyMass, uniformFirstKeyMass } from "../metrics.js";
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "pattern.first_key_vs_uniform",
  description:
    "attention probability on position 0 ÷ what uniform causal attention puts there, mean over heads and query positions after the first",
  unit: "× uniform",
  points: everyLayer("first_key", "pattern"),
  reduce: (x) =>
    Array.from(
      { length: x.layers },
      (_, L) => firstKeyMass(x.read(`pattern.${L}`, "first_key"), x.seq) / uniformFirstKeyMass(x.seq),
    ),
  figure: {
    kind: "layers",
    title: "Attention on the first token against uniform attention",
    caption:
      "pattern.L[h, q, 0] ÷ 1/(q+1), each averaged over heads and query positions after the first; 1 is uniform causal attention; mean over the prompt set.",
  },
} satisfies PromptMeasure;
