/** The notebook's statistics of W_U_eff: W_U with the final norm's gain folded in (Gemma's is 1 + w). */
import type { WeightMeasure } from "./measure.js";

export default {
  name: "matrix.w_u_eff",
  description: "the notebook's 12 statistics of W_U_eff = W_U · diag(final norm gain)",
  unit: "norms",
  weights: async (w) => ({ ...(await w.stats("W_U_eff")) }),
} satisfies WeightMeasure;
