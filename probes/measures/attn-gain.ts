/** The attention branch's component gain, ‖attn_out.L‖ / ‖resid_pre.L‖. */
import { frobenius } from "../metrics.js";
import { everyLayer, type PromptMeasure } from "./measure.js";

export default {
  name: "attn.gain",
  description: "component gain of attention, ‖attn_out.L‖ / ‖resid_pre.L‖",
  unit: "ratio",
  points: everyLayer("resid_pre", "attn_out"),
  reduce: (x) =>
    Array.from(
      { length: x.layers },
      (_, L) => frobenius(x.tensor(`attn_out.${L}`)) / frobenius(x.tensor(`resid_pre.${L}`)),
    ),
} satisfies PromptMeasure;
