/**
 * A verdict from a prediction's rows, for one cohort at a time: the one place
 * it is computed, read by the spec (its test's outcome) and by the reporter
 * (the cohort's line, the harness check). A cohort is judged on its own rows
 * only; a role it lacks makes it inconclusive, a model it needs that failed an
 * error.
 */
import { rowInterval, rowLabel, type Cohort, type Prediction, type PredictionRow } from "./prediction.js";

export type Verdict = "confirmed" | "rejected" | "inconclusive" | "confounded" | "error";

export interface Judged {
  verdict: Verdict;
  reason: string;
}

/** Which verdict wins when a cohort's predictions disagree: an error, then a rejection, then a confound, then a gap. */
const PRECEDENCE: readonly Verdict[] = ["error", "rejected", "confounded", "inconclusive", "confirmed"];

const finite = (r: Pick<PredictionRow, "value" | "ci">) =>
  Number.isFinite(r.value) && (r.ci ?? []).every(Number.isFinite);

type Outcome = Exclude<Verdict, "error" | "confounded">;

/** A claim's own outcome on one side of the control: a value that is not a finite number never passes or fails. */
const outcome = (r: Pick<PredictionRow, "value" | "ci" | "passed" | "inconclusive">): Outcome =>
  !finite(r) ? "inconclusive" : r.passed ? "confirmed" : r.inconclusive ? "inconclusive" : "rejected";

/**
 * One row's verdict. With a position-0 control, both sides must agree: one confirmed and the other rejected is
 * confounded (position 0 carries the effect, or hides it); one side open leaves the row open.
 */
export function rowVerdict(r: PredictionRow): Exclude<Verdict, "error"> {
  const own = outcome(r);
  if (!r.control) return own;
  const ctl = outcome(r.control);
  if (own === ctl) return own;
  return own === "inconclusive" || ctl === "inconclusive" ? "inconclusive" : "confounded";
}

const num = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : String(x));

function rowReason(r: PredictionRow, verdict: Verdict): string {
  const label = rowLabel(r);
  if (verdict === "confounded") return `${label}: ${num(r.value)} with position 0, ${num(r.control!.value)} without it`;
  // An open row names the side that is open: the claim itself, or its control without position 0.
  const side = verdict === "inconclusive" && r.control && outcome(r) !== "inconclusive" ? r.control : r;
  const which = side === r ? "" : " without position 0";
  return `${label}${which} ${num(side.value)}${side.ci || side.open ? ` (${rowInterval(side)})` : ""}${!finite(side) && r.detail ? ` (${r.detail})` : ""}`;
}

/** The prediction's verdict for `cohort`, from its own rows (`rows` narrows them, as the harness check does to one subject); undefined where the run has no model of that cohort. */
export function predictionVerdict(
  p: Prediction,
  cohort: Cohort,
  rows: (r: PredictionRow) => boolean = () => true,
): Judged | undefined {
  const status = p.cohorts[cohort];
  if (!status) return undefined;
  if (status.error) return { verdict: "error", reason: status.error };
  if (status.missing) return { verdict: "inconclusive", reason: status.missing };
  const mine = p.rows.filter((r) => r.cohort === cohort && rows(r));
  if (!mine.length) return { verdict: "inconclusive", reason: `no ${cohort} model has a row for “${p.criterion}”` };
  const verdicts = mine.map(rowVerdict);
  const verdict = PRECEDENCE.find((v) => verdicts.includes(v as never)) as Verdict;
  const reasons = mine.filter((_, i) => verdicts[i] === verdict).map((r) => rowReason(r, verdict));
  const why =
    verdict === "rejected"
      ? `${reasons.join(", ")} miss “${p.criterion}”${p.explanation ? `; ${p.explanation}` : ""}`
      : verdict === "confounded"
        ? `${reasons.join("; ")}: “${p.criterion}” holds on one side of the position-0 control only`
        : verdict === "inconclusive"
          ? `${reasons.join("; ")} (“${p.criterion}”)`
          : `every ${cohort} row meets “${p.criterion}”`;
  return { verdict, reason: why };
}

/** A hypothesis' verdict for a cohort from its predictions' (named by test); undefined where none judged that cohort. */
export function combineVerdicts(
  parts: readonly { name: string; judged?: Judged }[],
  cohort: Cohort,
): Judged | undefined {
  const got = parts.filter((p): p is { name: string; judged: Judged } => !!p.judged);
  if (!got.length) return undefined;
  const verdict = PRECEDENCE.find((v) => got.some((p) => p.judged.verdict === v))!;
  if (verdict === "confirmed") return { verdict, reason: `every prediction holds for the ${cohort} models` };
  const reasons = [
    ...new Set(got.filter((p) => p.judged.verdict === verdict).map((p) => `${cite(p.name)}${p.judged.reason}`)),
  ];
  const why = verdict === "confounded" ? "; the first token's massive activation carries the effect" : "";
  return { verdict, reason: reasons.join("; ") + why };
}

/** A prediction as a reason cites it: "(a) " of "(a) the paradox: …"; the criterion in the reason names the rest. */
const cite = (name: string) => {
  const letter = /^\(\w\)/.exec(name);
  return letter ? `${letter[0]} ` : "";
};

/** The cohort whose verdict is the hypothesis': the real models' wherever the run has any. */
export const headlineCohort = (cohorts: readonly Cohort[]): Cohort | undefined =>
  cohorts.includes("real") ? "real" : cohorts.includes("synthetic") ? "synthetic" : undefined;
