/**
 * Entropy efficiency: "Mistral's output is already sharp, so it needs no
 * explosion." Judged on the last token's softmax entropy over the whole prompt
 * set, as a fraction of ln V so that vocabularies of different sizes share one
 * scale: the ratio of mean entropies, with a bootstrap CI, against each baseline.
 */
import { describe, it } from "vitest";
import { ENTROPY_MAX_RATIO, shown } from "./criteria.js";
import { family } from "./family.js";
import { compare, measure } from "./measures.js";
import { roles } from "./roles.js";

const bound = shown(ENTROPY_MAX_RATIO);

describe("entropy-efficiency", { meta: { claim: "the subject's output is already sharp" } }, () => {
  const predictions = family();
  const sharp = predictions.plan(() => {
    const { pairs, cohorts } = roles(true);
    const rows = compare(pairs, "logits.entropy_lnv", {
      by: "ratio",
      claim: { below: ENTROPY_MAX_RATIO },
      detail: ({ subject: s, baseline: b, ...c }) => {
        const raw = (r: typeof s) => measure(r, "logits.entropy").value.toFixed(3);
        return `mean entropy ÷ ln V ${c.s.toFixed(3)} vs ${c.b.toFixed(3)} (raw ${raw(s)} vs ${raw(b)} nats; vocabularies ${s.vocab} vs ${b.vocab}); difference ${c.difference.toFixed(3)} over ${c.prompts} prompts`;
      },
    });
    return {
      hypothesis: "entropy-efficiency",
      cohorts,
      criterion: `mean entropy ÷ ln V, subject ÷ baseline, CI below ${bound}`,
      threshold: ENTROPY_MAX_RATIO,
      why: `${bound}x each baseline's entropy, on the ln V scale that vocabularies of any size share, beyond prompt-to-prompt noise`,
      ciOf: "the ratio of mean entropies ÷ ln V, subject ÷ baseline",
      rows,
    };
  });

  it(`the subject's mean last-token entropy ÷ ln V is at most ${bound}x each baseline's, CI of the ratio below ${bound}`, (ctx) =>
    predictions.judge(ctx, sharp));
});
