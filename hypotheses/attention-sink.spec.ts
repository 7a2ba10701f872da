/**
 * Attention sink: "the subject's first-token massive activation goes with an
 * attention sink: in the last half of the layers, heads put at least half of
 * their attention mass on position 0, on average over query positions."
 * Read from the attention probabilities (measure pattern.first_key_mass). Where
 * attention is one fused op (GroupQueryAttention, MultiHeadAttention, ONNX
 * Attention), the probabilities are never a tensor of the graph: the prediction
 * is inconclusive for that model, and says so.
 */
import { describe, it } from "vitest";
import { mean } from "../probes/metrics.js";
import { family } from "./family.js";
import { meanTest, perPrompt, rowsOf } from "./measures.js";
import { roles } from "./roles.js";

/** "At least half of their attention mass": position 0 draws more than every other key together. */
const SINK_MIN_MASS = 0.5;
/** The last half of the layers: from ⌊L/2⌋ on, where the subject's last layer removes the activation. */
const lastHalf = (layers: number) => Math.floor(layers / 2);

describe(
  "attention-sink",
  { meta: { claim: "the first-token massive activation goes with an attention sink in the last half of the layers" } },
  () => {
    const predictions = family();
    const sink = predictions.plan(() => {
      const { subjects, missing } = roles(false);
      if (missing) return { skip: missing };
      const rows = rowsOf(
        subjects,
        (s) => ({ subject: s.id }),
        (s) => {
          const from = lastHalf(s.layers);
          const mass = perPrompt<number[]>(s, "pattern.first_key_mass", (v) => mean(v.slice(from)));
          return {
            ...meanTest(mass, { atLeast: SINK_MIN_MASS }),
            detail: `layers ${from}–${s.layers - 1}, mean over heads, query positions after the first and ${mass.length} prompts`,
          };
        },
      );
      return {
        hypothesis: "attention-sink",
        criterion: `attention on position 0 over the last half of the layers, CI at or above ${SINK_MIN_MASS}`,
        threshold: SINK_MIN_MASS,
        why: "a sink draws more attention than every other key together",
        rows,
      };
    });

    it("in the last half of the layers, the subject's heads put at least half of their attention on position 0", (ctx) =>
      predictions.judge(ctx, sink));
  },
);
