/**
 * Silent exit: "Mistral hides the expansion in a statically large W_U."
 * W_U_eff (W_U with the final norm's gain folded in) is the fair comparison:
 * the final norm rescales every direction before W_U reads it, so a raw W_U can
 * look large or small only because the gain absorbed the difference. Spectral
 * norms are compared normalised by √d, since the models differ in width.
 */
import { describe, it } from "vitest";
import { SILENT_EXIT_MIN_RATIO } from "./criteria.js";
import { judge, roles } from "./roles.js";

describe("silent-exit", () => {
  it("the subject's W_U_eff spectral norm (÷√d) is at least 1.72x every baseline's", ({ task, skip }) => {
    const { pairs, missing } = roles(true);
    if (missing) return skip(missing);
    const rows = pairs.map(([s, b]) => {
      const value = s.seed.unembedding_eff.spectral_normalized / b.seed.unembedding_eff.spectral_normalized;
      const raw = s.seed.unembedding.spectral_norm / b.seed.unembedding.spectral_norm;
      return { subject: s.id, baseline: b.id, value, passed: value >= SILENT_EXIT_MIN_RATIO, detail: `raw W_U spectral ratio ${raw.toFixed(3)}; σ(W_U_eff)/√d ${s.seed.unembedding_eff.spectral_normalized.toFixed(4)} vs ${b.seed.unembedding_eff.spectral_normalized.toFixed(4)}` };
    });
    judge({ task, skip }, {
      hypothesis: "silent-exit",
      criterion: `σ(W_U_eff)/√d of subject ÷ baseline ≥ ${SILENT_EXIT_MIN_RATIO.toFixed(2)}`,
      threshold: SILENT_EXIT_MIN_RATIO,
      why: "to stand in for the missing 1/0.58 expansion, W_U must amplify by at least that much more than the baselines' do",
      rows, passed: rows.every((r) => r.passed),
      note: "Matrix norms are properties of the weights: no prompt enters this criterion.",
    });
  });
});
