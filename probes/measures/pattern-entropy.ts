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
  points: everyLayer("pattern"),
  reduce: (x) =>
    Array.from({ length: x.layers }, (_, L) => {
      const p = x.tensor(`pattern.${L}`); // [1, heads, seq, seq]
      const rows = p.length / x.seq;
      let sum = 0;
      for (let r = 0; r < rows; r++)
        for (let k = r * x.seq; k < (r + 1) * x.seq; k++) if (p[k] > 0) sum -= p[k] * Math.log(p[k]);
      return sum / rows;
    }),
  figure: {
    kind: "layers",
    title: "Attention entropy per layer",
    caption: "Entropy of each head's attention over the keys (nats), mean over heads and queries and the prompt set.",
  },
} satisfies PromptMeasure;
