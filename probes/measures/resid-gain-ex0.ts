/** The residual gain of each layer without position 0: the control for a first-token massive activation. */
import { frobenius } from "../metrics.js";
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.gain_ex0",
  description: "residual gain of each layer over every position but the first; not a number on one-token prompts",
  unit: "ratio",
  points: everyLayer("resid_pre", "resid_post"),
  reduce: (x) =>
    Array.from(
      { length: x.layers },
      (_, L) =>
        frobenius(x.tensor(`resid_post.${L}`).subarray(x.d)) / frobenius(x.tensor(`resid_pre.${L}`).subarray(x.d)),
    ),
} satisfies PromptMeasure;
