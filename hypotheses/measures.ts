/**
 * What a spec reads: measures by name (probes/measures/), and one helper for
 * every comparative prediction. A measure a model's graph cannot provide is
 * Unavailable; the rows built here turn that into a value that is not a number,
 * with the reason, and judge() makes the prediction inconclusive for it.
 */
import type { Value } from "../probes/measures/measure.js";
import { bootstrapCI, mean } from "../probes/metrics.js";
import type { ProbeResult } from "../probes/probe.js";
import type { PredictionRow } from "../contract/prediction.js";
import { BOOTSTRAP } from "./criteria.js";

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
  row: (item: T) => Omit<PredictionRow, "subject" | "baseline">,
): PredictionRow[] {
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
  /** Bootstrap CI (prompts resampled jointly: both ran the same prompts) of the statistic `ci` names; none for weights. */
  ci?: { lo: number; hi: number };
  prompts: number;
}

/**
 * Subject × baseline comparisons of one measure, one row each: the row's value is
 * the ratio or the difference of the two values (`by`), with a seeded bootstrap CI
 * of `ci` (by default the same statistic) over the prompt set; `pass` decides the row.
 */
export function compare<V extends Value = number>(
  pairs: readonly [ProbeResult, ProbeResult][],
  name: string,
  opts: {
    by: "ratio" | "difference";
    ci?: "ratio" | "difference";
    pick?: (v: V) => number;
    pass: (c: Comparison) => boolean;
    detail?: (c: Comparison) => string;
  },
): PredictionRow[] {
  const stat = (x: number, y: number, kind: "ratio" | "difference") => (kind === "ratio" ? x / y : x - y);
  return rowsOf(
    pairs,
    ([s, b]) => ({ subject: s.id, baseline: b.id }),
    ([subject, baseline]) => {
      const [ms, mb] = [measure<V>(subject, name), measure<V>(baseline, name)];
      const pick = opts.pick ?? ((v: V) => v as number);
      let c: Comparison;
      if (ms.perPrompt && mb.perPrompt) {
        const [xs, ys] = [ms.perPrompt.map(pick), mb.perPrompt.map(pick)];
        const [s, b] = [mean(xs), mean(ys)];
        const ci = bootstrapCI([xs, ys], ([x, y]) => stat(mean(x), mean(y), opts.ci ?? opts.by), BOOTSTRAP);
        c = { subject, baseline, s, b, ratio: s / b, difference: s - b, ci, prompts: xs.length };
      } else {
        const [s, b] = [pick(ms.value), pick(mb.value)];
        c = { subject, baseline, s, b, ratio: s / b, difference: s - b, prompts: 0 };
      }
      return {
        value: c[opts.by],
        ci: c.ci && [c.ci.lo, c.ci.hi],
        passed: opts.pass(c),
        detail: opts.detail?.(c),
      };
    },
  );
}

/** The last layer's value of a per-layer measure. */
export const lastLayer = (v: number[]) => v[v.length - 1];
