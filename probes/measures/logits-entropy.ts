/** The softmax entropy of the last position's logits, in nats (the notebook's −Σ p·log(p + 1e-10)). */
import { entropy } from "../metrics.js";
import { lastLogits, type PromptMeasure } from "./measure.js";

export default {
  name: "logits.entropy",
  description: "softmax entropy of the last position's logits",
  unit: "nats",
  points: () => [{ point: "logits", as: "last" }],
  reduce: (x) => entropy(lastLogits(x)),
} satisfies PromptMeasure;
