/** The spread of the last position's logits across the vocabulary: the readout's gain in use. */
import { std } from "../metrics.js";
import { lastLogits, type PromptMeasure } from "./measure.js";

export default {
  name: "logits.spread",
  description: "standard deviation of the last position's logits over the vocabulary",
  unit: "logits",
  points: () => [{ point: "logits", as: "last" }],
  reduce: (x) => std(lastLogits(x)),
} satisfies PromptMeasure;
