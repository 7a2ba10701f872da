/**
 * Verdicts from the specs' outcomes (docs/statistics.md, "Verdicts and cohorts"): each cohort's from
 * the rows the predictions attached (contract/verdict.ts), an error where a test
 * threw before it could attach one. The hypothesis' verdict is its real cohort's
 * wherever the run has real models; the synthetic cohort is a check of the harness.
 */
import { COHORTS, type Cohort, type Prediction, type PredictionRow } from "../contract/prediction.js";
import { combineVerdicts, headlineCohort, predictionVerdict, type Judged, type Verdict } from "../contract/verdict.js";

export type { Verdict };

export interface TestOutcome {
  name: string;
  state: "passed" | "failed" | "skipped" | "pending";
  error?: { name: string; message: string; stack?: string };
  skipNote?: string;
  prediction?: Prediction;
}

export interface HypothesisOutcome {
  hypothesis: string;
  /** What the spec says it claims (describe's meta). */
  claim?: string;
  file: string;
  tests: TestOutcome[];
  /** Errors outside any test (the file failed to load). */
  moduleErrors: string[];
}

export interface HypothesisVerdict {
  hypothesis: string;
  claim?: string;
  /** The headline cohort's verdict: the real models' where the run has any. */
  verdict: Verdict;
  reason: string;
  /** The cohort the headline verdict is of; absent where no prediction ran. */
  cohort?: Cohort;
  predictions: TestOutcome[];
  /** The verdict within each cohort the run has models of: real models, and synthetic analogs (a check of the harness). */
  cohorts: CohortVerdict[];
}

export interface CohortVerdict extends Judged {
  cohort: Cohort;
  /** Each subject–baseline pair compared in this cohort, in size and training: how far apart the two are. */
  scale: string[];
}

/** What the report says of a model beside a comparison: its parameter count, and what it was trained on. */
export interface ModelScale {
  parameters?: number;
  training?: string;
}

const firstLine = (s: string) => s.split("\n")[0];
/** A test that threw, as a reason cites it. */
const threw = (t: TestOutcome) => `${t.name}: ${firstLine(t.error?.message ?? "unknown error")}`;

/** A test's verdict for a cohort: its prediction's, or an error where it threw before attaching one. */
function testVerdict(t: TestOutcome, cohort: Cohort, rows?: (r: PredictionRow) => boolean): Judged | undefined {
  if (t.prediction) return predictionVerdict(t.prediction, cohort, rows);
  if (t.state === "failed") return { verdict: "error", reason: threw(t) };
  return { verdict: "inconclusive", reason: t.skipNote ?? "skipped" };
}

/**
 * The hypothesis' verdict in every cohort, and its headline. `rows` narrows each prediction to some of its rows: the
 * harness check judges one planted subject at a time. Each cohort sets its compared pairs side by side in size and
 * training (`scaleOf`, by id), and its reason says so where subject and baseline differ a hundredfold in size.
 */
export function judgeHypothesis(
  h: HypothesisOutcome,
  {
    rows,
    scaleOf = () => undefined,
  }: { rows?: (r: PredictionRow) => boolean; scaleOf?: (id: string) => ModelScale | undefined } = {},
): HypothesisVerdict {
  const base = { hypothesis: h.hypothesis, claim: h.claim, predictions: h.tests };
  if (h.moduleErrors.length)
    return { ...base, verdict: "error", reason: h.moduleErrors.map(firstLine).join("; "), cohorts: [] };
  const present = COHORTS.filter((c) => h.tests.some((t) => t.prediction?.cohorts[c]));
  const cohorts = present.flatMap((cohort): CohortVerdict[] => {
    const judged = combineVerdicts(
      h.tests.map((t) => ({ name: t.name, judged: testVerdict(t, cohort, rows) })),
      cohort,
    );
    if (!judged) return [];
    const scale = pairsOf(h.tests, cohort).map(([a, b]) => scaleLine(a, b, scaleOf));
    const far = pairsOf(h.tests, cohort).flatMap(([a, b]) => farApart(a, b, scaleOf));
    return [{ cohort, ...judged, reason: judged.reason + (far.length ? `; note: ${far.join("; ")}` : ""), scale }];
  });
  const headline = cohorts.find((c) => c.cohort === headlineCohort(present));
  if (headline)
    return { ...base, verdict: headline.verdict, reason: headline.reason, cohort: headline.cohort, cohorts };
  // No test attached a prediction: each threw, or none ran.
  const thrown = h.tests.filter((t) => t.state === "failed");
  if (thrown.length)
    return {
      ...base,
      verdict: "error",
      reason: thrown.map(threw).join("; "),
      cohorts,
    };
  const notes = [...new Set(h.tests.map((t) => t.skipNote ?? "skipped"))];
  return { ...base, verdict: "inconclusive", reason: notes.join("; ") || "no predictions ran", cohorts };
}

/** The subject–baseline pairs a cohort's rows compare. */
function pairsOf(tests: readonly TestOutcome[], cohort: Cohort): [string, string][] {
  const pairs = new Map<string, [string, string]>();
  for (const t of tests)
    for (const r of t.prediction?.rows ?? [])
      if (r.baseline && r.cohort === cohort) pairs.set(`${r.subject}|${r.baseline}`, [r.subject, r.baseline]);
  return [...pairs.values()];
}

/** "a (≈1.1 B parameters; trained on …) vs b (≈5 M; …): 220× apart in size". */
function scaleLine(s: string, b: string, scaleOf: (id: string) => ModelScale | undefined): string {
  const [ms, mb] = [scaleOf(s), scaleOf(b)];
  const about = (m?: ModelScale) =>
    [m?.parameters && `≈${formatCount(m.parameters)} parameters`, m?.training && `trained on ${m.training}`]
      .filter(Boolean)
      .join("; ") || "size and training not known";
  const ratio = ms?.parameters && mb?.parameters ? ms.parameters / mb.parameters : undefined;
  const times = (x: number) => `${Number(x.toPrecision(2))}×`;
  const apart = ratio ? `: ${ratio >= 1 ? times(ratio) : `1/${times(1 / ratio)}`} the size` : "";
  return `${s} (${about(ms)}) vs ${b} (${about(mb)})${apart}`;
}

/** A baseline a hundred times smaller than its subject is a comparison across scales: the cohort's reason says so. */
function farApart(s: string, b: string, scaleOf: (id: string) => ModelScale | undefined): string[] {
  const [ns, nb] = [scaleOf(s)?.parameters, scaleOf(b)?.parameters];
  return ns && nb && ns / nb >= 100
    ? [`the baseline ${b} (≈${formatCount(nb)} parameters) is far smaller than ${s} (≈${formatCount(ns)})`]
    : [];
}

const formatCount = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(1)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${(n / 1e3).toFixed(0)} K`;
