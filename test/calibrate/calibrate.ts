/**
 * One family calibrated: its error rates with every part at its bound, each part's power at the detectable effect
 * the report prints, and its curve some standard errors inside and outside, as plain numbers for the report and the
 * test suite alike; and a reference family of the same form whose population has no skew.
 */
import { FAMILY_ALPHA } from "../../hypotheses/family.js";
import { meanTest } from "../../hypotheses/measures.js";
import { normalQuantile, type Claim } from "../../probes/statistics.js";
import type { Family, Form, Part } from "./families.js";
import {
  allowance,
  DETECTABLE_SE,
  placements,
  rate,
  replicate,
  seedFor,
  targetOf,
  type Placement,
  type Tally,
} from "./simulate.js";

const claimText = (c: Claim) =>
  "atLeast" in c
    ? `≥ ${+c.atLeast.toFixed(3)}`
    : "below" in c
      ? `< ${+c.below.toFixed(3)}`
      : `within [${c.within.join(", ")}]`;
const round = (x: number, digits = 4) => +x.toFixed(digits);
const labelOf = (p: Part) =>
  [p.subject, p.baseline && `vs ${p.baseline}`, p.prediction, p.side === "control" ? "without position 0" : "", p.label]
    .filter(Boolean)
    .join(" ");

export interface Settings {
  /** Replications with every part at its bound, at the detectable effect, and at each point of the curve. */
  replications: number;
  power: number;
  curve: number;
  /** Standard errors inside the bound (outside where negative) at which the curve is drawn. */
  at: readonly number[];
  seed: number;
}

/** One family's calibration: its rates at the bound, its power at the detectable effect, and its curve. */
export function calibrateFamily(family: Family, settings: Settings) {
  const { replications: atBoundReplications, power: powerReplications, curve: curveReplications } = settings;
  const t0 = performance.now();
  const { resamples, parts: placed } = placements(family);
  const flat = family.sides.flat();
  const flatPlaced = placed.flat();
  const run = (at: (p: Placement) => number, replications: number, scenario: string) =>
    replicate(family, placed, at, { replications, seed: seedFor(family, scenario, settings.seed) });

  const atBound = run((p) => p.bound, atBoundReplications, "bound");
  // A part whose margin is narrower than its detectable effect waits at the margin's centre, out of the power's mean.
  const power = run((p) => p.detectableAt?.target ?? p.centre!, powerReplications, "detectable");
  const curve = settings.at.map((k) => ({
    k,
    tally: run((p) => targetOf(p, k).target, curveReplications, `${k} se`),
  }));

  const partRate = (t: Tally, i: number, what: "confirmed" | "rejected") => t.parts[i][what] / t.replications;
  const reachable = flatPlaced.map((p) => p.detectableAt !== undefined);
  const powers = flat.map((_, i) => partRate(power, i, "confirmed")).filter((_, i) => reachable[i]);
  const partsConfirmedAtBound = flat.map((_, i) => partRate(atBound, i, "confirmed"));
  const forms: Partial<Record<Form, { parts: number; claim: string }>> = {};
  for (const p of flat) forms[p.form] = { parts: (forms[p.form]?.parts ?? 0) + 1, claim: claimText(p.test.claim) };
  const fc = rate(atBound.confirmed, atBoundReplications);
  const fr = rate(atBound.rejected, atBoundReplications);
  const limit = allowance(FAMILY_ALPHA, atBoundReplications);
  const seconds = (performance.now() - t0) / 1000;
  return {
    hypothesis: family.hypothesis,
    cohort: family.cohort,
    subjects: [...new Set(flat.map((p) => (p.baseline ? `${p.subject} vs ${p.baseline}` : p.subject)))],
    sides: family.sides.length,
    tests: flat.length,
    forms,
    resamples,
    replications: atBoundReplications,
    false_confirmed: round(fc.rate),
    false_confirmed_mc_error: round(fc.mcError),
    false_rejected: round(fr.rate),
    false_rejected_mc_error: round(fr.mcError),
    allowance: round(limit),
    within_alpha: fc.rate <= limit && fr.rate <= limit,
    /** The least favourable confirmation: one part at its bound, every other far inside, confirms as often as that part does alone. */
    part_false_confirmed_max: round(Math.max(...partsConfirmedAtBound)),
    part_false_confirmed_worst: labelOf(flat[partsConfirmedAtBound.indexOf(Math.max(...partsConfirmedAtBound))]),
    part_false_confirmed_mean: round(partsConfirmedAtBound.reduce((a, x) => a + x, 0) / flat.length),
    unadjusted_false_rejected: round(atBound.unadjusted / atBoundReplications),
    power_replications: powerReplications,
    power: powers.length ? round(powers.reduce((a, x) => a + x, 0) / powers.length) : null,
    power_min: powers.length ? round(Math.min(...powers)) : null,
    power_max: powers.length ? round(Math.max(...powers)) : null,
    power_family: round(power.confirmed / powerReplications),
    power_unreachable: reachable.filter((r) => !r).length,
    curve: [
      { se: 0, replications: atBoundReplications, tally: atBound },
      ...curve.map(({ k, tally }) => ({ se: k, replications: curveReplications, tally })),
      { se: round(DETECTABLE_SE, 3), replications: powerReplications, tally: power },
    ]
      .sort((a, b) => a.se - b.se)
      .map(({ se, replications, tally }) => ({
        se,
        replications,
        confirmed: round(tally.confirmed / replications),
        rejected: round(tally.rejected / replications),
        part_confirmed: round(tally.parts.reduce((a, p) => a + p.confirmed, 0) / (replications * flat.length)),
        part_rejected: round(tally.parts.reduce((a, p) => a + p.rejected, 0) / (replications * flat.length)),
      })),
    parts: flat.map((p, i) => ({
      subject: p.subject,
      ...(p.baseline && { baseline: p.baseline }),
      prediction: p.prediction,
      side: p.side,
      ...(p.label && { label: p.label }),
      form: p.form,
      claim: claimText(p.test.claim),
      bound: flatPlaced[i].bound,
      detectable: round(flatPlaced[i].detectable, 6),
      ...(flatPlaced[i].detectableAt && {
        power_at: round(flatPlaced[i].detectableAt!.target, 6),
        detectable_there: round(flatPlaced[i].detectableAt!.detectable, 6),
      }),
      bootstrap_skewness: round(flatPlaced[i].skewness, 3),
      printed_detectable_mean: round(atBound.parts[i].detectable / atBoundReplications, 6),
      false_confirmed: round(partsConfirmedAtBound[i]),
      false_rejected: round(partRate(atBound, i, "rejected")),
      power: reachable[i] ? round(partRate(power, i, "confirmed")) : null,
    })),
    seconds: round(seconds, 1),
  };
}
export type Calibrated = ReturnType<typeof calibrateFamily>;

/**
 * The same machinery on a population with no skew: the n standard normal quantiles, their mean claimed at least 0.
 * What it reads beyond α is the percentile bootstrap's own at n prompts; what a family reads beyond that, its data's.
 */
export function reference(n: number, settings: Settings): Calibrated {
  const population = Array.from({ length: n }, (_, i) => normalQuantile((i + 0.5) / n));
  const test = meanTest(population, { atLeast: 0 }).test;
  const part: Part = {
    subject: `${n} standard normal quantiles`,
    prediction: "reference",
    side: "row",
    form: "level",
    test,
  };
  return calibrateFamily({ hypothesis: "reference", cohort: "synthetic", sides: [[part]] }, settings);
}
