/**
 * Bad input, faults and isolation: every failure names the model and what is
 * wrong, the other models are still probed, and nothing already written is lost.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { StringStringEntryProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { buildAnalog } from "../models/analogs/build.js";
import { DT, GraphBuilder, floatTensor, valueInfo } from "../onnx/graph.js";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { decodeModel, encodeModel } from "../onnx/io.js";
import { loadPromptSet } from "../probes/prompts.js";
import type { ProbeRun } from "../probes/run.js";
import { readCached } from "../probes/cache.js";
import { ProbeResultSchema } from "../probes/result-schema.js";
import { childEnv, probeEntries, runHypotheses, TEST_CACHE, tmpDir } from "./helpers.js";

const GOOD = { id: "good", family: "llama", source: { analog: "llama" }, synthetic: true };
const PROMPTS = { name: "t", file: "-", prompts: ["The capital of France is", "Hello there"] };

/** A copy of a generated export in a folder of its own, to break. */
async function exportCopy(
  req: Parameters<typeof buildAnalog>[0] = { analog: "llama", external: true },
): Promise<string> {
  const dir = path.join(tmpDir(), "export");
  fs.cpSync(await buildAnalog(req, TEST_CACHE), dir, { recursive: true });
  return dir;
}

const BREAKERS: Record<string, (dir: string) => void> = {
  truncated: (dir) =>
    fs.writeFileSync(path.join(dir, "model.onnx"), fs.readFileSync(path.join(dir, "model.onnx")).subarray(0, 3000)),
  garbage: (dir) =>
    fs.writeFileSync(
      path.join(dir, "model.onnx"),
      Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251)),
    ),
  "missing-data": (dir) => fs.rmSync(path.join(dir, "model.onnx_data")),
  "short-data": (dir) => fs.truncateSync(path.join(dir, "model.onnx_data"), 10_000),
  escaping: (dir) => {
    const m = decodeModel(fs.readFileSync(path.join(dir, "model.onnx")));
    const t = m.graph!.initializer.find((x) => x.externalData.length)!;
    t.externalData = t.externalData.map((e) =>
      e.key === "location" ? create(StringStringEntryProtoSchema, { key: "location", value: "../../etc/passwd" }) : e,
    );
    fs.writeFileSync(path.join(dir, "model.onnx"), encodeModel(m));
  },
  "wrong-layers": (dir) => {
    const c = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    fs.writeFileSync(
      path.join(dir, "config.json"),
      JSON.stringify({ ...c, num_hidden_layers: c.num_hidden_layers + 2 }),
    );
  },
  "no-chain": (dir) => {
    // Embedding straight into lm_head: no residual stream at all.
    const g = new GraphBuilder();
    g.inputs.push(valueInfo("input_ids", DT.INT64, ["b", "s"]));
    g.outputs.push(valueInfo("logits", DT.FLOAT, ["b", "s", 512]));
    const h = g.o("/model/embed_tokens", "Gather", [
      g.init(floatTensor("model.embed_tokens.weight", [512, 8], new Float32Array(4096).fill(0.1))),
      "input_ids",
    ]);
    g.op("/lm_head", "MatMul", [h, g.init(floatTensor("onnx::MatMul_1", [8, 512], new Float32Array(4096).fill(0.2)))], {
      outputs: ["logits"],
    });
    fs.rmSync(path.join(dir, "model.onnx_data"));
    fs.writeFileSync(path.join(dir, "model.onnx"), encodeModel(g.model({ "": 17 })));
  },
  "no-tokenizer": (dir) => fs.rmSync(path.join(dir, "tokenizer.json")),
  "bad-tokenizer": (dir) =>
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify({ version: "1.0", added_tokens: [] })),
};

const EXPECTED: Record<string, RegExp> = {
  truncated: /model "truncated": model.onnx \(3.0 KB\) is not a readable ONNX model: .*truncated or is not ONNX/,
  garbage: /model "garbage": model.onnx \(5.0 KB\) .*(not a readable ONNX model|decodes to no ONNX graph).*not ONNX/,
  "missing-data":
    /model "missing-data": external data file "model.onnx_data" is missing from .*export \(tensor ".*" lives there\)/,
  "short-data":
    /model "short-data": external data "model.onnx_data" is [\d.]+ (KB|MB) shorter than its tensors need .*incomplete/,
  escaping: /model "escaping": external data location "..\/..\/etc\/passwd" escapes the model's folder .*refused/,
  "wrong-layers":
    /model "wrong-layers": found 8 layers where the config declares 10; found embedding: .*residual stream: 16 segments/,
  "no-chain":
    /model "no-chain": found 0 layers where the config declares 8; found embedding: model.embed_tokens.weight \[512, 8\] .*residual stream: 0 segments/,
  "no-tokenizer":
    /model "no-tokenizer": no tokenizer.json in .*export; probespec tokenises prompts with the model's own tokenizer/,
  "bad-tokenizer": /model "bad-tokenizer": tokenizer.json in .*export has no "model" section/,
};

function runWith(entries: object[], env: Record<string, string> = {}, prompts = PROMPTS): Promise<ProbeRun> {
  return probeEntries(entries, env, prompts.prompts);
}

describe("each bad input is a clear error naming the model; the other models still run", () => {
  for (const [name, breakIt] of Object.entries(BREAKERS)) {
    it(`${name}`, async () => {
      const dir = await exportCopy();
      breakIt(dir);
      const before = fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs]);
      const run = await runWith([{ id: name, family: "llama", source: { dir } }, GOOD]);
      expect(run.results.map((r) => r.id)).toEqual(["good"]);
      expect(run.failures).toHaveLength(1);
      expect(run.failures[0].error).toMatch(EXPECTED[name]);
      // The user's files are never written.
      expect(fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs])).toEqual(before);
    });
  }

  it("a model entry with an unknown field, a wrong type, a duplicate id or a missing dir", async () => {
    const run = await runWith(
      [
        { id: "typo", famliy: "llama", source: { dir: "/x" } },
        { id: "wrongtype", family: "llama", source: { dir: "/x" }, memoryGb: "lots" },
        { id: "nodir", family: "llama", source: { dir: "/no/such/export" } },
        GOOD,
        { ...GOOD, id: "good", notes: "second file with the same id" },
      ]
        .map((e, i) => ({ ...e, _file: i }))
        .map(({ _file, ...e }) => e),
    );
    expect(run.results.map((r) => r.id)).toEqual(["good"]);
    const problems = run.registryProblems.map((p) => p.error).join("\n");
    expect(problems).toMatch(/typo.json \(id "typo"\): .*unknown field "famliy"/);
    expect(problems).toMatch(/wrongtype.json \(id "wrongtype"\): memoryGb: .*expected number, received string/);
    expect(run.skipped.find((s) => s.id === "nodir")?.reason).toBe("source.dir /no/such/export does not exist");
  });

  it("an empty prompt, a prompt longer than the context, and a prompt set with a syntax error", async () => {
    const short = await exportCopy();
    const c = JSON.parse(fs.readFileSync(path.join(short, "config.json"), "utf8"));
    fs.writeFileSync(path.join(short, "config.json"), JSON.stringify({ ...c, max_position_embeddings: 16 }));
    const long = "a long prompt of many words that runs past sixteen tokens";
    const run = await runWith(
      [{ id: "short", family: "llama", source: { dir: short } }, GOOD],
      {},
      { name: "t", file: "-", prompts: [long] },
    );
    expect(run.results.map((r) => r.id)).toEqual(["good"]);
    expect(run.failures[0].error).toMatch(
      /model "short": prompt "a long prompt of many words that runs past sixteen tokens"… is \d+ tokens, longer than the model's context of 16/,
    );
    const empty = await runWith([GOOD], {}, { name: "t", file: "-", prompts: ["   "] });
    expect(empty.failures[0].error).toBe('model "good": a prompt is empty');
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "p.json"), '{ "name": "x", "prompts": [ { "text": "a", "kind": "fact" }, ] }');
    expect(() => loadPromptSet(path.join(dir, "p.json"))).toThrow(/prompt set .*p.json cannot be read: .*JSON/);
    fs.writeFileSync(path.join(dir, "q.json"), JSON.stringify({ name: "x", prompts: [{ text: "", kind: "fact" }] }));
    expect(() => loadPromptSet(path.join(dir, "q.json"))).toThrow(
      /prompt set .*q.json: prompts.0.text: a prompt is empty/,
    );
  });
});

describe("a run over one good analog and one broken model of each file-level class", () => {
  it("ends with a written report that shows the good model's results and names each broken one", async () => {
    const entries = [
      GOOD as { id: string; family: string; source: Record<string, unknown> },
      { id: "subject", family: "mistral", source: { analog: "mistral-small" } },
    ];
    for (const [name, breakIt] of Object.entries(BREAKERS)) {
      const dir = await exportCopy();
      breakIt(dir);
      entries.push({ id: name, family: "llama", source: { dir } });
    }
    const r = runHypotheses(entries.map((e) => ({ ...e, synthetic: "analog" in e.source })));
    expect(r.results.models_tested.sort()).toEqual(["good", "subject"]);
    const skipped = r.results.skipped as { id: string; reason: string }[];
    for (const name of Object.keys(BREAKERS))
      expect(skipped.find((s) => s.id === name)?.reason).toMatch(EXPECTED[name]);
    const html = fs.readFileSync(path.join(r.reportDir, "index.html"), "utf8");
    for (const name of Object.keys(BREAKERS)) expect(html).toContain(`<td>${name}</td>`);
    // Broken baselines are models the comparative hypotheses need: error, never a silent rejection.
    expect(r.results.verdicts["silent-exit"].verdict).toBe("error");
    expect(r.results.verdicts["residual-explosion"].verdict).not.toBe("error");
  });
});

describe("killed and concurrent runs", () => {
  const vitestArgs = [path.join(PROJECT_ROOT, "node_modules/vitest/vitest.mjs"), "run", "--project", "hypotheses"];
  const checkCache = (cacheDir: string) => {
    const results = path.join(cacheDir, "results");
    for (const f of fs.existsSync(results) ? fs.readdirSync(results) : []) {
      if (f.endsWith(".json"))
        expect(readCached(cacheDir, f.slice(0, -5), ProbeResultSchema), f).toHaveProperty("value");
    }
  };

  it("a run killed while probing leaves the previous report and the cache intact and readable", async () => {
    const reportDir = tmpDir(),
      cacheDir = tmpDir();
    const first = runHypotheses(undefined, {
      PROBESPEC_REPORT_DIR: reportDir,
      PROBESPEC_CACHE_DIR: cacheDir,
      PROBESPEC_MODELS: "mistral-analog,llama-analog",
    });
    const before = fs.readFileSync(path.join(reportDir, "results.json"), "utf8");
    for (const signal of ["SIGINT", "SIGKILL"] as const) {
      const child = spawn(process.execPath, vitestArgs, {
        cwd: PROJECT_ROOT,
        env: childEnv({ PROBESPEC_REPORT_DIR: reportDir, PROBESPEC_CACHE_DIR: cacheDir, PROBESPEC_NO_CACHE: "1" }),
      });
      await new Promise<void>((resolve) =>
        child.stderr.on("data", (d: Buffer) => {
          if (/\[probespec\] .*prompt \d+\/\d+/.test(d.toString())) resolve();
        }),
      );
      child.kill(signal);
      await new Promise((resolve) => child.on("exit", resolve));
      expect(fs.readFileSync(path.join(reportDir, "results.json"), "utf8")).toBe(before);
      expect(JSON.parse(before).models_tested).toEqual(first.results.models_tested);
      checkCache(cacheDir);
    }
  });

  it("two runs at the same time do not corrupt each other's cache or report", async () => {
    const cacheDir = tmpDir();
    const runOne = (reportDir: string) =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, vitestArgs, {
          cwd: PROJECT_ROOT,
          env: childEnv({
            PROBESPEC_REPORT_DIR: reportDir,
            PROBESPEC_CACHE_DIR: cacheDir,
            PROBESPEC_MODELS: "mistral-analog,llama-analog,pythia-analog",
          }),
          stdio: "ignore",
        });
        child.on("exit", (code) => resolve(code ?? -1));
      });
    const dirs = [tmpDir(), tmpDir()];
    await Promise.all(dirs.map(runOne));
    const results = dirs.map((d) => JSON.parse(fs.readFileSync(path.join(d, "results.json"), "utf8")));
    expect(results[0].unembedding_analysis).toEqual(results[1].unembedding_analysis);
    expect(results[0].residual_stream_analysis).toEqual(results[1].residual_stream_analysis);
    checkCache(cacheDir);
  });
});
