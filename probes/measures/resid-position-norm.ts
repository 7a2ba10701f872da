/** ‖resid_post.L[p]‖ per layer and position: where a massive activation sits. */
import { positionNorms } from "../metrics.js";
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.position_norm",
  description: "norm of each position's residual vector after each layer",
  unit: "L2 norm",
  points: everyLayer("resid_post"),
  reduce: (x) => Array.from({ length: x.layers }, (_, L) => positionNorms(x.tensor(`resid_post.${L}`), x.d)),
  // Prompts differ in length: the set is represented by its first prompt (the notebook's).
  aggregate: (perPrompt) => perPrompt[0],
  figure: {
    kind: "positions",
    title: "Per-position residual norm",
    caption: "‖resid_post.L[p]‖ on the first prompt; position 0 is the first token.",
    log: true,
  },
} satisfies PromptMeasure;
