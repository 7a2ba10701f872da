/** The residual gain of each layer without position 0: the control for a first-token massive activation. */
import { everyLayer, normRatio, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.gain_ex0",
  description: "residual gain of each layer over every position but the first; not a number on one-token prompts",
  unit: "ratio",
  points: everyLayer("sumsq", "resid_pre", "resid_post"),
  reduce: (x) => normRatio(x, "resid_post", "resid_pre", 1),
} satisfies PromptMeasure;
