/**
 * Entropy efficiency: "Mistral's output is already sharp, so it needs no
 * explosion." Judged on the last token's softmax entropy over the whole prompt
 * set, with a bootstrap CI of the difference from each baseline.
 */
import { describe, it } from "vitest";
import { ENTROPY_MAX_RATIO, ENTROPY_VOCAB_RATIO_NOTE } from "./criteria.js";
import { compare, measure } from "./measures.js";
import { judge, roles } from "./roles.js";

describe("entropy-efficiency", { meta: { claim: "the subject's output is already sharp" } }, () => {
  it("the subject's mean last-token entropy is at most 0.8x each baseline's, CI of the difference below 0", ({
    task,
    skip,
  }) => {
    const { subjects, pairs, missing } = roles(true);
    if (missing) return skip(missing);
    const rows = compare(pairs, "logits.entropy", {
      by: "ratio",
      ci: "difference",
      pass: (c) => c.ratio <= ENTROPY_MAX_RATIO && c.ci!.hi < 0,
      detail: ({ subject: s, baseline: b, ...c }) => {
        const lnv = (r: typeof s) => measure(r, "logits.entropy_lnv").value.toFixed(3);
        const vocabs =
          Math.max(s.vocab, b.vocab) / Math.min(s.vocab, b.vocab) > ENTROPY_VOCAB_RATIO_NOTE
            ? `; the vocabularies differ more than ${ENTROPY_VOCAB_RATIO_NOTE}x (${s.vocab} vs ${b.vocab}): raw entropies are bounded by different ln V`
            : "";
        return `mean entropy ${c.s.toFixed(3)} vs ${c.b.toFixed(3)} nats (÷ ln V: ${lnv(s)} vs ${lnv(b)}); difference ${c.difference.toFixed(3)}, 95% CI [${c.ci!.lo.toFixed(3)}, ${c.ci!.hi.toFixed(3)}] over ${c.prompts} prompts${vocabs}`;
      },
    });
    const single = subjects.some((s) => s.prompts.length === 1);
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
        singlePrompt: single,
        note: single ? "This verdict rests on a single prompt." : undefined,
      },
    );
  });
});
