/**
 * The synthetic cohort is a check of the harness: each planted subject's
 * verdicts, read from its own rows, against the verdicts its preset says its
 * plants must produce. It passes when every one came out as planted. A harness
 * that always gave one verdict would fail it: for each hypothesis the default
 * presets plant a confirmation, a rejection and an effect at the bound, which
 * must come out inconclusive.
 */
import type { PlantedSubject, PlantedVerdict } from "../contract/run-file.js";
import { judgeHypothesis, type HypothesisOutcome, type Verdict } from "./verdicts.js";

/** One planted verdict and the verdict the run reached: results.json's harness_check.plants[]. */
export interface Plant {
  preset: string;
  subject: string;
  hypothesis: string;
  planted: PlantedVerdict;
  got: Verdict;
}

export interface HarnessCheck {
  /** Checks that came out as planted, of all. */
  asPlanted: number;
  total: number;
  subjects: (PlantedSubject & { got: Record<string, { verdict: Verdict; reason: string }> })[];
  /** Every plant of every judged hypothesis, by hypothesis in the run's order. */
  plants: Plant[];
  /** What differed, one sentence each: subject, hypothesis, planted and got. */
  differences: string[];
  /** A verdict no subject planted for a hypothesis this run judged: "<hypothesis>: inconclusive". */
  unplanted: string[];
}

/** Each verdict a hypothesis must be seen to reach: a harness that cannot reach one of them is broken. */
export const PLANTED_KINDS: readonly PlantedVerdict[] = ["confirmed", "rejected", "inconclusive"];

export function harnessCheck(outcomes: readonly HypothesisOutcome[], planted: readonly PlantedSubject[]): HarnessCheck {
  const differences: string[] = [];
  const plants: Plant[] = [];
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
      plants.push({ preset: s.preset, subject: s.id, hypothesis, planted: expected, got: own.verdict });
      if (own.verdict !== expected)
        differences.push(
          `${s.id} (preset ${s.preset}): ${hypothesis} planted ${expected}, got ${own.verdict}: ${own.reason}`,
        );
    }
    return { ...s, got };
  });
  const order = (p: Plant) => outcomes.findIndex((h) => h.hypothesis === p.hypothesis);
  plants.sort((a, b) => order(a) - order(b));
  const unplanted = outcomes.flatMap((h) =>
    PLANTED_KINDS.filter((k) => !plants.some((p) => p.hypothesis === h.hypothesis && p.planted === k)).map(
      (k) => `${h.hypothesis}: ${k}`,
    ),
  );
  const asPlanted = plants.filter((p) => p.got === p.planted).length;
  return { asPlanted, total: plants.length, subjects, plants, differences, unplanted };
}

/** The check in one line: "harness check: 4 of 4 as planted", or how many differed. */
export const harnessLine = (h: HarnessCheck) =>
  h.differences.length
    ? `harness check FAILED: ${h.asPlanted} of ${h.total} as planted`
    : `harness check: ${h.asPlanted} of ${h.total} as planted`;

/** A hypothesis' plants in one line: "at-bound-analog inconclusive, confirmed-analog confirmed, …", a differing one as "planted → got". */
export const plantsLine = (plants: readonly Plant[]) =>
  plants.map((p) => `${p.subject} ${p.got === p.planted ? p.got : `planted ${p.planted} → got ${p.got}`}`).join(", ");

/** The plants grouped by hypothesis, in the run's order. */
export function plantsByHypothesis(h: HarnessCheck): [string, Plant[]][] {
  const by = new Map<string, Plant[]>();
  for (const p of h.plants) by.set(p.hypothesis, [...(by.get(p.hypothesis) ?? []), p]);
  return [...by];
}
