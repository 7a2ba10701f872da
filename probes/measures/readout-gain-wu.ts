/** The softmax-relevant gain of W_U alone, without the final norm's gain. */
import { softmaxGain } from "../metrics.js";
import type { WeightMeasure } from "./measure.js";

export default {
  name: "readout.gain_wu",
  description: "W_U alone (without the final norm's gain) with its mean row removed, RMS over rows",
  unit: "logits per unit RMS",
  weights: (w) => softmaxGain(w.W_U, w.rows, w.cols),
} satisfies WeightMeasure;
