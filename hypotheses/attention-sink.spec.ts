/**
 * Attention sink: "the subject's first-token massive activation goes with an
 * attention sink: in the last half of the layers, heads favour position 0 well
 * beyond what uniform causal attention gives it, on average over query positions."
 * Read from the attention probabilities (measure pattern.first_key_vs_uniform).
 * Where attention is one fused op (GroupQueryAttention, MultiHeadAttention, ONNX
 * Attention), the probabilities are never a tensor of the graph: the prediction
 * is inconclusive for that model, and says so.
 */
import { describe, it } from "vitest";
import { mean } from "../probes/metrics.js";
import { SINK_FROM_FRACTION, SINK_MIN_RATIO, shown } from "./criteria.js";
import { family } from "./family.js";
import { measure, meanTest, perPrompt, rowsOf } from "./measures.js";
import { roles } from "./roles.js";

const bound = shown(SINK_MIN_RATIO);
const from = (layers: number) => Math.floor(layers * SINK_FROM_FRACTION);

describe(
  "attention-sink",
  { meta: { claim: "the first-token massive activation goes with an attention sink in the last half of the layers" } },
  () => {
    const predictions = family();
    const sink = predictions.plan(() => {
      const { subjects, cohorts } = roles(false);
      const rows = rowsOf(
        subjects,
        (s) => ({ subject: s.id }),
        (s) => {
          const first = from(s.layers);
          const late = (v: number[]) => mean(v.slice(first));
          const ratio = perPrompt<number[]>(s, "pattern.first_key_vs_uniform", late);
          const mass = late(measure<number[]>(s, "pattern.first_key_mass").value);
          return {
            ...meanTest(ratio, { atLeast: SINK_MIN_RATIO }),
            detail: `layers ${first}–${s.layers - 1}, mean over heads, query positions after the first and ${ratio.length} prompts; attention on position 0 ${mass.toFixed(3)}`,
          };
        },
      );
      return {
        hypothesis: "attention-sink",
        cohorts,
        criterion: `attention on position 0 ÷ its uniform causal share over the last half of the layers, CI at or above ${bound}`,
        threshold: SINK_MIN_RATIO,
        why: `a sink draws at least ${bound}x the attention that uniform causal attention (1/(q+1) at query q) gives position 0 on the same prompts`,
        ciOf: "the mean ratio to the uniform share",
        rows,
      };
    });

    it(`in the last half of the layers, the subject's heads put at least ${bound}x their uniform causal share of attention on position 0`, (ctx) =>
      predictions.judge(ctx, sink));
  },
);
