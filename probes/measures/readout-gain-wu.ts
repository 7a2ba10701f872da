/** The softmax-relevant gain of W_U alone, without the final norm's gain. */
import type { WeightMeasure } from "./measure.js";

export default {
  name: "readout.gain_wu",
  description: "W_U alone (without the final norm's gain) with its mean row removed, RMS over rows",
  unit: "logits per unit RMS",
  weights: (w) => w.softmaxGain("W_U"),
} satisfies WeightMeasure;
