/** The output entropy ÷ ln V: on one scale across vocabularies (ln V bounds the raw value). */
import { entropy } from "../metrics.js";
import { lastLogits, type PromptMeasure } from "./measure.js";

export default {
  name: "logits.entropy_lnv",
  description: "softmax entropy of the last position's logits ÷ ln(vocabulary size), 0 to 1",
  unit: "fraction of ln V",
  points: () => [{ point: "logits", as: "last" }],
  reduce: (x) => entropy(lastLogits(x)) / Math.log(x.vocab),
  // The output entropy is drawn on this scale: raw entropies of different vocabularies are bounded by different ln V.
  figure: {
    kind: "models",
    title: "Output entropy ÷ ln V",
    caption:
      "Last-position softmax entropy ÷ ln(vocabulary size), mean over the prompt set: one scale across vocabularies (1 is uniform over the vocabulary).",
  },
} satisfies PromptMeasure;
