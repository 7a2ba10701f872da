/** The notebook's 8 statistics of the last position's logits. */
import { logitStats } from "../metrics.js";
import { lastLogits, type PromptMeasure } from "./measure.js";

export default {
  name: "logits.stats",
  description:
    "the notebook's statistics of the last position's logits: mean, std, max, min, range, entropy, exp(entropy), top-10 mass",
  unit: "logits, nats",
  points: () => [{ point: "logits", as: "last" }],
  reduce: (x) => ({ ...logitStats(lastLogits(x)) }),
} satisfies PromptMeasure;
