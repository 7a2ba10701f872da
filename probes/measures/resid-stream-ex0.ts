/** resid.stream without position 0, whose massive activation dominates a whole-tensor norm (DESIGN.md). */
import { everyLayer, residualStats, type PromptMeasure } from "./measure.js";

export default {
  name: "resid.stream_ex0",
  description: "the notebook's residual statistics on its prompt, every norm taken without position 0",
  unit: "L2 norm, ratio",
  points: everyLayer("sumsq", "resid_pre", "resid_post"),
  reduce: (x) => residualStats(x, 1),
  aggregate: (perPrompt) => perPrompt[0],
} satisfies PromptMeasure;
