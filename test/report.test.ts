import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { runProbes } from "../probes/run.js";
import { figureSpecs, renderSvg } from "../reports/figures.js";
import { renderReport } from "../reports/render.js";
import { cell, num } from "../reports/cells.js";
import { summaryLines } from "../reports/summary.js";
import { judgeHypothesis, type HypothesisOutcome } from "../reports/verdicts.js";
import type { Cohort, Prediction, PredictionRow } from "../contract/prediction.js";
import { writeReport } from "../reports/write.js";
import { runHypotheses, TEST_CACHE, tmpDir } from "./helpers.js";
import { harnessCheck, harnessLine } from "../reports/harness.js";
import { compareResults } from "../reports/compare.js";
import { preregistration } from "../hypotheses/preregistration.js";
import { PRESETS } from "../models/analogs/presets.js";
import type { PlantedSubject } from "../contract/run-file.js";
import { readConfig } from "../probes/config.js";

const EVIL = `<script>alert("x")</script>`;

async function fixedRun() {
  const modelsDir = tmpDir();
  fs.writeFileSync(
    path.join(modelsDir, "a.json"),
    JSON.stringify({
      id: `m${EVIL}`,
      family: "llama",
      source: { analog: "llama" },
      synthetic: true,
      notes: `a "quoted" <b>note</b> ${EVIL}`,
    }),
  );
  return runProbes({
    env: { PROBESPEC_MODELS_DIR: modelsDir, PROBESPEC_CACHE_DIR: TEST_CACHE, PROBESPEC_DEVICE: "cpu" },
    promptSet: { name: `set${EVIL}`, file: "-", prompts: [`The capital ${EVIL} is`] },
  });
}

const outcome = (hypothesis: string, tests: HypothesisOutcome["tests"]): HypothesisOutcome => ({
  hypothesis,
  file: `${hypothesis}.spec.ts`,
  tests,
  moduleErrors: [],
});
/** A prediction over these rows, judged for the cohorts its rows are of (each with nothing missing). */
const prediction = (rows: Omit<PredictionRow, "cohort">[], cohortOf: (id: string) => Cohort = () => "synthetic") => {
  const full = rows.map((r) => ({ ...r, cohort: cohortOf(r.subject) }));
  return {
    hypothesis: "h",
    criterion: "ratio ≥ 1.72",
    threshold: 1.72,
    why: "",
    passed: false,
    rows: full,
    cohorts: Object.fromEntries(full.map((r) => [r.cohort, {}])),
  } satisfies Prediction;
};
const row = (subject: string, passed: boolean, baseline = "b") => ({
  subject,
  baseline,
  value: passed ? 2 : 1.1,
  passed,
});
const OUTCOMES = [
  outcome("confirmed-one", [{ name: "p", state: "passed", prediction: prediction([row("m", true)]) }]),
  outcome("rejected-one", [
    {
      name: "p",
      state: "failed",
      error: { name: "AssertionError", message: "" },
      prediction: prediction([row("m", false)]),
    },
    { name: "q", state: "passed", prediction: prediction([row("m", true)]) },
  ]),
  outcome("inconclusive-one", [
    {
      name: "p",
      state: "skipped",
      prediction: { ...prediction([]), cohorts: { synthetic: { missing: "no baseline model is available" } } },
    },
  ]),
  outcome("error-one", [
    { name: "p", state: "failed", error: { name: "ProbeError", message: `model "m": NaN in resid_post.3 ${EVIL}` } },
  ]),
];
const VERDICTS = OUTCOMES.map((o) => judgeHypothesis(o));

describe("verdicts", () => {
  it("derive confirmed, rejected, inconclusive and error as docs/statistics.md says", () => {
    expect(VERDICTS.map((v) => v.verdict)).toEqual(["confirmed", "rejected", "inconclusive", "error"]);
    expect(VERDICTS[2].reason).toBe("no baseline model is available");
    expect(judgeHypothesis({ ...OUTCOMES[0], moduleErrors: ["globalSetup failed"] }).verdict).toBe("error");
  });
});

describe("verdicts by cohort", () => {
  it("judge real subjects on their rows and synthetic ones on theirs, and say when a baseline is of another scale", () => {
    const cohortOf = (id: string) => (["tiny", "small"].includes(id) ? ("real" as const) : ("synthetic" as const));
    const p = prediction([row("tiny", false, "small"), row("analog", true, "other")], cohortOf);
    const size = (id: string) => ({ parameters: { tiny: 1.1e9, small: 2.6e5, analog: 1e6, other: 1e6 }[id] });
    const v = judgeHypothesis(
      outcome("h", [
        { name: "p: ratio", state: "failed", error: { name: "AssertionError", message: "" }, prediction: p },
      ]),
      { scaleOf: size },
    );
    expect(v.cohorts.map((c) => [c.cohort, c.verdict])).toEqual([
      ["real", "rejected"],
      ["synthetic", "confirmed"],
    ]);
    expect([v.cohort, v.verdict]).toEqual(["real", "rejected"]);
    expect(v.cohorts[0].reason).toMatch(
      /tiny vs small 1.100 miss “ratio ≥ 1.72”; note: the baseline small \(≈260 K parameters\) is far smaller than tiny \(≈1.1 B\)/,
    );
    expect(v.cohorts[0].reason).not.toMatch(/analog/);
    expect(v.cohorts[1].reason).not.toMatch(/far smaller/);
    expect(v.cohorts[0].scale).toEqual(["tiny (≈1.1 B parameters) vs small (≈260 K parameters): 4200× the size"]);
  });
});

describe("the report and the probes know no hypothesis", () => {
  it("no spec's name appears in any file under probes/ or reports/ (adding a hypothesis touches neither)", () => {
    const root = path.join(import.meta.dirname, "..");
    const names = fs
      .readdirSync(path.join(root, "hypotheses"))
      .filter((f) => f.endsWith(".spec.ts"))
      .map((f) => f.replace(".spec.ts", ""));
    expect(names.length).toBeGreaterThanOrEqual(4);
    const files = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const f = path.join(dir, e.name);
        if (e.isDirectory()) return ["latest", "runs"].includes(e.name) ? [] : files(f);
        return /\.(ts|njk)$/.test(e.name) ? [f] : [];
      });
    for (const f of [...files(path.join(root, "probes")), ...files(path.join(root, "reports"))]) {
      const text = fs.readFileSync(f, "utf8").toLowerCase();
      for (const n of names)
        for (const form of [n, n.replace(/-/g, "_"), n.replace(/-/g, " ")])
          expect(text.includes(form), `${path.relative(root, f)} names ${form}`).toBe(false);
    }
  });

  it("imports run one way: probes/ reaches neither hypotheses/ nor reports/, and hypotheses/ and reports/ meet only in contract/", () => {
    const root = path.join(import.meta.dirname, "..");
    const forbidden: Record<string, string[]> = {
      probes: ["hypotheses", "reports", "contract"],
      contract: ["probes", "hypotheses", "reports", "models"],
      hypotheses: ["reports"],
      reports: ["hypotheses"],
    };
    const files = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const f = path.join(dir, e.name);
        return e.isDirectory() ? files(f) : e.name.endsWith(".ts") ? [f] : [];
      });
    for (const [layer, banned] of Object.entries(forbidden))
      for (const f of files(path.join(root, layer))) {
        const imports = [...fs.readFileSync(f, "utf8").matchAll(/from "(\.[^"]+)"/g)].map(
          (m) => path.relative(root, path.resolve(path.dirname(f), m[1])).split(path.sep)[0],
        );
        for (const b of banned) expect(imports.includes(b), `${path.relative(root, f)} imports from ${b}/`).toBe(false);
      }
  });
});

describe("the HTML report", () => {
  it("escapes HTML and script in model ids, notes, prompts, token strings and error messages", async () => {
    const run = await fixedRun();
    const figures = await Promise.all(figureSpecs(run).map(async (f) => ({ ...f, svg: await renderSvg(f.spec) })));
    const html = renderReport({ run, verdicts: VERDICTS, figures, durationS: 1 });
    expect(html).not.toContain(EVIL);
    expect(html).not.toContain("<b>note</b>");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(html.match(/<script/g)).toBeNull();
  });

  it("says what a 16-bit checkpoint's weights are, and how far its logits are from the float32 forward of the same weights", async () => {
    const run = await fixedRun();
    const form = "bf16 weights kept at 16 bits (16 matrices, 1.40 GB), cast to float32 per operation";
    const against = "the float32 forward of the same weights (the casts folded at load), on the first prompt";
    const r = run.results[0];
    const render = () => renderReport({ run, verdicts: [], figures: [], durationS: 1 });
    // As the probe run sets it: the form widened per run is how its weights run.
    r.weightForm = form;
    r.provenance.weights = { form, logitError: { maxAbs: 1.1027e-5, relative: 1.785e-6, tokens: 21, against } };
    expect(render()).toContain(
      `${form}<div class="detail">logits within 1.103e-5 (1.785e-6 of the largest) of ${against}`,
    );
    r.provenance.weights = { form, logitError: { unmeasured: "the float32 forward would need 71.4 GB" } };
    expect(render()).toContain(
      `${form}<div class="detail">logits not compared with float32: the float32 forward would need 71.4 GB`,
    );
  });

  it("draws a measure's value as people read it: a number with its unit, a layer list as a line, a matrix's shape, the layers a list of pairs names", () => {
    expect(cell(1.4979, "logits per unit RMS")).toBe(
      '<span class="v">1.50</span> <span class="u">logits per unit RMS</span>',
    );
    expect(cell(0.5876, "ratio")).toBe('<span class="v">0.588</span><span class="u">×</span>');
    const layers = cell([25, 180, 181, 90.5], "L2 norm");
    expect(layers).toMatch(
      /^<svg class="spark"[^]*<title>layer 0: 25\nlayer 1: 180\nlayer 2: 181\nlayer 3: 90.5<\/title>/,
    );
    expect(layers).toContain('last <span class="v">90.5</span> <span class="u">L2 norm</span> · 4 layers, 25 to 181');
    const stats = cell({ shape: [32000, 2048], spectral_norm: 71.25, contracting_pct: 5 }, "norms");
    expect(stats).toContain('<span class="k">shape</span> 32000 × 2048</div>');
    expect(stats).toContain('<span class="k">spectral norm</span> <span class="v">71.3</span></div>');
    expect(stats).toContain('<span class="k">contracting %</span>');
    const pairs = [0, 1, 2, 3, 5, 7, 8].map((L) => [L, 1.05]);
    expect(cell({ expansion_layers: pairs }, "")).toContain('0–3, 5, 7–8 <span class="detail">(7)</span>');
    expect(
      cell(
        [
          [1, 2],
          [3, 400],
        ].map((r) => [...r, 5]),
        "L2 norm",
      ),
    ).toMatch(/^<svg class="heat"[^]*2 layers × 3 positions, 1 to 400/);
    expect(num(1.1027e-5)).toBe("1.10e-5");
    expect(num(NaN)).toBe("—");
  });

  it("gives each verdict kind its own badge", async () => {
    const html = renderReport({
      run: await fixedRun(),
      verdicts: VERDICTS,
      figures: [],
      durationS: 1,
    });
    for (const v of ["confirmed", "rejected", "inconclusive", "error"])
      expect(html).toContain(`class="badge verdict-${v}" data-verdict="${v}"`);
    expect(html).toContain("synthetic analog");
  });

  it("prints a terminal summary that reads the same with colour off", () => {
    const lines = summaryLines(VERDICTS, "reports/latest/index.html", { color: false });
    expect(lines.join("\n")).not.toMatch(/\x1b\[/);
    expect(lines.find((l) => l.includes("error-one"))).toMatch(/^ {2}error-one +ERROR +p: model "m": NaN/);
    expect(lines.find((l) => l.includes("rejected-one"))).toMatch(/REJECTED +ratio ≥ 1.72: m vs b 1.10/);
    expect(lines.at(-1)).toBe("  report: reports/latest/index.html");
    expect(summaryLines(VERDICTS, "x", { color: true }).join("\n")).toMatch(/\x1b\[/);
  });

  it("swaps reports/latest only once the new run is complete", () => {
    const root = tmpDir();
    const first = writeReport({ "index.html": "<p>one</p>", "results.json": "{}" }, { stamp: "t", root });
    const second = writeReport({ "index.html": "<p>two</p>", "results.json": "{}" }, { stamp: "t", root });
    const latest = path.join(root, "latest");
    expect(fs.readlinkSync(latest)).toBe(path.join("runs", path.basename(second)));
    expect(fs.readFileSync(path.join(latest, "index.html"), "utf8")).toBe("<p>two</p>");
    expect(fs.readFileSync(path.join(first, "index.html"), "utf8")).toBe("<p>one</p>");
    expect(fs.readdirSync(path.join(root, "runs")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(fs.readdirSync(root).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

const CHROMIUM = "/usr/bin/chromium";
describe.skipIf(!fs.existsSync(CHROMIUM))(
  "the report in a real browser (Debian's chromium through playwright-core)",
  () => {
    it("opens from disk with no console errors, one badge per hypothesis, and every figure drawn", async () => {
      const { chromium } = await import("playwright-core");
      const r = runHypotheses(undefined);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        const errors: string[] = [];
        page.on("console", (m) => {
          if (m.type() === "error") errors.push(m.text());
        });
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(`file://${path.join(r.reportDir, "index.html")}`);
        expect(errors).toEqual([]);
        expect(await page.locator(".badge[data-verdict]").count()).toBe(Object.keys(r.results.verdicts).length);
        // The first screen leads with the answer: every hypothesis' verdict, each cohort's, within 1400 × 900.
        const answers = page.locator("#summary [data-summary]");
        expect(await answers.count()).toBe(Object.keys(r.results.verdicts).length);
        for (let i = 0; i < (await answers.count()); i++) {
          const box = await answers.nth(i).boundingBox();
          expect(box && box.y + box.height <= 900).toBe(true);
        }
        // The page takes the window's width, and the measures table fits it with every default model (eight where
        // the conformance models are there): per-layer values drawn as lines, no value summarised as a string.
        const main = await page.locator("main").boundingBox();
        expect(main && main.width >= 1400 - 20).toBe(true);
        const measures = page.locator("table.measures");
        const fits = await measures.evaluate((t) => t.scrollWidth <= t.parentElement!.clientWidth);
        expect(fits).toBe(true);
        expect(await measures.locator("svg.spark").count()).toBeGreaterThan(0);
        expect(await measures.innerText()).not.toMatch(/shape last|\d+ × \d+ values/);
        expect(await page.locator(".harness").getAttribute("data-harness")).toBe("pass");
        const figures = page.locator("figure.figure svg");
        expect(await figures.count()).toBeGreaterThanOrEqual(6);
        for (let i = 0; i < (await figures.count()); i++) {
          const box = await figures.nth(i).boundingBox();
          expect(box && box.width > 10 && box.height > 10).toBe(true);
        }
        const shots = path.join(PROJECT_ROOT, "test-results");
        fs.mkdirSync(shots, { recursive: true });
        await page.screenshot({ path: path.join(shots, "report.png"), fullPage: true });
      } finally {
        await browser.close();
      }
    });
  },
);

describe("the synthetic cohort as a check of the harness", () => {
  const planted: PlantedSubject[] = [
    { id: "analog", preset: "mistral", planted: "W_U ×1.5", expects: { h: "rejected", other: "rejected" } },
  ];
  const outcomeOf = (name: string, rows: ReturnType<typeof row>[]) =>
    outcome(name, [
      {
        name: "p",
        state: "failed",
        error: { name: "AssertionError", message: "" },
        prediction: prediction(rows, (id) => (id === "real" ? "real" : "synthetic")),
      },
    ]);

  it("passes when every planted verdict came out, and names what differed when one did not", () => {
    const asPlanted = harnessCheck(
      [outcomeOf("h", [row("analog", false)]), outcomeOf("other", [row("analog", false)])],
      planted,
    );
    expect(harnessLine(asPlanted)).toBe("harness check: 2 of 2 as planted");
    const differed = harnessCheck(
      [outcomeOf("h", [row("analog", true)]), outcomeOf("other", [row("analog", false)])],
      planted,
    );
    expect(harnessLine(differed)).toBe("harness check FAILED: 1 of 2 as planted");
    expect(differed.differences).toEqual([
      "analog (preset mistral): h planted rejected, got confirmed: every prediction holds for the synthetic models",
    ]);
  });

  it("prints the real cohort's verdict for the hypothesis, then the harness check", () => {
    const o = outcomeOf("h", [row("real", true), row("analog", false)]);
    const lines = summaryLines([judgeHypothesis(o)], undefined, { color: false, harness: harnessCheck([o], planted) });
    expect(lines[0]).toBe("probespec verdicts (real models)");
    expect(lines[1]).toMatch(/^ {2}h +CONFIRMED +ratio ≥ 1.72: real vs b 2.00$/);
    expect(lines[2]).toBe("  harness check: 1 of 1 as planted, each synthetic subject judged on its own rows:");
    expect(lines[3]).toMatch(/^ {4}h +analog rejected$/);
    // One subject plants one verdict of one hypothesis: the others are named as missing from this run.
    expect(lines[4]).toBe("    not planted in this run: h: confirmed, h: inconclusive");
  });

  it("heads the summary with the cohorts the run has: synthetic only where no real model was probed", () => {
    const synthetic = judgeHypothesis(outcomeOf("h", [row("analog", true)]));
    expect(summaryLines([synthetic], undefined, { color: false })[0]).toBe(
      "probespec verdicts (synthetic analogs only: a check of the harness)",
    );
  });

  it("every analog entry's notes say exactly what its preset plants", () => {
    const dir = path.join(PROJECT_ROOT, "models");
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith("-analog.json"))) {
      const entry = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
      const preset = PRESETS[entry.source.analog];
      if (Object.keys(preset.expects ?? {}).length) expect(entry.notes, f).toContain(`Planted: ${preset.planted}.`);
      else expect(entry.notes, f).toMatch(/nothing planted/);
    }
    expect(PRESETS.mistral.planted).not.toMatch(/sharpness/);
  });
});

describe("the preregistration stamp", () => {
  const PROMPTS = { name: "t", prompts: ["The capital of France is"] };

  it("changes with a threshold in criteria.ts, and with nothing else", () => {
    const copy = tmpDir();
    const here = path.join(PROJECT_ROOT, "hypotheses");
    for (const f of fs.readdirSync(here)) fs.copyFileSync(path.join(here, f), path.join(copy, f));
    expect(preregistration(copy, PROMPTS)).toEqual(preregistration(here, PROMPTS));
    const criteria = path.join(copy, "criteria.ts");
    fs.writeFileSync(
      criteria,
      fs.readFileSync(criteria, "utf8").replace("MIDDLE_GAIN_TOLERANCE = 0.1;", "MIDDLE_GAIN_TOLERANCE = 0.2;"),
    );
    const [before, after] = [preregistration(here, PROMPTS), preregistration(copy, PROMPTS)];
    expect(after.criteria).not.toBe(before.criteria);
    expect({ ...after, criteria: "" }).toEqual({ ...before, criteria: "" });
    expect(compareResults({ preregistration: before }, { preregistration: after })).toEqual([
      "stamp: criteria.ts edited: a threshold or its reason changed",
    ]);
  });

  it("refuses a PROBESPEC_COMPARE that names no file, before anything is probed", () => {
    expect(() => readConfig({ PROBESPEC_COMPARE: path.join(tmpDir(), "nothing.json") })).toThrow(
      /PROBESPEC_COMPARE=.*nothing.json is not a file: it should name an earlier run's results.json/,
    );
  });

  it("compares verdicts by cohort, measures and model keys", () => {
    const run = (verdict: string, value: number, key: string) => ({
      verdicts: { h: { verdict, by_cohort: { real: { verdict } } } },
      extended: { m: { measures: { "resid.gain": { unit: "x", value } } } },
      preregistration: { specs: { "h.spec.ts": "a" }, criteria: "c", prompts: "p", models: { m: key }, commit: "1" },
    });
    expect(compareResults(run("confirmed", 1, "k"), run("confirmed", 1, "k"))).toEqual([]);
    expect(compareResults(run("confirmed", 1, "k"), run("rejected", 1.5, "k2"))).toEqual([
      "verdict h: confirmed → rejected",
      "verdict h (real): confirmed → rejected",
      "measure resid.gain of m: 1.00000 → 1.50000",
      'stamp: model m\'s cache key (its files, probespec\'s probes, prompts, measures, provider) "k" → "k2"',
    ]);
  });
});

describe("a run's verdicts by cohort, its exit status, and PROBESPEC_COMPARE", () => {
  it("judges the real cohort for the hypothesis, checks the planted analog, exits 1 on a real rejection, and names an edited threshold", () => {
    const entries = [
      { id: "mistral-analog", family: "mistral", source: { analog: "mistral" }, role: "subject" },
      { id: "llama-analog", family: "llama", source: { analog: "llama" } },
      { id: "real-subject", family: "mistral", source: { analog: "mistral-small" }, synthetic: false },
      { id: "real-base", family: "llama", source: { analog: "llama", seed: 5 }, synthetic: false },
    ];
    const r = runHypotheses(entries);
    expect(r.output).toMatch(/probespec verdicts \(real models\)/);
    expect(r.output).toMatch(/harness check: 5 of 5 as planted, each synthetic subject judged on its own rows:/);
    expect(r.output).toMatch(/^ {4}silent-exit +mistral-analog rejected$/m);
    expect(r.results.harness_check).toMatchObject({ passed: true, as_planted: 5, total: 5 });
    for (const v of Object.values(r.results.verdicts) as {
      verdict: string;
      by_cohort: Record<string, { verdict: string }>;
    }[])
      expect(v.verdict).toBe(v.by_cohort.real.verdict);
    // The real analogs plant nothing: the attention sink is rejected for them, so the run fails.
    expect(r.results.verdicts["attention-sink"].by_cohort.real.verdict).toBe("rejected");
    expect(r.status).toBe(1);
    // Every CI is at 1 − 2α, one-sided at α each way; rejection is Holm-adjusted over the cohort's tests: (a) and
    // (b) with and without position 0, (b) a test a middle layer (the 8-layer analog's layers 2–5).
    const middle = r.results.verdicts["residual-explosion"].predictions[1].rows[0];
    expect(middle.level).toBe(0.9);
    expect(middle.tests).toBe(2 + 2 * 4);
    expect(middle.pRejectAdjusted).toBeGreaterThanOrEqual(middle.pReject);
    const stamp = r.results.preregistration;
    expect(Object.keys(stamp.specs)).toContain("attention-sink.spec.ts");
    expect(Object.keys(stamp.models).sort()).toEqual(["llama-analog", "mistral-analog", "real-base", "real-subject"]);

    // The earlier run, as if its criteria.ts had another threshold.
    const earlier = path.join(tmpDir(), "results.json");
    fs.writeFileSync(
      earlier,
      JSON.stringify({ ...r.results, preregistration: { ...stamp, criteria: "0".repeat(64) } }),
    );
    const again = runHypotheses(entries, { PROBESPEC_COMPARE: earlier });
    expect(again.output).toContain(`changed since ${earlier}:`);
    expect(again.output).toContain("stamp: criteria.ts edited: a threshold or its reason changed");
    expect(again.output).not.toMatch(/verdict [a-z-]+:/);
  });

  it("was: a PROBESPEC_COMPARE file holding null crashed the reporter; now the verdicts print, then one line saying why", () => {
    const file = path.join(tmpDir(), "null.json");
    fs.writeFileSync(file, "null");
    const r = runHypotheses(
      [
        { id: "subject", family: "mistral", source: { analog: "mistral-small" } },
        { id: "base", family: "llama", source: { analog: "llama" } },
      ],
      { PROBESPEC_COMPARE: file },
    );
    expect(r.output).toMatch(/probespec verdicts/);
    expect(r.output).toContain(`compare: ${file} is not a results.json: it holds null, with no verdicts`);
    expect(r.output).not.toMatch(/Unhandled Error|TypeError/);
  });
});
