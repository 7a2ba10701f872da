/** The residual gain of each layer, ‖resid_post.L‖ / ‖resid_pre.L‖, whole tensor (the notebook's definition). */
import { everyLayer, normRatio, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.gain",
  description: "residual gain of each layer, ‖resid_post.L‖ / ‖resid_pre.L‖ over the whole [1, seq, d] tensor",
  unit: "ratio",
  points: everyLayer("sumsq", "resid_pre", "resid_post"),
  reduce: (x) => normRatio(x, "resid_post", "resid_pre"),
} satisfies PromptMeasure;
