/**
 * Silent exit: "Mistral hides the expansion in a statically large W_U."
 * Judged on the readout's softmax-relevant gain (criteria.ts says why): W_U_eff
 * (W_U with the final norm's gain folded in, since that gain rescales every
 * direction before W_U reads it) with its mean row removed, RMS over the rows.
 * Vocabulary size, width and shifts that softmax ignores cannot move it; the
 * notebook's spectral norms (÷√d) stay beside it as the seed-compatible view.
 * The second prediction is the same claim measured on the prompts: the spread of
 * the last position's logits across the vocabulary.
 */
import { describe, it } from "vitest";
import { SILENT_EXIT_MIN_RATIO, shown } from "./criteria.js";
import { family } from "./family.js";
import { compare, measure } from "./measures.js";
import { roles } from "./roles.js";

const bound = shown(SILENT_EXIT_MIN_RATIO);

describe("silent-exit", { meta: { claim: "the expansion hides in a statically large W_U" } }, () => {
  const predictions = family();
  const readout = predictions.plan(() => {
    const { pairs, cohorts } = roles(true);
    const rows = compare(pairs, "readout.gain", {
      by: "ratio",
      claim: { atLeast: SILENT_EXIT_MIN_RATIO },
      detail: ({ subject: s, baseline: b, ...c }) => {
        const alone = measure(s, "readout.gain_wu").value / measure(b, "readout.gain_wu").value;
        const σ = (r: typeof s) =>
          measure<{ spectral_normalized: number }>(r, "matrix.w_u_eff").value.spectral_normalized;
        const spectral = σ(s) / σ(b);
        return `readout gain ${c.s.toFixed(4)} vs ${c.b.toFixed(4)}; W_U alone (without the final norm's gain) ${alone.toFixed(3)}×; seed-compatible σ(W_U_eff)/√d ratio ${spectral.toFixed(3)} (vocabularies ${s.vocab} vs ${b.vocab})`;
      },
    });
    return {
      hypothesis: "silent-exit",
      cohorts,
      criterion: `readout gain of subject ÷ baseline ≥ ${bound}`,
      threshold: SILENT_EXIT_MIN_RATIO,
      why: `to stand in for the missing last-layer expansion, the readout must spread the logits by at least ${bound}x more than the baselines' do`,
      rows,
      note: "A property of the weights: no prompt enters this criterion.",
    };
  });

  const dynamic = predictions.plan(() => {
    const { pairs, cohorts } = roles(true);
    const rows = compare(pairs, "logits.spread", {
      by: "ratio",
      claim: { atLeast: SILENT_EXIT_MIN_RATIO },
      detail: (c) =>
        `mean std of the last position's logits ${c.s.toFixed(3)} vs ${c.b.toFixed(3)} over ${c.prompts} prompts`,
    });
    return {
      hypothesis: "silent-exit",
      cohorts,
      criterion: `mean logit spread of subject ÷ baseline, CI at or above ${bound}`,
      threshold: SILENT_EXIT_MIN_RATIO,
      why: "the readout gain in use: how widely the logits actually spread on real prompts",
      rows,
    };
  });

  it(`the subject's readout gain (W_U_eff, mean row removed, RMS over rows) is at least ${bound}x every baseline's`, (ctx) =>
    predictions.judge(ctx, readout));
  it(`dynamic: the spread of the subject's last-position logits is at least ${bound}x every baseline's, bootstrap CI over the prompt set`, (ctx) =>
    predictions.judge(ctx, dynamic));
});
