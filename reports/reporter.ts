/**
 * The vitest reporter of the hypotheses project: verdicts from the specs'
 * outcomes and attached predictions, the probe run from globalSetup, then the
 * HTML report, figures, results.json and a terminal summary. It recomputes nothing.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Reporter, SerializedError, TestModule } from "vitest/node";
import type { ProbeRun } from "../probes/run.js";
import { reporterEnv } from "../probes/config.js";
import { figureSpecs, renderSvg } from "./figures.js";
import { renderReport } from "./render.js";
import { resultsJson } from "./results.js";
import { summaryLines } from "./summary.js";
import { judgeHypothesis, type HypothesisOutcome, type TestOutcome } from "./verdicts.js";
import { writeReport } from "./write.js";
import { harnessCheck } from "./harness.js";
import { compareResults } from "./compare.js";
import type { Preregistration, SetupExtras } from "../contract/run-file.js";
import { checkReportDir } from "../contract/report-dir.js";
import { printable } from "../onnx/errors.js";

export function outcomes(modules: ReadonlyArray<TestModule>): HypothesisOutcome[] {
  return modules
    .filter((m) => m.project.name === "hypotheses")
    .map((m) => {
      const tests: TestOutcome[] = [...m.children.allTests()].map((t) => {
        const r = t.result();
        const err = r.errors?.[0];
        return {
          name: t.name,
          state: r.state,
          error: err ? { name: err.name ?? "Error", message: err.message ?? String(err), stack: err.stack } : undefined,
          skipNote: r.state === "skipped" ? r.note : undefined,
          prediction: t.meta().prediction,
        };
      });
      const top = [...m.children].find((c) => c.type === "suite");
      return {
        hypothesis: top?.name ?? path.basename(m.moduleId, ".spec.ts"),
        claim: top?.type === "suite" ? top.meta().claim : undefined,
        file: m.moduleId,
        tests,
        moduleErrors: m.errors().map((e) => e.message ?? String(e)),
      };
    })
    .sort((a, b) => a.hypothesis.localeCompare(b.hypothesis));
}

function gitCommit(): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return undefined;
  }
}

/** The folders of the models this run probed: a report is never written into one. */
function probedFolders(run: ProbeRun): { id: string; dir: string }[] {
  return run.results.map((r) => ({ id: r.id, dir: path.dirname(r.provenance.onnxFile) }));
}

/** What changed since the earlier results.json PROBESPEC_COMPARE names. */
function compareLines(file: string, now: Record<string, unknown>): string[] {
  let before: unknown;
  try {
    before = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    return [`compare: ${file} cannot be read as results.json: ${(e as Error).message.split("\n")[0]}`];
  }
  // Valid JSON is not yet a results.json: null, a list or a number has no verdicts to compare with.
  const verdicts = (before as { verdicts?: unknown } | null)?.verdicts;
  if (typeof before !== "object" || before === null || Array.isArray(before) || typeof verdicts !== "object")
    return [
      `compare: ${file} is not a results.json: it holds ${JSON.stringify(before)?.slice(0, 40)}, with no verdicts`,
    ];
  const changes = compareResults(before as Record<string, unknown>, now);
  return changes.length
    ? [`changed since ${file}:`, ...changes.map((c) => `  ${printable(c)}`)]
    : [`nothing changed since ${file}: verdicts, measures and stamps are the same`];
}

export default class ProbespecReporter implements Reporter {
  async onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandled: ReadonlyArray<SerializedError> = [],
  ): Promise<void> {
    // A crash in the harness itself (an error outside any test) is printed whole, stack and all: it is a bug, not a verdict.
    for (const e of unhandled) process.stderr.write(`probespec: harness error: ${e.stack ?? e.message}\n`);
    const hypotheses = outcomes(modules);
    // So is an error a spec threw or a spec file that would not load: the verdict line says ERROR, this says where.
    for (const h of hypotheses) {
      for (const e of h.moduleErrors) process.stderr.write(`probespec: ${h.file} could not be loaded: ${e}\n`);
      for (const t of h.tests)
        if (t.state === "failed" && !t.prediction && t.error)
          process.stderr.write(
            `probespec: ${h.hypothesis} > ${t.name}: ${t.error.stack?.includes(t.error.message) ? t.error.stack : `${t.error.message}\n${t.error.stack ?? ""}`}\n`,
          );
    }
    const { runFile, noColor } = reporterEnv();
    if (!hypotheses.length || !runFile || !fs.existsSync(runFile)) return;
    const run: ProbeRun & Partial<SetupExtras> = JSON.parse(fs.readFileSync(runFile, "utf8"));
    // Each cohort judged on its own rows; the real cohort's verdict is the hypothesis' wherever the run has real models.
    const scaleOf = (id: string) => run.results.find((x) => x.id === id);
    const verdicts = hypotheses.map((h) => judgeHypothesis(h, { scaleOf }));
    // The synthetic cohort is the harness check: each planted subject judged on its own rows.
    const harness = harnessCheck(hypotheses, run.planted ?? []);
    const commit = gitCommit();
    const stamp: Preregistration | undefined = run.preregistration && {
      ...run.preregistration,
      models: run.keys ?? {},
      commit,
    };
    const figures = [];
    for (const f of figureSpecs(run))
      figures.push({ id: f.id, title: f.title, caption: f.caption, svg: await renderSvg(f.spec) });
    const durationS = (Date.now() - Date.parse(run.startedAt)) / 1000;
    const html = renderReport({ run, verdicts, figures, gitCommit: commit, durationS, harness, stamp });
    const results = resultsJson(run, verdicts, { gitCommit: commit, durationS, harness, stamp });
    const json = JSON.stringify(results, null, 1);
    const color = !noColor && process.stdout.isTTY === true;
    // The verdicts are printed whatever happens to the files; a report that cannot be written says why in one line.
    let shown: string | undefined, failed: string | undefined;
    try {
      if (run.reportDir) checkReportDir(run.reportDir, probedFolders(run));
      const dir = writeReport(
        { "index.html": html, "results.json": json },
        { reportDir: run.reportDir, stamp: run.startedAt.replace(/[:.]/g, "-") },
      );
      shown = run.reportDir ? path.join(dir, "index.html") : path.join(path.dirname(dir), "..", "latest", "index.html");
    } catch (e) {
      failed = `report: not written: ${(e as Error).message.split("\n")[0]}`;
      process.exitCode = 1;
    }
    const where = shown ? path.relative(process.cwd(), shown) || shown : undefined;
    const skipped = run.skipped.filter((s) => s.reason !== "not in PROBESPEC_MODELS");
    const lines = summaryLines(verdicts, where, { color, harness, entryErrors: run.registryProblems, skipped });
    if (run.compare) lines.push(...compareLines(run.compare, results));
    process.stdout.write(`\n${lines.join("\n")}\n${failed ? `${failed}\n` : ""}`);
    // The exit status follows the verdicts, not vitest's count of failed tests: a real rejection or confound, any
    // error (a model entry that could not be read included), or a harness check that failed; a synthetic verdict that
    // was planted is a pass.
    const bad =
      run.registryProblems.length > 0 ||
      verdicts.some(
        (v) =>
          v.verdict === "error" || (v.cohort === "real" && (v.verdict === "rejected" || v.verdict === "confounded")),
      );
    process.exitCode = failed || bad || harness.differences.length ? 1 : 0;
  }
}
