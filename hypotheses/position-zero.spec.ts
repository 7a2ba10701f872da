/**
 * Position zero: "the last layer's whole-tensor contraction is caused by position 0." A causal claim, judged by an
 * intervention within each model (probes/intervene.ts): at the last layer's input, resid_pre.(L−1), position 0's
 * vector is replaced by the mean of the prompt's other positions, and the whole-tensor gain of that intervened pass
 * (resid.last_gain_pos0_mean) is set beside the plain one (resid.gain's last layer). The claim holds where the plain
 * pass contracts and the intervened one does not: two parts of one row, each judged by its bootstrap over prompts.
 */
import { describe, it } from "vitest";
import type { ProbeResult } from "../probes/probe.js";
import { PARADOX_MAX_GAIN, shown } from "./criteria.js";
import { family } from "./family.js";
import { lastLayer, meanTest, perPrompt, rowsOf } from "./measures.js";
import { roles } from "./roles.js";

const bound = shown(PARADOX_MAX_GAIN);

describe("position-zero", { meta: { claim: "the last layer's contraction is caused by position 0" } }, () => {
  const predictions = family();

  const ablation = predictions.plan(() => {
    const { subjects, cohorts } = roles(false);
    const rows = rowsOf(
      subjects,
      (s: ProbeResult) => ({ subject: s.id }),
      (s) => {
        const plain = perPrompt<number[]>(s, "resid.gain", lastLayer);
        const intervened = perPrompt(s, "resid.last_gain_pos0_mean");
        const parts = [
          {
            ...meanTest(plain, { below: PARADOX_MAX_GAIN }),
            detail: `plain pass: the last layer's gain, below ${bound}`,
          },
          {
            ...meanTest(intervened, { atLeast: PARADOX_MAX_GAIN }),
            detail: `position 0 replaced by the mean of the others at resid_pre.${s.layers - 1}: the gain, at or above ${bound}`,
          },
        ];
        return {
          value: parts[1].value,
          parts,
          detail: `mean last-layer gain ${parts[0].value.toFixed(3)} plain, ${parts[1].value.toFixed(3)} with position 0 replaced by the mean of the others`,
        };
      },
    );
    return {
      hypothesis: "position-zero",
      cohorts,
      criterion: `mean whole-tensor last-layer gain, CI below ${bound} in the plain pass and at or above ${bound} with position 0 replaced at its input by the mean of the prompt's other positions`,
      threshold: PARADOX_MAX_GAIN,
      why: `a gain below ${bound} is a contraction; if position 0 causes it, replacing that one vector by an ordinary one ends it`,
      ciOf: "the mean gain of the part shown",
      rows,
    };
  });

  it(`replacing position 0 by the mean of the other positions at the last layer's input lifts its gain from below ${bound} to at least ${bound}`, (ctx) =>
    predictions.judge(ctx, ablation));
});
