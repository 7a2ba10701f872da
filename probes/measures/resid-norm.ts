/** ‖resid_post.L‖ over the whole [1, seq, d] tensor: the notebook's residual norms. */
import { everyLayer, norm, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.norm",
  description: "whole-tensor norm of the residual stream after each layer, ‖resid_post.L‖, before the final norm",
  unit: "L2 norm",
  points: everyLayer("sumsq", "resid_post"),
  reduce: (x) => Array.from({ length: x.layers }, (_, L) => norm(x, `resid_post.${L}`)),
} satisfies PromptMeasure;
