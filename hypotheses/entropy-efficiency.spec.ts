/**
 * Entropy efficiency: "Mistral's output is already sharp, so it needs no
 * explosion." Judged on the last token's softmax entropy over the whole prompt
 * set: the ratio of mean entropies, with a bootstrap CI, against each baseline.
 */
import { describe, it } from "vitest";
import { ENTROPY_MAX_RATIO, ENTROPY_VOCAB_RATIO_NOTE } from "./criteria.js";
import { family } from "./family.js";
import { compare, measure } from "./measures.js";
import { roles } from "./roles.js";

describe("entropy-efficiency", { meta: { claim: "the subject's output is already sharp" } }, () => {
  const predictions = family();
  const sharp = predictions.plan(() => {
    const { subjects, pairs, missing } = roles(true);
    if (missing) return { skip: missing };
    const rows = compare(pairs, "logits.entropy", {
      by: "ratio",
      claim: { below: ENTROPY_MAX_RATIO },
      detail: ({ subject: s, baseline: b, ...c }) => {
        const lnv = (r: typeof s) => measure(r, "logits.entropy_lnv").value.toFixed(3);
        const vocabs =
          Math.max(s.vocab, b.vocab) / Math.min(s.vocab, b.vocab) > ENTROPY_VOCAB_RATIO_NOTE
            ? `; the vocabularies differ more than ${ENTROPY_VOCAB_RATIO_NOTE}x (${s.vocab} vs ${b.vocab}): raw entropies are bounded by different ln V`
            : "";
        return `mean entropy ${c.s.toFixed(3)} vs ${c.b.toFixed(3)} nats (÷ ln V: ${lnv(s)} vs ${lnv(b)}); difference ${c.difference.toFixed(3)} over ${c.prompts} prompts${vocabs}`;
      },
    });
    const single = subjects.some((s) => s.prompts.length === 1);
    return {
      hypothesis: "entropy-efficiency",
      criterion: `mean entropy ratio, CI below ${ENTROPY_MAX_RATIO}`,
      threshold: ENTROPY_MAX_RATIO,
      why: "a fifth sharper than each baseline, beyond prompt-to-prompt noise",
      ciOf: "the ratio of mean entropies, subject ÷ baseline",
      rows,
      singlePrompt: single,
      note: single ? "This verdict rests on a single prompt." : undefined,
    };
  });

  it("the subject's mean last-token entropy is at most 0.8x each baseline's, CI of the ratio below 0.8", (ctx) =>
    predictions.judge(ctx, sharp));
});
