/** Logit-lens entropy after each layer: resid_post.L's last position through the final norm and W_U. */
import { entropy } from "../metrics.js";
import type { PromptMeasure } from "./measure.js";

export default {
  name: "lens.entropy",
  description: "entropy of the logit lens at the last position after each layer",
  unit: "nats",
  points: () => ["lens"],
  reduce: (x) => Array.from({ length: x.layers }, (_, L) => entropy(x.lens(L))),
  figure: {
    kind: "layers",
    title: "Logit-lens entropy per layer",
    caption:
      "resid_post.L's last position through the final norm and W_U, in nats; mean over the prompt set. Raw entropies are bounded by ln V: compare models of one vocabulary only.",
  },
} satisfies PromptMeasure;
