/**
 * npm run calibrate [-- --source RUN.json] [--replications N] [--power N] [--curve N] [--seed N] [--only H[/COHORT]]
 * [--out FILE]: how often the verdicts' statistics err, measured. Every family the specs judge (families.ts) is replicated on prompt sets drawn
 * from a real run's per-prompt values (simulate.ts), each judged by the specs' own code: with every part's true value
 * at its bound (false confirmations and false rejections, each to be at most α within two Monte Carlo standard
 * errors), at the detectable effect the report prints (confirmed about 80% of the time), and some standard errors
 * inside and outside. Prints a table and writes reports/calibration.json. `--snapshot` instead trims the source run
 * to the test suite's snapshot (source.ts), with the rows its report printed.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../../models/registry/registry.js";
import { BOOTSTRAP } from "../../hypotheses/criteria.js";
import { FAMILY_ALPHA } from "../../hypotheses/family.js";
import { calibrateFamily, reference, type Calibrated, type Settings } from "./calibrate.js";
import { specFamilies, TESTED_MEASURES } from "./families.js";
import { allowance } from "./simulate.js";
import {
  differences,
  judgedSides,
  newestRun,
  printedSides,
  readRun,
  readSnapshot,
  SNAPSHOT,
  type PrintedSide,
  type Source,
} from "./source.js";

const { values: args } = parseArgs({
  options: {
    source: { type: "string" },
    replications: { type: "string", default: "2000" },
    power: { type: "string", default: "500" },
    curve: { type: "string", default: "100" },
    seed: { type: "string", default: "1" },
    out: { type: "string", default: path.join(PROJECT_ROOT, "reports", "calibration.json") },
    snapshot: { type: "boolean", default: false },
    only: { type: "string" },
  },
});
const count = (name: keyof typeof args) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`calibrate: --${name} ${args[name]} is not a whole number above 0`);
  return n;
};
const SETTINGS: Settings = {
  replications: count("replications"),
  power: count("power"),
  curve: count("curve"),
  // Just inside and outside the bound, and far, each way.
  at: [-4, -1, 1, 4],
  seed: count("seed"),
};

const log = (m: string) => process.stderr.write(`[calibrate] ${m}\n`);
const results = path.join(PROJECT_ROOT, "reports", "latest", "results.json");

function source(): Source & { printed?: PrintedSide[] } {
  if (args.source) return readRun(path.resolve(args.source), PROJECT_ROOT);
  const newest = newestRun(path.join(PROJECT_ROOT, ".probespec-cache"));
  if (newest) return readRun(newest, PROJECT_ROOT);
  log(
    `no run in .probespec-cache/runs (npm run hypotheses writes one): calibrating on ${path.relative(PROJECT_ROOT, SNAPSHOT)}`,
  );
  return readSnapshot();
}

/** The run's real cohort, its tested measures only, with the rows its report printed: the test suite's snapshot. */
function writeSnapshot(src: Source): void {
  const printed = printedSides(results, src.startedAt);
  if (!printed)
    throw new Error(`calibrate --snapshot: ${results} is not the report of ${src.file}; run npm run hypotheses`);
  const real = src.results.filter((r) => !r.synthetic);
  const snapshot = {
    note: `${new Intl.ListFormat("en").format(real.map((r) => r.id))} from ${src.file}, only the measures the specs test (${TESTED_MEASURES.join(", ")}), with the rows its report printed: npm run calibrate -- --snapshot writes it`,
    file: src.file,
    startedAt: src.startedAt,
    ...(src.strata && { strata: src.strata }),
    results: real.map((r) => ({
      ...r,
      measures: Object.fromEntries(TESTED_MEASURES.filter((m) => r.measures[m]).map((m) => [m, r.measures[m]])),
    })),
    printed: printed.filter((s) => s.key.includes(" | real | ")),
  };
  fs.writeFileSync(SNAPSHOT, JSON.stringify(snapshot) + "\n");
  log(`wrote ${path.relative(PROJECT_ROOT, SNAPSHOT)}`);
}

function table(rows: Calibrated[]): string {
  const pm = (r: number, e: number, limit: number) => `${r.toFixed(3)} ± ${e.toFixed(3)} ${r <= limit ? "✓" : "✗"}`;
  const head = [
    "hypothesis",
    "cohort",
    "tests",
    "B",
    "false confirmed",
    "false rejected",
    "worst part",
    "unadjusted",
    "power (min–max)",
  ];
  const body = rows.map((r) => [
    r.hypothesis,
    r.cohort,
    String(r.tests),
    String(r.resamples),
    pm(r.false_confirmed, r.false_confirmed_mc_error, r.allowance),
    pm(r.false_rejected, r.false_rejected_mc_error, r.allowance),
    r.part_false_confirmed_max.toFixed(3),
    r.unadjusted_false_rejected.toFixed(3),
    r.power === null
      ? "—"
      : `${r.power.toFixed(2)} (${r.power_min!.toFixed(2)}–${r.power_max!.toFixed(2)})${r.power_unreachable ? `, ${r.power_unreachable} unreachable` : ""}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

function main(): void {
  const t0 = performance.now();
  const src = source();
  if (args.snapshot) return writeSnapshot(src);
  // --only: the families of one hypothesis, or of one of its cohorts.
  const families = specFamilies(src.results, src.strata).filter(
    (f) => !args.only || args.only === f.hypothesis || args.only === `${f.hypothesis}/${f.cohort}`,
  );
  if (!families.length) throw new Error(`calibrate: no family is ${args.only}`);
  // The calibration is worth what its judging is: it must give the rows the source's report printed, number for number.
  const printed = src.printed ?? printedSides(results, src.startedAt);
  const judgedKeys = new Set(families.map((f) => `${f.hypothesis} | ${f.cohort} | `));
  const reproduced = printed
    ? differences(
        printed.filter((s) => judgedKeys.has(s.key.split(" | ").slice(0, 2).join(" | ") + " | ")),
        judgedSides(families),
      )
    : undefined;
  if (reproduced?.length)
    throw new Error(`calibrate: the judging here is not the specs':\n  ${reproduced.join("\n  ")}`);
  log(
    reproduced
      ? `${src.file}: the specs' judging reproduced, every printed row`
      : `${src.file}: no report of this run to check the judging against (reports/latest is another run's)`,
  );
  const calibrated = families.map((f) => {
    const c = calibrateFamily(f, SETTINGS);
    log(`${f.hypothesis} (${f.cohort}): ${c.tests} tests, ${c.seconds.toFixed(0)} s`);
    return c;
  });
  const normal = reference(families[0].sides[0][0].test.samples[0].length, SETTINGS);
  const limit = allowance(FAMILY_ALPHA, SETTINGS.replications);
  const round = (x: number, digits: number) => +x.toFixed(digits);
  const report = {
    what: "simulated replications of every family the specs judge, on prompt sets drawn with replacement from a real run's per-prompt values moved so that each tested part's true value sits at its bound (false confirmed: every side confirmed; false rejected: some side rejected by Holm), at the 80%-power detectable effect (power: each part's confirmation rate), and at the curve's standard errors inside (+) or outside (−) the bound; every replication judged by judgeFamily over bootstrapDistribution with resamplesFor, as hypotheses/family.ts judges",
    alpha: FAMILY_ALPHA,
    allowance: round(limit, 4),
    bootstrap: { base_resamples: BOOTSTRAP.resamples, seed: BOOTSTRAP.seed },
    simulation_seed: SETTINGS.seed,
    replications: { at_bound: SETTINGS.replications, power: SETTINGS.power, curve: SETTINGS.curve },
    source: { file: src.file, started_at: src.startedAt, reproduced: reproduced !== undefined },
    wall_time_s: round((performance.now() - t0) / 1000, 1),
    hypotheses: Object.fromEntries(calibrated.map((c) => [`${c.hypothesis}/${c.cohort}`, c])),
    reference: normal,
  };
  fs.writeFileSync(args.out!, JSON.stringify(report, null, 2) + "\n");
  process.stdout.write(
    `\nCalibration on ${src.file}: ${SETTINGS.replications} replications a family at the bound, ${SETTINGS.power} at the detectable effect; ` +
      `α = ${FAMILY_ALPHA}, at most ${limit.toFixed(4)} within two Monte Carlo standard errors\n\n${table([...calibrated, normal])}\n\n` +
      `wrote ${path.relative(PROJECT_ROOT, args.out!)} in ${report.wall_time_s} s\n`,
  );
}

main();
