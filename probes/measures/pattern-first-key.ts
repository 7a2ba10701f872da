/**
 * The attention mass on the first key (position 0) per layer: pattern.L[h, q, 0],
 * averaged over heads and over query positions 1..seq−1 (query 0 can attend to
 * nothing else). Not a number on one-token prompts.
 */
import { firstKeyMass } from "../metrics.js";
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "pattern.first_key_mass",
  description: "attention probability on position 0, mean over heads and query positions after the first",
  unit: "probability",
  points: everyLayer("first_key", "pattern"),
  reduce: (x) => Array.from({ length: x.layers }, (_, L) => firstKeyMass(x.read(`pattern.${L}`, "first_key"), x.seq)),
  figure: {
    kind: "layers",
    title: "Attention mass on the first token",
    caption: "pattern.L[h, q, 0], mean over heads and query positions after the first; mean over the prompt set.",
  },
} satisfies PromptMeasure;
