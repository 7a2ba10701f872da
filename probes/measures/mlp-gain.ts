/** The MLP's component gain, ‖mlp_out.L‖ / ‖mlp_in.L‖: the kind of the published 0.58x. */
import { frobenius } from "../metrics.js";
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "mlp.gain",
  description: "component gain of the MLP, ‖mlp_out.L‖ / ‖mlp_in.L‖ (the kind of the published 0.58x)",
  unit: "ratio",
  points: everyLayer("mlp_in", "mlp_out"),
  reduce: (x) =>
    Array.from(
      { length: x.layers },
      (_, L) => frobenius(x.tensor(`mlp_out.${L}`)) / frobenius(x.tensor(`mlp_in.${L}`)),
    ),
  figure: {
    kind: "layers",
    title: "MLP component gain per layer",
    caption: "‖mlp_out.L‖ / ‖mlp_in.L‖, mean over the prompt set: a component gain, not the residual gain.",
    log: true,
    rule: 1,
  },
} satisfies PromptMeasure;
