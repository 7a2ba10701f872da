/** ‖resid_post.L‖ without position 0, whose massive activation dominates a whole-tensor norm. */
import { everyLayer, norm, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.norm_ex0",
  description: "norm of the residual stream after each layer without position 0 (the first token)",
  unit: "L2 norm",
  points: everyLayer("sumsq", "resid_post"),
  reduce: (x) => Array.from({ length: x.layers }, (_, L) => norm(x, `resid_post.${L}`, 1)),
} satisfies PromptMeasure;
