/**
 * The notebook's residual-stream statistics: the norms after each layer, the gains between
 * them, how many contract, the largest. The notebook had one prompt: the run's value is the
 * prompt set's first, the notebook's own; each prompt's is kept.
 */
import { everyLayer, residualStats, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.stream",
  description:
    "the notebook's residual statistics on its prompt: norms ‖resid_post.L‖, gains between layers, % contracting, last and largest gain, expanding layers",
  unit: "L2 norm, ratio",
  points: everyLayer("sumsq", "resid_pre", "resid_post"),
  reduce: (x) => residualStats(x),
  aggregate: (perPrompt) => perPrompt[0],
} satisfies PromptMeasure;
