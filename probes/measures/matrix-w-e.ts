/** The notebook's statistics of the token embedding W_E. */
import type { WeightMeasure } from "./measure.js";

export default {
  name: "matrix.w_e",
  description: "the notebook's 12 statistics of W_E (the token embedding, before any embedding scale)",
  unit: "norms",
  weights: async (w) => ({ ...(await w.stats("W_E")) }),
} satisfies WeightMeasure;
