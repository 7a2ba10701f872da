/** The MLP's component gain, ‖mlp_out.L‖ / ‖mlp_in.L‖: the kind of the published 0.58x. */
import { everyLayer, normRatio, type PromptMeasure } from "./measure.js";

export default {
  name: "mlp.gain",
  description: "component gain of the MLP, ‖mlp_out.L‖ / ‖mlp_in.L‖ (the kind of the published 0.58x)",
  unit: "ratio",
  points: everyLayer("sumsq", "mlp_in", "mlp_out"),
  reduce: (x) => normRatio(x, "mlp_out", "mlp_in"),
  figure: {
    kind: "layers",
    title: "MLP component gain per layer",
    caption: "‖mlp_out.L‖ / ‖mlp_in.L‖, mean over the prompt set: a component gain, not the residual gain.",
    log: true,
    rule: 1,
  },
} satisfies PromptMeasure;
