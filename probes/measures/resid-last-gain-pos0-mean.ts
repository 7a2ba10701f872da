/**
 * The last layer's whole-tensor residual gain when position 0 is replaced, at the layer's input, by the mean of the
 * prompt's other positions: whether the first token's massive activation causes the contraction resid.gain shows.
 * Both norms come from that intervened pass; a one-token prompt has no other position, and no value.
 */
import { norm, type PromptMeasure } from "./measure.js";

const last = (layers: number) => layers - 1;

export default {
  name: "resid.last_gain_pos0_mean",
  description:
    "last layer's residual gain ‖resid_post.(L−1)‖ / ‖resid_pre.(L−1)‖ over the whole tensor, with position 0 of resid_pre.(L−1) replaced by the mean of positions 1…n−1",
  unit: "ratio",
  points: (m) => [
    { point: `resid_pre.${last(m.layers)}`, as: "sumsq" },
    { point: `resid_post.${last(m.layers)}`, as: "sumsq" },
  ],
  intervention: (m) => ({ point: `resid_pre.${last(m.layers)}`, positions: "first", edit: { op: "mean" } }),
  reduce: (x) => (x.seq < 2 ? NaN : norm(x, `resid_post.${last(x.layers)}`) / norm(x, `resid_pre.${last(x.layers)}`)),
} satisfies PromptMeasure;
