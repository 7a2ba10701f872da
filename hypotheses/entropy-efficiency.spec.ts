/**
 * Entropy efficiency: "Mistral's output is already sharp, so it needs no
 * explosion." Judged on the last token's softmax entropy over the whole prompt
 * set, with a bootstrap CI of the difference from each baseline.
 */
import { describe, it } from "vitest";
import { meanDifferenceCI } from "../probes/metrics.js";
import { BOOTSTRAP, ENTROPY_MAX_RATIO, ENTROPY_VOCAB_RATIO_NOTE } from "./criteria.js";
import { judge, roles } from "./roles.js";

describe("entropy-efficiency", () => {
  it("the subject's mean last-token entropy is at most 0.8x each baseline's, CI of the difference below 0", ({
    task,
    skip,
  }) => {
    const { subjects, pairs, missing } = roles(true);
    if (missing) return skip(missing);
    const rows = pairs.map(([s, b]) => {
      const hs = s.prompts.map((p) => p.logits.entropy),
        hb = b.prompts.map((p) => p.logits.entropy);
      const ratio = s.promptSet.entropy / b.promptSet.entropy;
      const diff = meanDifferenceCI(hs, hb, BOOTSTRAP);
      return {
        subject: s.id,
        baseline: b.id,
        value: ratio,
        ci: [diff.lo, diff.hi] as [number, number],
        passed: ratio <= ENTROPY_MAX_RATIO && diff.hi < 0,
        detail: `mean entropy ${s.promptSet.entropy.toFixed(3)} vs ${b.promptSet.entropy.toFixed(3)} nats (÷ ln V: ${s.promptSet.entropyNormalized.toFixed(3)} vs ${b.promptSet.entropyNormalized.toFixed(3)}); difference ${diff.estimate.toFixed(3)}, 95% CI [${diff.lo.toFixed(3)}, ${diff.hi.toFixed(3)}] over ${hs.length} prompts${Math.max(s.vocab, b.vocab) / Math.min(s.vocab, b.vocab) > ENTROPY_VOCAB_RATIO_NOTE ? `; the vocabularies differ more than ${ENTROPY_VOCAB_RATIO_NOTE}x (${s.vocab} vs ${b.vocab}): raw entropies are bounded by different ln V` : ""}`,
      };
    });
    judge(
      { task, skip },
      {
        hypothesis: "entropy-efficiency",
        criterion: `mean entropy ratio ≤ ${ENTROPY_MAX_RATIO} and CI of the difference excludes 0`,
        threshold: ENTROPY_MAX_RATIO,
        why: "a fifth sharper than each baseline, beyond prompt-to-prompt noise",
        ciOf: "the entropy difference, subject − baseline (nats)",
        rows,
        passed: rows.every((r) => r.passed),
        singlePrompt: subjects.some((s) => s.prompts.length === 1),
        note: subjects.some((s) => s.prompts.length === 1) ? "This verdict rests on a single prompt." : undefined,
      },
    );
  });
});
