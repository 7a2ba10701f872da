/** ‖resid_post.L[p]‖ per layer and position: where a massive activation sits. */
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.position_norm",
  description: "norm of each position's residual vector after each layer",
  unit: "L2 norm",
  points: everyLayer("sumsq", "resid_post"),
  reduce: (x) => Array.from({ length: x.layers }, (_, L) => Array.from(x.read(`resid_post.${L}`, "sumsq"), Math.sqrt)),
  // Prompts differ in length: the set is represented by its first prompt (the notebook's).
  aggregate: (perPrompt) => perPrompt[0],
  figure: {
    kind: "positions",
    title: "Per-position residual norm",
    caption: "‖resid_post.L[p]‖ on the first prompt; position 0 is the first token.",
    log: true,
  },
} satisfies PromptMeasure;
