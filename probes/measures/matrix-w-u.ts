/** The notebook's statistics of the unembedding W_U, [vocab, d] whatever the graph stores. */
import type { WeightMeasure } from "./measure.js";

export default {
  name: "matrix.w_u",
  description: "the notebook's 12 statistics of W_U: Frobenius and spectral norms, row norms, |w| moments",
  unit: "norms",
  weights: async (w) => ({ ...(await w.stats("W_U")) }),
} satisfies WeightMeasure;
