/** The notebook's wu_we_ratio: how much larger the unembedding is than the embedding. */
import type { WeightMeasure } from "./measure.js";

export default {
  name: "matrix.wu_we_ratio",
  description: "‖W_U‖_F / ‖W_E‖_F, the notebook's wu_we_ratio",
  unit: "ratio",
  weights: async (w) => (await w.stats("W_U")).frobenius_norm / (await w.stats("W_E")).frobenius_norm,
} satisfies WeightMeasure;
