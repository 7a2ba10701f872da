/**
 * What a red-team pass found (#13), each through the real probe run: the
 * failing behaviour each test guards against is named in its title.
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildAnalog } from "../models/analogs/build.js";
import { decodeModel, encodeModel } from "../onnx/io.js";
import { runProbes } from "../probes/run.js";
import { readCached, writeCached } from "../probes/cache.js";
import { ProbeResultSchema } from "../probes/result-schema.js";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { childEnv, probeEntries, runHypotheses, TEST_CACHE, tmpDir } from "./helpers.js";
import { notebookNumbers } from "../reports/results.js";

const PROMPTS = { name: "t", file: "-", prompts: ["The capital of France is"] };
const GOOD = { id: "good", family: "llama", source: { analog: "llama" }, synthetic: true };

const run = (entries: object[], env: Record<string, string> = {}) => probeEntries(entries, env);

/** A generated export with its weights in model.onnx_data. */
const external = () => buildAnalog({ analog: "llama", external: true }, TEST_CACHE);

/** A repository laid out as huggingface_hub lays out its cache: every file a symlink into ../../blobs/. */
function hubCache(src: string, revisions: string[], opts: { onnxAs?: string } = {}): string {
  const home = tmpDir("probespec-hub-");
  const repo = path.join(home, "models--org--tiny");
  fs.mkdirSync(path.join(repo, "blobs"), { recursive: true });
  fs.mkdirSync(path.join(repo, "refs"));
  for (const rev of revisions) {
    const snap = path.join(repo, "snapshots", rev);
    fs.mkdirSync(snap, { recursive: true });
    for (const f of fs.readdirSync(src)) {
      const blob = crypto
        .createHash("sha1")
        .update(fs.readFileSync(path.join(src, f)))
        .digest("hex");
      fs.copyFileSync(path.join(src, f), path.join(repo, "blobs", blob));
      const name = f === "model.onnx" && opts.onnxAs ? opts.onnxAs : f;
      fs.symlinkSync(path.join("..", "..", "blobs", blob), path.join(snap, name));
    }
  }
  fs.writeFileSync(path.join(repo, "refs", "main"), revisions[revisions.length - 1]);
  return home;
}

describe("the results cache never serves numbers from other weights", () => {
  it("was: weights under onnx/ (the Optimum layout) were not part of the key, so doubled weights came back with the old W_U norm", async () => {
    const dir = path.join(tmpDir(), "optimum");
    fs.mkdirSync(path.join(dir, "onnx"), { recursive: true });
    const src = await external();
    for (const f of fs.readdirSync(src))
      fs.copyFileSync(path.join(src, f), path.join(dir, f.startsWith("model.onnx") ? "onnx" : "", f));
    const cache = tmpDir();
    const entry = { id: "optimum", family: "llama", source: { dir } };
    const first = await run([entry], { PROBESPEC_CACHE_DIR: cache, PROBESPEC_NO_CACHE: "0" });
    const data = path.join(dir, "onnx", "model.onnx_data");
    const f = new Float32Array(new Uint8Array(fs.readFileSync(data)).buffer);
    fs.writeFileSync(data, new Uint8Array(f.map((x) => 2 * x).buffer));
    const second = await run([entry], { PROBESPEC_CACHE_DIR: cache, PROBESPEC_NO_CACHE: "0" });
    expect(second.cacheHits).toEqual([]);
    expect(notebookNumbers(second.results[0]).unembedding!.frobenius_norm).toBeCloseTo(
      2 * notebookNumbers(first.results[0]).unembedding!.frobenius_norm,
      4,
    );
    const third = await run([entry], { PROBESPEC_CACHE_DIR: cache, PROBESPEC_NO_CACHE: "0" });
    expect(third.cacheHits).toEqual(["optimum"]);
  });
});

describe("hub sources read from the HuggingFace cache as huggingface_hub lays it out", () => {
  it("was: external data behind the cache's symlinks into blobs/ was refused as escaping the model's folder", async () => {
    const home = hubCache(await external(), ["0123abc"]);
    const r = await run([{ id: "hub", family: "llama", source: { hub: "org/tiny" } }, GOOD], { HF_HUB_CACHE: home });
    expect(r.failures).toEqual([]);
    expect(r.results.map((x) => x.id).sort()).toEqual(["good", "hub"]);
  });

  it("was: a hub entry's `file` was ignored and model.onnx probed instead", async () => {
    const home = hubCache(await external(), ["0123abc"], { onnxAs: "decoder_other.onnx" });
    const r = await run([{ id: "hub", family: "llama", source: { hub: "org/tiny", file: "decoder_other.onnx" } }], {
      HF_HUB_CACHE: home,
    });
    expect(r.failures).toEqual([]);
    expect(path.basename(r.results[0].provenance.onnxFile)).toBe("decoder_other.onnx");
  });

  it("was: a pinned revision missing from the cache was silently replaced by the newest snapshot", async () => {
    const home = hubCache(await external(), ["1111aaa", "2222bbb"]);
    const r = await run([{ id: "pinned", family: "llama", source: { hub: "org/tiny", revision: "9999fff" } }, GOOD], {
      HF_HUB_CACHE: home,
    });
    expect(r.results.map((x) => x.id)).toEqual(["good"]);
    expect(r.skipped.find((s) => s.id === "pinned")?.reason).toMatch(
      /pinned to revision "9999fff", which is not in the local HuggingFace cache .*cached: (1111aaa, 2222bbb|2222bbb, 1111aaa)/,
    );
    const byBranch = await run([{ id: "main", family: "llama", source: { hub: "org/tiny", revision: "main" } }], {
      HF_HUB_CACHE: home,
    });
    expect(byBranch.results[0].provenance.onnxFile).toContain(path.join("snapshots", "2222bbb"));
  });

  it("was: refs/main naming a commit missing from snapshots/ probed the newest other snapshot without a word", async () => {
    const home = hubCache(await external(), ["1111aaa"]);
    fs.writeFileSync(path.join(home, "models--org--tiny", "refs", "main"), "3333ccc");
    const r = await run([{ id: "hub", family: "llama", source: { hub: "org/tiny" } }, GOOD], { HF_HUB_CACHE: home });
    expect(r.results.map((x) => x.id)).toEqual(["good"]);
    expect(r.failures.find((f) => f.id === "hub")?.error).toMatch(
      /hub source org\/tiny: refs\/main names commit 3333ccc, which is not in .*snapshots \(an interrupted download\?\); cached: 1111aaa/,
    );
  });
});

describe("only the files a model uses matter", () => {
  it("was: a dangling symlink or a symlink loop in the model's folder failed a good model", async () => {
    const dir = path.join(tmpDir(), "export");
    fs.cpSync(await external(), dir, { recursive: true });
    fs.symlinkSync("/no/such/target", path.join(dir, "dangling.bin"));
    fs.symlinkSync("loop-b", path.join(dir, "loop-a"));
    fs.symlinkSync("loop-a", path.join(dir, "loop-b"));
    const r = await run([{ id: "links", family: "llama", source: { dir } }], {
      PROBESPEC_NO_CACHE: "0",
      PROBESPEC_CACHE_DIR: tmpDir(),
    });
    expect(r.failures).toEqual([]);
    expect(r.results.map((x) => x.id)).toEqual(["links"]);
  });
});

describe("a number that is not finite never passes or fails a prediction", () => {
  it("was: with one-token prompts the gains without position 0 were NaN and residual-explosion's control passed with 'without: NaN'", async () => {
    // The mistral analog's tokenizer without its BOS template: "a" and "b" are one token each.
    const dir = path.join(tmpDir(), "no-bos");
    fs.cpSync(await buildAnalog({ analog: "mistral-small" }, TEST_CACHE), dir, { recursive: true });
    const tok = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify({ ...tok, post_processor: null }));
    const prompts = path.join(tmpDir(), "one-token.json");
    fs.writeFileSync(
      prompts,
      JSON.stringify({
        name: "one-token",
        // Ten of them: enough prompts for a claim, each one token.
        prompts: [..."abcdefghij"].map((text) => ({ kind: "x", text })),
      }),
    );
    const r = runHypotheses([{ id: "subject", family: "mistral", source: { dir }, synthetic: true }], {
      PROBESPEC_PROMPTS: prompts,
    });
    // The paradox's control without position 0 is NaN on one-token prompts: the row is open, saying so.
    const a = r.results.verdicts["residual-explosion"].predictions.find((p: { name: string }) =>
      p.name.startsWith("(a)"),
    );
    expect(Number.isNaN(a.rows[0].control.value) || a.rows[0].control.value === null).toBe(true);
    expect(a.state).toBe("skipped");
    expect(a.skipped).toMatch(/^inconclusive: subject without position 0 (NaN|null)/);
    expect(r.results.verdicts["residual-explosion"].verdict).not.toBe("confirmed");
  });
});

describe("a verdict needs an interval that reflects variation", () => {
  it("was: on one prompt silent-exit was confirmed on a CI of zero width; now the claim over prompts is inconclusive, saying why", () => {
    const prompts = path.join(tmpDir(), "one.json");
    fs.writeFileSync(
      prompts,
      JSON.stringify({ name: "one", prompts: [{ kind: "x", text: "The capital of France is" }] }),
    );
    const r = runHypotheses(
      [
        { id: "subject", family: "mistral", source: { analog: "mistral-small", knobs: { wUScale: 3 } } },
        { id: "base", family: "llama", source: { analog: "llama" } },
      ],
      { PROBESPEC_PROMPTS: prompts },
    );
    const v = r.results.verdicts["silent-exit"];
    expect(v.verdict).toBe("inconclusive");
    expect(v.reason).toMatch(/rests on 1 prompt, fewer than the 10 a claim over prompts needs/);
    // The weight measure needs no prompts: its row still decides.
    expect(v.predictions[0].rows[0].passed).toBe(true);
  });
});

/** `vitest run --project hypotheses` as a user starts it, from `cwd`; its exit status and everything it printed. */
function mainJob(env: Record<string, string>, cwd = PROJECT_ROOT) {
  const out = spawnSync(
    process.execPath,
    [path.join(PROJECT_ROOT, "node_modules/vitest/vitest.mjs"), "run", "--project", "hypotheses"],
    {
      cwd,
      env: childEnv({ PROBESPEC_CACHE_DIR: TEST_CACHE, ...env }),
      encoding: "utf8",
      timeout: 300_000,
    },
  );
  return { status: out.status, output: out.stdout + out.stderr };
}

const EXPORTS = path.join(import.meta.dirname, "fixtures", "exports");
/** Two real exports as subject and baseline: no generated model, so nothing needs the cache. */
const REAL_PAIR = [
  { id: "subject", family: "mistral", source: { dir: path.join(EXPORTS, "mistral-dynamo18") } },
  { id: "baseline", family: "llama", source: { dir: path.join(EXPORTS, "llama-dynamo23") } },
];

describe("configuration errors stop the run at once with one line", () => {
  const modelsDir = tmpDir("probespec-models-");
  fs.writeFileSync(path.join(modelsDir, "good.json"), JSON.stringify(GOOD));
  const badPrompts = path.join(tmpDir(), "prompts.json");
  fs.writeFileSync(badPrompts, JSON.stringify({ name: "x", prompts: "The capital of France is" }));
  const copies = path.join(tmpDir(), "copies.json");
  fs.writeFileSync(
    copies,
    JSON.stringify({ name: "copies", prompts: Array(33).fill({ kind: "x", text: "The capital of France is" }) }),
  );
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      "PROBESPEC_DEVICE=bogus",
      { PROBESPEC_DEVICE: "bogus" },
      /^probespec: PROBESPEC_DEVICE="bogus" is not one of auto, cuda, webgpu, cpu$/m,
    ],
    [
      "PROBESPEC_THREADS=abc",
      { PROBESPEC_THREADS: "abc" },
      /^probespec: PROBESPEC_THREADS="abc" is not a whole number of threads from 1 to 1024$/m,
    ],
    [
      "PROBESPEC_THREADS=4294967297 (was: passed the check, then every model errored in ONNX Runtime)",
      { PROBESPEC_THREADS: "4294967297" },
      /^probespec: PROBESPEC_THREADS="4294967297" is not a whole number of threads from 1 to 1024$/m,
    ],
    ["PROBESPEC_THREADS=-1", { PROBESPEC_THREADS: "-1" }, /^probespec: PROBESPEC_THREADS="-1" is not a whole number/m],
    [
      "PROBESPEC_THREADS=1.5",
      { PROBESPEC_THREADS: "1.5" },
      /^probespec: PROBESPEC_THREADS="1.5" is not a whole number/m,
    ],
    [
      'a prompt set of 33 copies of one prompt (was: a zero-width "95% CI" decided a verdict)',
      { PROBESPEC_PROMPTS: copies },
      /^probespec: PROBESPEC_PROMPTS: prompt set .*copies.json: prompts.1.text: repeats prompt 0 \("The capital of France is"\), and 31 more prompts repeat earlier ones/m,
    ],
    [
      "a missing PROBESPEC_MODELS_DIR",
      { PROBESPEC_MODELS_DIR: "/no/such/models" },
      /^probespec: PROBESPEC_MODELS_DIR=\/no\/such\/models does not exist$/m,
    ],
    [
      "a prompt set of the wrong shape",
      { PROBESPEC_PROMPTS: badPrompts },
      /^probespec: PROBESPEC_PROMPTS: prompt set .*prompts.json: prompts: .*expected array/m,
    ],
    [
      "a typo in PROBESPEC_MODELS",
      { PROBESPEC_MODELS_DIR: modelsDir, PROBESPEC_MODELS: "goood" },
      /^probespec: PROBESPEC_MODELS names "goood", which no entry in .* declares; closest: good$/m,
    ],
    [
      "PROBESPEC_REPORT_DIR under /proc (was: a recursive mkdir spun forever)",
      { PROBESPEC_REPORT_DIR: "/proc/x/report" },
      /^probespec: PROBESPEC_REPORT_DIR=\/proc\/x\/report cannot be written: ENOENT/m,
    ],
  ];
  for (const [what, env, line] of cases) {
    it(`was: ${what} printed "No test files found" and a stack trace, or exited 0 having probed nothing`, () => {
      const r = mainJob({ PROBESPEC_MODELS_DIR: modelsDir, ...env });
      expect(r.status).toBe(2);
      expect(r.output).toMatch(line);
      expect(r.output).not.toMatch(/No test files found|Unhandled Error|\n\s+❯ |\n\s+at /);
    });
  }

  it("was: PROBESPEC_CACHE_DIR inside a model's folder pruned the user's runs/*.json; now refused, nothing of theirs touched", () => {
    const dir = path.join(tmpDir(), "export");
    fs.cpSync(path.join(EXPORTS, "llama-dynamo23"), dir, { recursive: true });
    fs.mkdirSync(path.join(dir, "runs"));
    const mine = Array.from({ length: 25 }, (_, i) => `${String(i + 1).padStart(2, "0")}.json`);
    for (const f of mine) fs.writeFileSync(path.join(dir, "runs", f), "the user's own");
    const before = fs.readdirSync(dir).sort();
    const models = tmpDir("probespec-models-");
    fs.writeFileSync(path.join(models, "mine.json"), JSON.stringify({ id: "mine", family: "llama", source: { dir } }));
    const r = mainJob({ PROBESPEC_MODELS_DIR: models, PROBESPEC_CACHE_DIR: dir });
    expect(r.status).toBe(2);
    expect(r.output).toMatch(
      /^probespec: PROBESPEC_CACHE_DIR=.*export lies inside the folder of model "mine" .*never writes into a model's folder/m,
    );
    expect(fs.readdirSync(dir).sort()).toEqual(before);
    expect(fs.readdirSync(path.join(dir, "runs")).sort()).toEqual(mine);
  });

  it("prunes only the run files it wrote: other files in the cache's runs/ stay", () => {
    const cache = tmpDir();
    fs.mkdirSync(path.join(cache, "runs"));
    const mine = Array.from({ length: 25 }, (_, i) => `${String(i + 1).padStart(2, "0")}.json`);
    for (const f of mine) fs.writeFileSync(path.join(cache, "runs", f), "kept");
    const models = tmpDir("probespec-models-");
    for (const e of REAL_PAIR) fs.writeFileSync(path.join(models, `${e.id}.json`), JSON.stringify(e));
    mainJob({ PROBESPEC_MODELS_DIR: models, PROBESPEC_CACHE_DIR: cache, PROBESPEC_REPORT_DIR: tmpDir() });
    const left = fs.readdirSync(path.join(cache, "runs"));
    for (const f of mine) expect(left).toContain(f);
    expect(left.length).toBe(mine.length + 1);
  });

  it("was: a report folder inside a model's folder replaced the user's own results.json", () => {
    const dir = path.join(tmpDir(), "export");
    fs.cpSync(path.join(EXPORTS, "llama-dynamo23"), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "results.json"), "the user's own results");
    const models = tmpDir("probespec-models-");
    fs.writeFileSync(path.join(models, "mine.json"), JSON.stringify({ id: "mine", family: "llama", source: { dir } }));
    const r = mainJob({ PROBESPEC_MODELS_DIR: models, PROBESPEC_REPORT_DIR: dir });
    expect(r.status).toBe(2);
    expect(r.output).toMatch(
      /^probespec: PROBESPEC_REPORT_DIR=.*export lies inside the folder of model "mine" .*never writes into a model's folder/m,
    );
    expect(fs.readFileSync(path.join(dir, "results.json"), "utf8")).toBe("the user's own results");
  });
});

describe("the main job from anywhere, with whatever the user's files look like", () => {
  it("was: running from a subfolder of the project found no specs and probed nothing", () => {
    const reportDir = tmpDir();
    const models = tmpDir("probespec-models-");
    for (const e of REAL_PAIR) fs.writeFileSync(path.join(models, `${e.id}.json`), JSON.stringify(e));
    const r = mainJob(
      { PROBESPEC_MODELS_DIR: models, PROBESPEC_REPORT_DIR: reportDir },
      path.join(PROJECT_ROOT, "hypotheses"),
    );
    const results = JSON.parse(fs.readFileSync(path.join(reportDir, "results.json"), "utf8"));
    expect(results.models_tested.sort()).toEqual(["baseline", "subject"]);
    expect(Object.keys(results.verdicts).length).toBeGreaterThanOrEqual(3);
    expect(r.output).toMatch(/probespec verdicts/);
  });

  it("was: a byte-order mark in an entry or a prompt set gave \"Unexpected token '\uFEFF'\"", () => {
    const prompts = path.join(tmpDir(), "bom.json");
    fs.writeFileSync(
      prompts,
      "\uFEFF" + JSON.stringify({ name: "bom", prompts: [{ kind: "x", text: "The capital of France is" }] }),
    );
    const models = tmpDir("probespec-models-");
    for (const e of REAL_PAIR) fs.writeFileSync(path.join(models, `${e.id}.json`), "\uFEFF" + JSON.stringify(e));
    const reportDir = tmpDir();
    mainJob({ PROBESPEC_MODELS_DIR: models, PROBESPEC_PROMPTS: prompts, PROBESPEC_REPORT_DIR: reportDir });
    const results = JSON.parse(fs.readFileSync(path.join(reportDir, "results.json"), "utf8"));
    expect(results.models_tested.sort()).toEqual(["baseline", "subject"]);
    expect(results.skipped).toEqual([]);
  });

  it("was: a cache folder that cannot be written marked a good model FAILED and the run ended with no report", () => {
    const blocker = path.join(tmpDir(), "a-file");
    fs.writeFileSync(blocker, "");
    const reportDir = tmpDir();
    const r = runHypotheses(REAL_PAIR, {
      PROBESPEC_CACHE_DIR: path.join(blocker, "cache"),
      PROBESPEC_REPORT_DIR: reportDir,
    });
    expect(r.results.models_tested.sort()).toEqual(["baseline", "subject"]);
    expect(r.output).toMatch(/warning: the results cache .*cannot be written .*the run goes on/);
  });

  it("was: a report that could not be written showed only a stack trace and left its temporary files", () => {
    const reportDir = tmpDir();
    fs.mkdirSync(path.join(reportDir, "index.html")); // a folder where the report's file must go: the rename fails
    const models = tmpDir("probespec-models-");
    for (const e of REAL_PAIR) fs.writeFileSync(path.join(models, `${e.id}.json`), JSON.stringify(e));
    const r = mainJob({ PROBESPEC_MODELS_DIR: models, PROBESPEC_REPORT_DIR: reportDir });
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/probespec verdicts[^\n]*\n( {2}[a-z-]+ +[A-Z]+ .*\n)+report: not written: .*index.html/);
    expect(fs.readdirSync(reportDir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("was: .probespec-cache/runs grew without bound; it keeps the newest 20 run files", () => {
    const cache = tmpDir();
    fs.mkdirSync(path.join(cache, "runs"));
    for (let i = 0; i < 25; i++)
      fs.writeFileSync(path.join(cache, "runs", `2000-01-01T00-00-${String(i).padStart(2, "0")}-000Z-1.json`), "{}");
    runHypotheses(REAL_PAIR, { PROBESPEC_CACHE_DIR: cache });
    const runs = fs.readdirSync(path.join(cache, "runs"));
    expect(runs).toHaveLength(20);
    expect(runs.some((f) => f.startsWith("2000-01-01T00-00-00"))).toBe(false);
  });
});

describe("generated models are verified before they are trusted", () => {
  it("was: flipped bytes in a cached analog's model.onnx gave a W_U norm of 1.3e38 with exit code 0", async () => {
    const cache = tmpDir();
    const entry = { id: "gen", family: "llama", source: { analog: "llama" }, synthetic: true };
    const before = await run([entry], { PROBESPEC_CACHE_DIR: cache });
    const dir = await buildAnalog({ analog: "llama" }, cache);
    const file = path.join(dir, "model.onnx");
    const bytes = fs.readFileSync(file);
    for (let i = bytes.length - 4000; i < bytes.length - 100; i += 4) bytes[i + 3] = 0x7f; // exponents of the last floats
    fs.writeFileSync(file, bytes);
    const after = await run([entry], { PROBESPEC_CACHE_DIR: cache });
    expect(after.failures).toEqual([]);
    expect(notebookNumbers(after.results[0]).unembedding!.frobenius_norm).toBe(
      notebookNumbers(before.results[0]).unembedding!.frobenius_norm,
    );
    expect(notebookNumbers(after.results[0]).entropy!.entropy).toBe(
      notebookNumbers(before.results[0]).entropy!.entropy,
    );
  });
});

describe("each message names the model, the file and what to do", () => {
  /** A copy of the generated external-data llama export, edited by `edit`. */
  async function broken(edit: (dir: string) => void): Promise<string> {
    const dir = path.join(tmpDir(), "export");
    fs.cpSync(await external(), dir, { recursive: true });
    edit(dir);
    return dir;
  }
  const editGraph = (dir: string, f: (g: NonNullable<ReturnType<typeof decodeModel>["graph"]>) => void) => {
    const m = decodeModel(fs.readFileSync(path.join(dir, "model.onnx")));
    f(m.graph!);
    fs.writeFileSync(path.join(dir, "model.onnx"), encodeModel(m));
  };
  const failure = async (dir: string, prompts?: string[]) => {
    const modelsDir = tmpDir();
    fs.writeFileSync(path.join(modelsDir, "m.json"), JSON.stringify({ id: "m", family: "llama", source: { dir } }));
    const r = await runProbes({
      env: {
        PROBESPEC_MODELS_DIR: modelsDir,
        PROBESPEC_CACHE_DIR: TEST_CACHE,
        PROBESPEC_DEVICE: "cpu",
        PROBESPEC_NO_CACHE: "1",
      },
      promptSet: { ...PROMPTS, prompts: prompts ?? PROMPTS.prompts },
    });
    return r.failures[0]?.error ?? r.skipped.find((x) => x.id === "m")?.reason ?? "";
  };

  it("was: EISDIR with no path when model.onnx is a folder", async () => {
    const dir = await broken((d) => {
      fs.rmSync(path.join(d, "model.onnx"));
      fs.mkdirSync(path.join(d, "model.onnx"));
    });
    expect(await failure(dir)).toMatch(/^model "m": .*export\/model.onnx is a folder, not an ONNX file$/);
  });

  it('was: "no model.onnx … (found model.onnx)" for a symlink whose target is gone', async () => {
    const dir = await broken((d) => {
      fs.rmSync(path.join(d, "model.onnx"));
      fs.symlinkSync("../blobs/abc123", path.join(d, "model.onnx"));
    });
    expect(await failure(dir)).toMatch(
      /^model "m": model.onnx in .*export is a symlink to ..\/blobs\/abc123, which does not exist; the download looks incomplete$/,
    );
  });

  it("was: ENOTDIR when `dir` points at a file (now an error, not a skip: the source is there and wrong)", async () => {
    const dir = await external();
    expect(await failure(path.join(dir, "model.onnx"))).toMatch(
      /^model "m": source.dir .*model.onnx is a file, not a folder; point "dir" at the folder that holds the export/,
    );
  });

  it('was: ONNX Runtime\'s "Got invalid dimensions for input: input_ids" for a fixed-sequence-length export', async () => {
    const dir = await broken((d) =>
      editGraph(d, (g) => {
        const t = g.input.find((i) => i.name === "input_ids")!.type!.value.value as {
          shape: { dim: { value: unknown }[] };
        };
        t.shape.dim[1].value = { case: "dimValue", value: 3n };
      }),
    );
    expect(await failure(dir)).toMatch(
      /^model "m": input "input_ids" has a fixed sequence length of 3 \(a static-shape export\), but prompt "The capital of France is" is \d+ tokens; re-export with a dynamic sequence axis/,
    );
  });

  it("was: an input named like cache_position was fed as float", async () => {
    const dir = await broken((d) =>
      editGraph(d, (g) => {
        const ids = g.input.find((i) => i.name === "input_ids")!;
        g.input.push({
          ...ids,
          name: "cache_position",
          type: {
            ...ids.type!,
            value: { case: "tensorType", value: { ...(ids.type!.value.value as object), elemType: 1 } },
          },
        } as never);
      }),
    );
    expect(await failure(dir)).toMatch(
      /^model "m": input "cache_position" looks like positions but has element type FLOAT/,
    );
  });

  it('was: a custom attention op reported only as "the residual chain does not alternate"', async () => {
    const dir = await broken((d) =>
      editGraph(d, (g) => {
        const softmax = g.node.find((n) => n.opType === "Softmax")!;
        softmax.opType = "MySoftmax";
        softmax.domain = "com.example";
      }),
    );
    expect(await failure(dir)).toMatch(
      /^model "m": the residual stream breaks at layer 0: expected an attention sub-block, found MLP .*custom op com.example:MySoftmax, which probespec cannot see inside.*"probePoints"/,
    );
  });

  it("was: a raw Gather error for a prompt past the context where only tokenizer_config.json gives model_max_length", async () => {
    const dir = await broken((d) => {
      const c = JSON.parse(fs.readFileSync(path.join(d, "config.json"), "utf8"));
      delete c.max_position_embeddings;
      fs.writeFileSync(path.join(d, "config.json"), JSON.stringify(c));
      const t = JSON.parse(fs.readFileSync(path.join(d, "tokenizer_config.json"), "utf8"));
      fs.writeFileSync(path.join(d, "tokenizer_config.json"), JSON.stringify({ ...t, model_max_length: 8 }));
    });
    expect(await failure(dir, ["a prompt of many more words than eight tokens"])).toMatch(
      /^model "m": prompt "a prompt of many more words than eight tokens"… is \d+ tokens, longer than the model's context of 8$/,
    );
  });

  it("was: a throwing .ts entry reported without its file name", async () => {
    const modelsDir = tmpDir();
    fs.writeFileSync(
      path.join(modelsDir, "broken-entry.ts"),
      'throw new Error("no such export on this machine");\nexport default {};\n',
    );
    fs.writeFileSync(path.join(modelsDir, "good.json"), JSON.stringify(GOOD));
    const r = await runProbes({
      env: { PROBESPEC_MODELS_DIR: modelsDir, PROBESPEC_CACHE_DIR: TEST_CACHE, PROBESPEC_DEVICE: "cpu" },
      promptSet: PROMPTS,
    });
    expect(r.registryProblems.map((p) => p.error)).toEqual(["broken-entry.ts: no such export on this machine"]);
    expect(r.results.map((x) => x.id)).toEqual(["good"]);
  });
});

describe("the results cache trusts nothing it cannot check", () => {
  it("keys results by the source of every file under probes/ (measures included): an edit to any of them probes again", () => {
    const root = tmpDir(),
      copy = path.join(root, "probes");
    fs.cpSync(path.join(PROJECT_ROOT, "probes"), copy, { recursive: true });
    // What probes/cache.ts imports: the ONNX ground floor, and the packages.
    fs.cpSync(path.join(PROJECT_ROOT, "onnx"), path.join(root, "onnx"), { recursive: true });
    fs.symlinkSync(path.join(PROJECT_ROOT, "node_modules"), path.join(root, "node_modules"));
    fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ type: "module" }));
    fs.writeFileSync(
      path.join(root, "print.ts"),
      'import { PROBES_SOURCE } from "./probes/cache.js";\nconsole.log(PROBES_SOURCE);\n',
    );
    const hash = () =>
      spawnSync(
        process.execPath,
        [path.join(PROJECT_ROOT, "node_modules/tsx/dist/cli.mjs"), path.join(root, "print.ts")],
        { encoding: "utf8" },
      ).stdout.trim();
    const before = hash();
    expect(before).toMatch(/^[0-9a-f]{16}$/);
    fs.appendFileSync(path.join(copy, "locate.ts"), "\n// an edit\n");
    const edited = hash();
    expect(edited).not.toBe(before);
    // A measure edited, and a measure added.
    fs.appendFileSync(path.join(copy, "measures", "resid-gain.ts"), "\n// an edit\n");
    const measureEdited = hash();
    expect(measureEdited).not.toBe(edited);
    fs.copyFileSync(path.join(copy, "measures", "resid-gain.ts"), path.join(copy, "measures", "resid-gain-2.ts"));
    expect(hash()).not.toBe(measureEdited);
  });

  it("parses a cached result with a schema: an entry of another shape, checksum and all, is not served, and says why", () => {
    const cache = tmpDir();
    writeCached(cache, "k", { id: "m", layers: "three" });
    expect(readCached(cache, "k", ProbeResultSchema)).toEqual({
      problem: `${path.join(cache, "results", "k.json")} is not a result of this version of probespec`,
    });
  });
});
