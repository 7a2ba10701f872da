/**
 * What a spec reads: measures by name (probes/measures/), and one helper for
 * every comparative prediction. A measure a model's graph cannot provide is
 * Unavailable; the rows built here turn that into a value that is not a number,
 * with the reason, and judge() makes the prediction inconclusive for it.
 */
import type { Value } from "../probes/measures/measure.js";
import { mean } from "../probes/metrics.js";
import { judgeInterval, type Claim } from "../probes/statistics.js";
import type { ProbeResult } from "../probes/probe.js";
import type { PlannedRow, RowBody, RowTest } from "./family.js";

/** A measure this model does not have: its graph cannot provide the points, or the run did not take it. */
export class Unavailable extends Error {
  override name = "Unavailable";
}

export interface Measured<V extends Value> {
  unit: string;
  /** Over the prompt set (a weight measure's only value). */
  value: V;
  /** One a prompt, in the prompt set's order; absent for a weight measure. */
  perPrompt?: V[];
}

/** A model's measure by name; throws Unavailable (with the reason) where it has none. */
export function measure<V extends Value = number>(model: ProbeResult, name: string): Measured<V> {
  const m = model.measures[name];
  if (!m)
    throw new Unavailable(
      `${model.id}: "${name}" was not measured in this run (measured: ${Object.keys(model.measures).join(", ")}; PROBESPEC_MEASURES selects)`,
    );
  if ("unavailable" in m) throw new Unavailable(`${model.id}: ${name} is unavailable: ${m.unavailable}`);
  return m as Measured<V>;
}

/** One number a prompt from a measure: its value, or `pick` of it (a layer, a statistic). */
export function perPrompt<V extends Value = number>(
  model: ProbeResult,
  name: string,
  pick: (v: V) => number = (v) => v as number,
): number[] {
  const m = measure<V>(model, name);
  if (!m.perPrompt) throw new Error(`${name} is a weight measure: it has no value per prompt`);
  return m.perPrompt.map(pick);
}

/** Rows from items (subjects, pairs); an item whose measure is unavailable becomes a row that cannot be judged, saying why. */
export function rowsOf<T>(
  items: readonly T[],
  who: (item: T) => { subject: string; baseline?: string },
  row: (item: T) => RowBody,
): PlannedRow[] {
  return items.map((item) => {
    try {
      return { ...who(item), ...row(item) };
    } catch (e) {
      if (!(e instanceof Unavailable)) throw e;
      return { ...who(item), value: NaN, passed: false, detail: e.message };
    }
  });
}

export interface Comparison {
  subject: ProbeResult;
  baseline: ProbeResult;
  /** The subject's and the baseline's values: means over the prompt set, or a weight measure's value. */
  s: number;
  b: number;
  ratio: number;
  difference: number;
  prompts: number;
}

/** A mean over prompts, to be judged on `claim` by its bootstrap over the prompt set (hypotheses/family.ts). */
export function meanTest(xs: readonly number[], claim: Claim): { value: number; test: RowTest } {
  return { value: mean(xs), test: { claim, samples: [[...xs]], statistic: ([x]) => mean(x) } };
}

/**
 * Subject × baseline comparisons of one measure, one row each: the row's value is
 * the ratio or the difference of the two values (`by`), judged on `claim` by a
 * seeded bootstrap of the same statistic over the prompt set (prompts resampled
 * jointly: both ran the same prompts); a weight measure's value decides alone.
 */
export function compare<V extends Value = number>(
  pairs: readonly [ProbeResult, ProbeResult][],
  name: string,
  opts: {
    by: "ratio" | "difference";
    claim: Claim;
    pick?: (v: V) => number;
    detail?: (c: Comparison) => string;
  },
): PlannedRow[] {
  const stat = (x: number, y: number) => (opts.by === "ratio" ? x / y : x - y);
  return rowsOf(
    pairs,
    ([s, b]) => ({ subject: s.id, baseline: b.id }),
    ([subject, baseline]): RowBody => {
      const [ms, mb] = [measure<V>(subject, name), measure<V>(baseline, name)];
      const pick = opts.pick ?? ((v: V) => v as number);
      const perPrompt = ms.perPrompt && mb.perPrompt && [ms.perPrompt.map(pick), mb.perPrompt.map(pick)];
      const [s, b] = perPrompt ? perPrompt.map(mean) : [pick(ms.value), pick(mb.value)];
      const c = { subject, baseline, s, b, ratio: s / b, difference: s - b, prompts: perPrompt?.[0].length ?? 0 };
      const detail = opts.detail?.(c);
      if (!perPrompt)
        return {
          value: c[opts.by],
          passed: judgeInterval([c[opts.by], c[opts.by]], opts.claim) === "confirmed",
          detail,
        };
      const statistic = ([x, y]: number[][]) => stat(mean(x), mean(y));
      return { value: c[opts.by], test: { claim: opts.claim, samples: perPrompt, statistic }, detail };
    },
  );
}

/** The last layer's value of a per-layer measure. */
export const lastLayer = (v: number[]) => v[v.length - 1];
