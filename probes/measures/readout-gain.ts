/**
 * The readout's softmax-relevant gain (metrics.softmaxGain) of W_U_eff, W_U with the final
 * norm's gain folded in: the RMS spread of the logits a unit-RMS direction produces.
 */
import type { WeightMeasure } from "./measure.js";

export default {
  name: "readout.gain",
  description: "W_U_eff (W_U with the final norm's gain) with its mean row removed, RMS over rows",
  unit: "logits per unit RMS",
  weights: (w) => w.softmaxGain("W_U_eff"),
  figure: {
    kind: "models",
    title: "Readout gain",
    caption: "‖W_U_eff − mean row‖_F / √vocab: invariant to vocabulary size, width and common shifts.",
  },
} satisfies WeightMeasure;
