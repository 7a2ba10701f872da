/**
 * The synthetic cohort is a check of the harness: each planted subject's
 * verdicts, read from its own rows, against the verdicts its preset says its
 * plants must produce. It passes when every one came out as planted.
 */
import type { PlantedSubject } from "../contract/run-file.js";
import { judgeHypothesis, type HypothesisOutcome, type Verdict } from "./verdicts.js";

export interface HarnessCheck {
  /** Checks that came out as planted, of all. */
  asPlanted: number;
  total: number;
  subjects: (PlantedSubject & { got: Record<string, { verdict: Verdict; reason: string }> })[];
  /** What differed, one sentence each: subject, hypothesis, planted and got. */
  differences: string[];
}

export function harnessCheck(outcomes: readonly HypothesisOutcome[], planted: readonly PlantedSubject[]): HarnessCheck {
  let asPlanted = 0,
    total = 0;
  const differences: string[] = [];
  const subjects = planted.map((s) => {
    const got: Record<string, { verdict: Verdict; reason: string }> = {};
    for (const [hypothesis, expected] of Object.entries(s.expects)) {
      const h = outcomes.find((x) => x.hypothesis === hypothesis);
      // A hypothesis this run did not judge (a filtered run) is no check.
      if (!h) continue;
      // This subject's own rows in the synthetic cohort; without them, an error that stopped the spec holds for it
      // too, and anything else is no evidence of the plant.
      const v = judgeHypothesis(h, { rows: (r) => r.subject === s.id });
      const own =
        v.cohorts.find((c) => c.cohort === "synthetic") ??
        (v.verdict === "error"
          ? { verdict: v.verdict, reason: v.reason }
          : { verdict: "inconclusive" as Verdict, reason: "it has no rows of its own in this run" });
      got[hypothesis] = { verdict: own.verdict, reason: own.reason };
      total++;
      if (own.verdict === expected) asPlanted++;
      else
        differences.push(
          `${s.id} (preset ${s.preset}): ${hypothesis} planted ${expected}, got ${own.verdict}: ${own.reason}`,
        );
    }
    return { ...s, got };
  });
  return { asPlanted, total, subjects, differences };
}

/** The check in one line: "harness check: 4 of 4 as planted", or how many differed. */
export const harnessLine = (h: HarnessCheck) =>
  h.differences.length
    ? `harness check FAILED: ${h.asPlanted} of ${h.total} as planted`
    : `harness check: ${h.asPlanted} of ${h.total} as planted`;
