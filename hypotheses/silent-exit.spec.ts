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
import { mean, meanRatioCI } from "../probes/metrics.js";
import { BOOTSTRAP, SILENT_EXIT_MIN_RATIO } from "./criteria.js";
import { judge, roles } from "./roles.js";

describe("silent-exit", () => {
  it("the subject's readout gain (W_U_eff, mean row removed, RMS over rows) is at least 1.72x every baseline's", ({
    task,
    skip,
  }) => {
    const { pairs, missing } = roles(true);
    if (missing) return skip(missing);
    const rows = pairs.map(([s, b]) => {
      const value = s.softmaxGain.W_U_eff / b.softmaxGain.W_U_eff;
      const spectral = s.seed.unembedding_eff.spectral_normalized / b.seed.unembedding_eff.spectral_normalized;
      return {
        subject: s.id,
        baseline: b.id,
        value,
        passed: value >= SILENT_EXIT_MIN_RATIO,
        detail: `readout gain ${s.softmaxGain.W_U_eff.toFixed(4)} vs ${b.softmaxGain.W_U_eff.toFixed(4)}; W_U alone (without the final norm's gain) ${(s.softmaxGain.W_U / b.softmaxGain.W_U).toFixed(3)}×; seed-compatible σ(W_U_eff)/√d ratio ${spectral.toFixed(3)} (vocabularies ${s.vocab} vs ${b.vocab})`,
      };
    });
    judge(
      { task, skip },
      {
        hypothesis: "silent-exit",
        criterion: `readout gain of subject ÷ baseline ≥ ${SILENT_EXIT_MIN_RATIO.toFixed(2)}`,
        threshold: SILENT_EXIT_MIN_RATIO,
        why: "to stand in for the missing 1/0.58 expansion, the readout must spread the logits by at least that much more than the baselines' do",
        rows,
        passed: rows.every((r) => r.passed),
        note: "A property of the weights: no prompt enters this criterion.",
      },
    );
  });

  it("dynamic: the spread of the subject's last-position logits is at least 1.72x every baseline's, bootstrap CI over the prompt set", ({
    task,
    skip,
  }) => {
    const { pairs, missing } = roles(true);
    if (missing) return skip(missing);
    const rows = pairs.map(([s, b]) => {
      const spread = (r: typeof s) => r.prompts.map((p) => p.logits.logit_std);
      const ci = meanRatioCI(spread(s), spread(b), BOOTSTRAP);
      return {
        subject: s.id,
        baseline: b.id,
        value: ci.estimate,
        ci: [ci.lo, ci.hi] as [number, number],
        passed: ci.estimate >= SILENT_EXIT_MIN_RATIO,
        detail: `mean std of the last position's logits ${mean(spread(s)).toFixed(3)} vs ${mean(spread(b)).toFixed(3)} over ${s.prompts.length} prompts`,
      };
    });
    judge(
      { task, skip },
      {
        hypothesis: "silent-exit",
        criterion: `mean logit spread of subject ÷ baseline ≥ ${SILENT_EXIT_MIN_RATIO.toFixed(2)}`,
        threshold: SILENT_EXIT_MIN_RATIO,
        why: "the readout gain in use: how widely the logits actually spread on real prompts",
        ciOf: "the ratio of mean logit spreads",
        rows,
        passed: rows.every((r) => r.passed),
      },
    );
  });
});
