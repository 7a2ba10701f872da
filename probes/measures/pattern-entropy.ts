/**
 * The entropy of each head's attention distribution per layer, in nats: how
 * spread a query's attention is over the keys it may see, mean over heads and
 * query positions. A head that attends to one key reads 0; uniform attention
 * over q + 1 keys reads ln(q + 1).
 */
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "pattern.entropy",
  description: "entropy of each head's attention over the keys, mean over heads and query positions",
  unit: "nats",
  points: everyLayer("row_entropy", "pattern"),
  reduce: (x) =>
    Array.from({ length: x.layers }, (_, L) => {
      const h = x.read(`pattern.${L}`, "row_entropy"); // [heads, seq]: each query's entropy over the keys
      return h.reduce((a, b) => a + b, 0) / h.length;
    }),
  figure: {
    kind: "layers",
    title: "Attention entropy per layer",
    caption: "Entropy of each head's attention over the keys (nats), mean over heads and queries and the prompt set.",
  },
} satisfies PromptMeasure;
