/** The attention branch's component gain, ‖attn_out.L‖ / ‖resid_pre.L‖. */
import { everyLayer, normRatio, type PromptMeasure } from "./measure.js";

export default {
  name: "attn.gain",
  description: "component gain of attention, ‖attn_out.L‖ / ‖resid_pre.L‖",
  unit: "ratio",
  points: everyLayer("sumsq", "resid_pre", "attn_out"),
  reduce: (x) => normRatio(x, "attn_out", "resid_pre"),
} satisfies PromptMeasure;
