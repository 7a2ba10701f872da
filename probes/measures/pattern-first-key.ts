/**
 * The attention mass on the first key (position 0) per layer: pattern.L[h, q, 0],
 * averaged over heads and over query positions 1..seq−1 (query 0 can attend to
 * nothing else). Not a number on one-token prompts.
 */
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "pattern.first_key_mass",
  description: "attention probability on position 0, mean over heads and query positions after the first",
  unit: "probability",
  points: everyLayer("first_key", "pattern"),
  reduce: (x) =>
    Array.from({ length: x.layers }, (_, L) => {
      const p = x.read(`pattern.${L}`, "first_key"); // [heads, seq]: query q's probability on key 0
      const heads = p.length / x.seq;
      let sum = 0;
      for (let h = 0; h < heads; h++) for (let q = 1; q < x.seq; q++) sum += p[h * x.seq + q];
      return sum / (heads * (x.seq - 1));
    }),
  figure: {
    kind: "layers",
    title: "Attention mass on the first token",
    caption: "pattern.L[h, q, 0], mean over heads and query positions after the first; mean over the prompt set.",
  },
} satisfies PromptMeasure;
