/**
 * What a second red-team pass found (#22), each through the probe run, the main job, the
 * `probe` command or `npm run slurm`: hostile GGUFs, foreign or corrupt files in a shard
 * store, broken entries, and typos. Each title names the behaviour it guards.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildAnalog } from "../models/analogs/build.js";
import { tempMark } from "../models/writer/folder.js";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { loadMeasures } from "../probes/measures/registry.js";
import { readConfig } from "../probes/config.js";
import { runProbes } from "../probes/run.js";
import { childEnv, probeEntries, rel, runHypotheses, TEST_CACHE, tmpDir } from "./helpers.js";
import { readSpec, withKey, writeGguf, type GgufSpec } from "./gguf-writer.js";
import { notebookNumbers } from "../reports/results.js";

const FIXTURE = path.join(import.meta.dirname, "fixtures", "gguf-llama", "model.gguf");
const BIASED = path.join(import.meta.dirname, "fixtures", "gguf-llama-bias");
const GOOD = { id: "good", family: "llama", source: { analog: "llama" }, synthetic: true };
const PROMPT = "The capital of France is";

/** A GGUF made from the fixture with one edit. */
function hostile(name: string, edit: (s: GgufSpec) => GgufSpec, dir = tmpDir("probespec-gguf-")): string {
  return writeGguf(path.join(dir, `${name}.gguf`), edit(readSpec(FIXTURE)));
}

const tsx = (args: string[], env: Record<string, string>, timeout = 120_000) =>
  spawnSync(process.execPath, [path.join(PROJECT_ROOT, "node_modules/tsx/dist/cli.mjs"), ...args], {
    cwd: PROJECT_ROOT,
    env: childEnv(env),
    encoding: "utf8",
    timeout,
  });

describe("GGUF content is applied as llama.cpp applies it, or refused by name", () => {
  it("applies linear rope scaling (factor 8) and the q/k/v/o and MLP biases: within 1e-4 of transformers' forward of the same HF model", async () => {
    const ref = JSON.parse(fs.readFileSync(path.join(BIASED, "reference.json"), "utf8"));
    const r = await probeEntries(
      [{ id: "biased", family: "llama", source: { gguf: path.join(BIASED, "model.gguf") } }],
      {},
      [ref.prompt],
    );
    expect(r.failures).toEqual([]);
    const seed = notebookNumbers(r.results[0]);
    seed.residual!.norms.forEach((n, L) => expect(rel(n, ref.norms[L]), `norm ${L}`).toBeLessThan(1e-4));
    for (const k of ["logit_mean", "logit_std", "logit_max", "logit_min", "entropy"]) {
      const scale = k === "logit_mean" ? ref.entropy.logit_std : Math.abs(ref.entropy[k]);
      expect(Math.abs((seed.entropy as never)[k] - ref.entropy[k]) / scale, k).toBeLessThan(1e-4);
    }
    // The same file without its biases and scaling reads otherwise: both matter to the numbers.
    const stripped = tmpDir();
    const spec = readSpec(path.join(BIASED, "model.gguf"));
    writeGguf(path.join(stripped, "plain.gguf"), {
      kv: spec.kv.filter(([k]) => !k.includes("rope.scaling")),
      tensors: spec.tensors.filter((t) => !t.name.endsWith(".bias")),
    });
    const plain = await probeEntries(
      [{ id: "plain", family: "llama", source: { gguf: path.join(stripped, "plain.gguf") } }],
      {},
      [ref.prompt],
    );
    expect(rel(notebookNumbers(plain.results[0]).residual!.norms[1], ref.norms[1])).toBeGreaterThan(1e-2);
  });

  it("refuses, naming the file and the key or tensor, what ggml refuses or the converter would drop; the good model still probes", async () => {
    const dir = tmpDir("probespec-gguf-");
    const files: Record<string, [string, RegExp]> = {
      yarn: [
        hostile(
          "yarn",
          (s) => withKey(withKey(s, "llama.rope.scaling.type", "yarn"), "llama.rope.scaling.factor", 4),
          dir,
        ),
        /yarn.gguf: rope.scaling.type "yarn" is not converted/,
      ],
      blocks: [
        hostile("blocks", (s) => withKey(s, "llama.block_count", 1), dir),
        /blocks.gguf: block_count is 1, and its tensors are of 2 blocks/,
      ],
      dupKey: [
        hostile("dup-key", (s) => ({ ...s, kv: [...s.kv, ["llama.block_count", 2]] }), dir),
        /dup-key.gguf: metadata key "llama.block_count" appears twice/,
      ],
      dupTensor: [
        hostile("dup-tensor", (s) => ({ ...s, tensors: [...s.tensors, s.tensors[3]] }), dir),
        /dup-tensor.gguf: tensor ".*" appears twice/,
      ],
      misaligned: [
        hostile(
          "misaligned",
          (s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 2 ? { ...t, offset: 4 } : t)) }),
          dir,
        ),
        /misaligned.gguf: tensor ".*" has offset 4, where the tensors before it end at \d+ .*misplaced or overlaps/,
      ],
      align0: [
        hostile("align0", (s) => withKey(s, "general.alignment", 0), dir),
        /align0.gguf: general.alignment 0 is not a power of two/,
      ],
      alignHalf: [
        hostile("align-half", (s) => withKey(s, "general.alignment", 0.5), dir),
        /align-half.gguf: general.alignment 0.5 is not a power of two/,
      ],
      alignNeg: [
        hostile("align-neg", (s) => withKey(s, "general.alignment", -32), dir),
        /align-neg.gguf: general.alignment -32 is not a power of two/,
      ],
      extra: [
        hostile(
          "extra",
          (s) => ({
            ...s,
            tensors: [
              ...s.tensors,
              { name: "blk.0.attn_q_norm.weight", dims: [16], type: 0, data: new Uint8Array(64) },
            ],
          }),
          dir,
        ),
        /extra.gguf: tensor "blk.0.attn_q_norm.weight" would not be read by the converter/,
      ],
      zeroRopeFreqs: [
        hostile(
          "zero-rope-freqs",
          (s) => ({
            ...s,
            tensors: [...s.tensors, { name: "rope_freqs.weight", dims: [8], type: 0, data: new Uint8Array(32) }],
          }),
          dir,
        ),
        /zero-rope-freqs.gguf: tensor "rope_freqs.weight" holds 0 for rotary pair 0, where a positive divisor is needed/,
      ],
      shortRopeFreqs: [
        hostile(
          "short-rope-freqs",
          (s) => ({
            ...s,
            tensors: [...s.tensors, { name: "rope_freqs.weight", dims: [4], type: 0, data: new Uint8Array(16) }],
          }),
          dir,
        ),
        /short-rope-freqs.gguf: tensor "rope_freqs.weight" is \[4\] \(ggml order\), where \[8\] is expected/,
      ],
      shortScores: [
        hostile("short-scores", (s) => withKey(s, "tokenizer.ggml.scores", new Float32Array(10)), dir),
        /short-scores.gguf: tokenizer.ggml.scores has 10 entries for 512 tokens/,
      ],
      stringScores: [
        hostile("string-scores", (s) => withKey(s, "tokenizer.ggml.scores", Array(512).fill("x")), dir),
        /string-scores.gguf: tokenizer.ggml.scores is not a list of float scores/,
      ],
      nanEps: [
        hostile("nan-eps", (s) => withKey(s, "llama.attention.layer_norm_rms_epsilon", NaN), dir),
        /nan-eps.gguf: metadata "llama.attention.layer_norm_rms_epsilon" is NaN, where a positive number is needed/,
      ],
      noHeads: [
        hostile("no-heads", (s) => withKey(s, "llama.attention.head_count", 0), dir),
        /no-heads.gguf: metadata "llama.attention.head_count" is 0, where a positive whole number is needed/,
      ],
      noContext: [
        hostile("no-context", (s) => withKey(s, "llama.context_length", 0), dir),
        /no-context.gguf: metadata "llama.context_length" is 0/,
      ],
      pastEnd: [
        hostile(
          "past-end",
          (s) => ({ ...s, tensors: s.tensors.map((t, i, a) => (i === a.length - 1 ? { ...t, offset: 1 << 30 } : t)) }),
          dir,
        ),
        /past-end.gguf: tensor ".*" has offset 1073741824, where the tensors before it end at/,
      ],
    };
    const t0 = performance.now();
    const r = await probeEntries([
      ...Object.entries(files).map(([id, [gguf]]) => ({ id, family: "llama", source: { gguf } })),
      GOOD,
    ]);
    expect(r.results.map((x) => x.id)).toEqual(["good"]);
    for (const [id, [, message]] of Object.entries(files)) {
      const f = r.failures.find((x) => x.id === id);
      expect(f?.error, id).toMatch(message);
      expect(f?.error.split("\n"), id).toHaveLength(1);
    }
    expect(performance.now() - t0).toBeLessThan(60_000);
  });

  it("was: block_count 20,000,000 and a 60-million-element metadata array ran the heap out; now refused in one line, in seconds", async () => {
    const dir = tmpDir("probespec-gguf-");
    const huge = hostile("layers", (s) => withKey(s, "llama.block_count", 20_000_000), dir);
    // An array that claims 60 million strings in a file of a few hundred KB.
    const claims = hostile("claims", (s) => s, dir);
    const bytes = fs.readFileSync(claims);
    const at = bytes.indexOf("tokenizer.ggml.tokens") + "tokenizer.ggml.tokens".length + 8;
    bytes.writeBigUInt64LE(60_000_000n, at);
    fs.writeFileSync(claims, bytes);
    const t0 = performance.now();
    const r = await probeEntries([
      { id: "layers", family: "llama", source: { gguf: huge } },
      { id: "claims", family: "llama", source: { gguf: claims } },
    ]);
    expect(r.failures.find((f) => f.id === "layers")?.error).toMatch(
      /layers.gguf: block_count is 20000000, and its tensors are of 2 blocks/,
    );
    expect(r.failures.find((f) => f.id === "claims")?.error).toMatch(
      /claims.gguf: metadata "tokenizer.ggml.tokens" claims 60000000 elements, which run past the end of the file \(\d+ bytes are left\)/,
    );
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it("was: the causal mask was a [context, context] initializer; a 65536-token context now converts to a model the size of its weights", async () => {
    const big = hostile("long", (s) => withKey(s, "llama.context_length", 65536));
    const r = await probeEntries([{ id: "long", family: "llama", source: { gguf: big } }], {
      PROBESPEC_CACHE_DIR: tmpDir(),
    });
    expect(r.failures).toEqual([]);
    const dir = path.dirname(r.results[0].provenance.onnxFile);
    const size = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    // The rotary tables ([65536, 16] twice) are 8 MB; a mask would be 16 GiB.
    expect(size).toBeLessThan(30e6);
    // A context a file may claim but no table should hold (16 million) converts with 65536 positions, and says so.
    const huge = hostile("huge-context", (s) => withKey(s, "llama.context_length", 16_777_216));
    const h = await probeEntries([{ id: "huge", family: "llama", source: { gguf: huge } }], {
      PROBESPEC_CACHE_DIR: tmpDir(),
    });
    expect(h.failures).toEqual([]);
    const config = JSON.parse(
      fs.readFileSync(path.join(path.dirname(h.results[0].provenance.onnxFile), "config.json"), "utf8"),
    );
    expect(config.max_position_embeddings).toBe(65536);
    // And the numbers are the fixture's own.
    const plain = await probeEntries([{ id: "plain", family: "llama", source: { gguf: FIXTURE } }]);
    expect(
      rel(notebookNumbers(r.results[0]).entropy!.entropy, notebookNumbers(plain.results[0]).entropy!.entropy),
    ).toBeLessThan(1e-6);
  });

  it("was: /dev/zero and a FIFO hung for ever while hashed; now each is refused at once, by name", async () => {
    const fifo = path.join(tmpDir(), "pipe.gguf");
    spawnSync("mkfifo", [fifo]);
    const notGguf = path.join(tmpDir(), "big.gguf");
    fs.writeFileSync(notGguf, Buffer.alloc(8 << 20, 7));
    const t0 = performance.now();
    const r = await probeEntries([
      { id: "zero", family: "llama", source: { gguf: "/dev/zero" } },
      { id: "fifo", family: "llama", source: { gguf: fifo } },
      { id: "notgguf", family: "llama", source: { gguf: notGguf } },
      { id: "folder", family: "llama", source: { gguf: tmpDir() } },
    ]);
    expect(performance.now() - t0).toBeLessThan(10_000);
    const error = (id: string) => r.failures.find((f) => f.id === id)?.error;
    expect(error("zero")).toMatch(/\/dev\/zero is not a regular file/);
    expect(error("fifo")).toMatch(/pipe.gguf is not a regular file/);
    expect(error("folder")).toMatch(/probespec-test-\w+ is not a regular file/);
    expect(error("notgguf")).toMatch(/big.gguf is not a GGUF file \(it does not begin with "GGUF"\)/);
  });

  it("was: a conversion killed by SIGKILL left its temporary folder for ever; the next conversion removes it", async () => {
    const cache = tmpDir();
    // A writer that is gone: a temporary folder with this host's mark and the pid of a process that has exited.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    }).stdout;
    const stale = path.join(cache, "gguf", `abc123-0000.${tempMark(Number(dead))}.${Date.now()}.tmp`);
    fs.mkdirSync(stale, { recursive: true });
    fs.writeFileSync(path.join(stale, "model.onnx_data"), Buffer.alloc(1024));
    // A live one (this process) is left alone.
    const live = path.join(cache, "gguf", `def456-0000.${tempMark(process.pid)}.${Date.now()}.tmp`);
    fs.mkdirSync(live);
    const r = await probeEntries([{ id: "g", family: "llama", source: { gguf: FIXTURE } }], {
      PROBESPEC_CACHE_DIR: cache,
    });
    expect(r.failures).toEqual([]);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
  });
});

describe("the shard store: no verdict from a foreign, corrupt or missing file without an error naming it", () => {
  const PROMPTS = { name: "t", file: "-", prompts: [PROMPT] };
  /** Two shards over two analogs into one store, then a judge with `env`. */
  async function sharded() {
    const store = tmpDir(),
      models = tmpDir();
    for (const e of [
      { id: "a-llama", family: "llama", source: { analog: "llama" }, synthetic: true },
      { id: "b-gemma", family: "gemma", source: { analog: "gemma" }, synthetic: true },
    ])
      fs.writeFileSync(path.join(models, `${e.id}.json`), JSON.stringify(e));
    const base = {
      PROBESPEC_MODELS_DIR: models,
      PROBESPEC_CACHE_DIR: store,
      PROBESPEC_DEVICE: "cpu",
      PROBESPEC_JOB: "77",
    };
    for (const i of [1, 2]) await runProbes({ env: { ...base, PROBESPEC_SHARD: `${i}/2` }, promptSet: PROMPTS });
    const judge = (env: Record<string, string> = {}) =>
      runProbes({ env: { ...base, PROBESPEC_SHARDS: "2", ...env }, promptSet: PROMPTS });
    const resultFile = (id: string) => {
      const rec = JSON.parse(
        fs.readFileSync(path.join(store, "shards", "77", `${id === "a-llama" ? 1 : 2}-of-2.json`), "utf8"),
      );
      return path.join(store, "results", `${rec.models.find((m: { id: string }) => m.id === id).key}.json`);
    };
    return { store, judge, resultFile };
  }

  it("reads every result the shards filed, though the judge's node is small (no memory check) and PROBESPEC_NO_CACHE reached it", async () => {
    const { judge } = await sharded();
    const r = await judge({ PROBESPEC_DEVICE_MEMORY_GB: "0.001", PROBESPEC_NO_CACHE: "1" });
    expect(r.failures).toEqual([]);
    expect(r.results.map((x) => x.id).sort()).toEqual(["a-llama", "b-gemma"]);
    expect(r.modelLoads).toBe(0);
  });

  it("was: a judge served a shard's result after the model's weights were rewritten; now an error naming the file that changed", async () => {
    const store = tmpDir(),
      models = tmpDir();
    const dir = path.join(tmpDir(), "export");
    fs.cpSync(await buildAnalog({ analog: "llama", external: true }, TEST_CACHE), dir, { recursive: true });
    fs.writeFileSync(path.join(models, "mine.json"), JSON.stringify({ id: "mine", family: "llama", source: { dir } }));
    const base = {
      PROBESPEC_MODELS_DIR: models,
      PROBESPEC_CACHE_DIR: store,
      PROBESPEC_DEVICE: "cpu",
      PROBESPEC_JOB: "9",
    };
    await runProbes({ env: { ...base, PROBESPEC_SHARD: "1/1" }, promptSet: PROMPTS });
    const judge = () => runProbes({ env: { ...base, PROBESPEC_SHARDS: "1" }, promptSet: PROMPTS });
    expect((await judge()).results.map((r) => r.id)).toEqual(["mine"]);
    const data = path.join(dir, "model.onnx_data");
    const f = new Float32Array(new Uint8Array(fs.readFileSync(data)).buffer);
    fs.writeFileSync(data, new Uint8Array(f.map((x) => 2 * x).buffer));
    const r = await judge();
    expect(r.results).toEqual([]);
    expect(r.failures[0].error).toMatch(
      new RegExp(
        `shard 1/1 of job 9 probed it from files that have changed since: ${data} was rewritten .*; probe it again`,
      ),
    );
  });

  it("was: one model's result copied over another's was judged as that model's; now an error naming the file", async () => {
    const { judge, resultFile } = await sharded();
    fs.copyFileSync(resultFile("a-llama"), resultFile("b-gemma"));
    const r = await judge();
    expect(r.results.map((x) => x.id)).toEqual(["a-llama"]);
    expect(r.failures[0].id).toBe("b-gemma");
    expect(r.failures[0].error).toContain(`${resultFile("b-gemma")} was filed under another key`);
  });

  it("was: a truncated result was deleted and its shard blamed; now it is kept and named", async () => {
    const { judge, resultFile } = await sharded();
    const file = resultFile("b-gemma");
    fs.truncateSync(file, 100);
    const r = await judge();
    expect(r.failures[0].error).toMatch(
      new RegExp(`${file} is not whole .*shard 2/2 of job 77's result cannot be judged`),
    );
    expect(fs.statSync(file).size).toBe(100);
  });

  it('was: a record of another shape ({"models":"nope"}) threw "record.models.find is not a function"; now the record is named', async () => {
    const { judge, store } = await sharded();
    const record = path.join(store, "shards", "77", "2-of-2.json");
    fs.writeFileSync(record, JSON.stringify({ models: "nope" }));
    const r = await judge();
    expect(r.results.map((x) => x.id)).toEqual(["a-llama"]);
    expect(r.failures[0].error).toMatch(new RegExp(`shard 2/2's record ${record} is not a shard record \\(.*models`));
  });

  it("was: an empty PROBESPEC_DEVICE_MEMORY_GB read as 0 GB and skipped every model; empty is unset", () => {
    expect(readConfig({ PROBESPEC_DEVICE_MEMORY_GB: "" }).deviceMemoryGb).toBeUndefined();
    expect(() => readConfig({ PROBESPEC_DEVICE_MEMORY_GB: "lots" })).toThrow(
      /PROBESPEC_DEVICE_MEMORY_GB="lots" is not a number of GB/,
    );
  });

  it("was: PROBESPEC_JOB=.. filed records at the store's root, and a/b and a_b shared a folder; now both are refused", async () => {
    for (const job of ["..", "a/b", "a b"])
      await expect(
        runProbes({
          env: { PROBESPEC_JOB: job, PROBESPEC_SHARD: "1/2", PROBESPEC_CACHE_DIR: tmpDir() },
          promptSet: PROMPTS,
        }),
      ).rejects.toThrow(/PROBESPEC_JOB=".*" is not a job id/);
  });
});

describe("a model that was asked for and cannot be probed is an error, never a quiet inconclusive", () => {
  it("a truncated GGUF subject, a misspelt entry field, a free-text family, an id with escape sequences: error verdicts named, the rest probed, exit 1", async () => {
    const cut = path.join(tmpDir(), "model.gguf");
    fs.writeFileSync(cut, fs.readFileSync(FIXTURE).subarray(0, 60_000));
    const models = tmpDir("probespec-models-");
    const write = (name: string, e: object) => fs.writeFileSync(path.join(models, name), JSON.stringify(e));
    write("cut.json", { id: "cut", family: "llama", role: "subject", source: { gguf: cut } });
    write("typo.json", { id: "typo", famly: "llama", source: { analog: "llama" } });
    // HF's own Qwen3, as a user adds it: family is config.json's model_type.
    const qwen = path.join(PROJECT_ROOT, ".probespec-cache", "exports", "qwen3-dynamo18");
    const qwenDir = fs.existsSync(qwen) ? qwen : await buildAnalog({ analog: "llama" }, TEST_CACHE);
    write("qwen.json", { id: "qwen", family: "qwen3", source: { dir: qwenDir } });
    write("evil.json", { id: "x\u001b]0;pwned\u0007\nCONFIRMED", family: "llama", source: { analog: "llama" } });
    write("base.json", { id: "base", family: "llama", source: { analog: "llama" }, synthetic: true });
    // A GGUF's own text (its architecture) carrying an escape sequence, quoted in its error.
    const arch = hostile("arch", (s) => withKey(s, "general.architecture", "x\u001b]0;pwned\u0007"));
    write("arch.json", { id: "arch", family: "llama", source: { gguf: arch } });
    const r = runHypotheses(undefined, {
      PROBESPEC_MODELS_DIR: models,
      PROBESPEC_MODELS: "cut,typo,qwen,base,evil,arch",
    });
    expect(r.status).toBe(1);
    expect(r.results.models_tested.sort()).toEqual(["base", "qwen"]);
    const errors = Object.fromEntries(
      r.results.skipped
        .filter((s: { error?: boolean }) => s.error)
        .map((s: { id: string; reason: string }) => [s.id, s.reason]),
    );
    expect(errors.cut).toMatch(/model "cut": GGUF could not be converted: .*model.gguf: .*truncated/);
    expect(errors.typo).toMatch(/typo.json \(id "typo"\): .*unknown field "famly"/);
    expect(errors.evil).toMatch(/evil.json: id: expected a model id of printable characters/);
    expect(errors.arch).toMatch(/architecture "x\u001b\]0;pwned\u0007" is not converted/);
    for (const v of Object.values(r.results.verdicts) as { verdict: string; reason: string }[]) {
      expect(v.verdict).toBe("error");
      expect(v.reason).toContain('model "cut"');
    }
    // The terminal never receives the id's escape sequence.
    expect(r.output).not.toContain("\u001b]0;");
    expect(r.output).toContain("\\u{1b}]0;pwned");
  });

  it("was: a cache folder that is a file gave 'probed 0 models' and exit 0; now every model is an error, exit 1", () => {
    const file = path.join(tmpDir(), "not-a-folder");
    fs.writeFileSync(file, "");
    const r = runHypotheses(
      [
        { id: "subject", family: "mistral", source: { analog: "mistral-small" } },
        { id: "base", family: "llama", source: { analog: "llama" } },
      ],
      { PROBESPEC_CACHE_DIR: file },
    );
    expect(r.status).toBe(1);
    expect(r.results.models_tested).toEqual([]);
    for (const v of Object.values(r.results.verdicts) as { verdict: string }[]) expect(v.verdict).toBe("error");
  });

  it("was: a report folder that is a GGUF model's folder overwrote the user's results.json; now refused before anything is probed", () => {
    const dir = tmpDir();
    fs.copyFileSync(FIXTURE, path.join(dir, "model.gguf"));
    fs.writeFileSync(path.join(dir, "results.json"), "the user's own");
    const models = tmpDir();
    fs.writeFileSync(
      path.join(models, "g.json"),
      JSON.stringify({ id: "g", family: "llama", source: { gguf: path.join(dir, "model.gguf") } }),
    );
    const out = spawnSync(
      process.execPath,
      [path.join(PROJECT_ROOT, "node_modules/vitest/vitest.mjs"), "run", "--project", "hypotheses"],
      {
        cwd: PROJECT_ROOT,
        env: childEnv({ PROBESPEC_MODELS_DIR: models, PROBESPEC_REPORT_DIR: dir, PROBESPEC_CACHE_DIR: TEST_CACHE }),
        encoding: "utf8",
      },
    );
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/PROBESPEC_REPORT_DIR=.* lies inside the folder of model "g"/);
    expect(fs.readFileSync(path.join(dir, "results.json"), "utf8")).toBe("the user's own");
  });
});

describe("typos get one line, never a stack trace or a silent default", () => {
  it("was: probe --shard, --shard= and --shards 2 probed every model unsharded and filed no record; now each is refused", () => {
    for (const args of [["--shard"], ["--shard="], ["--shards", "2"], ["--shard", "1/2", "extra"]]) {
      const store = tmpDir();
      const out = tsx(["bin/probespec.ts", "probe", ...args], {
        PROBESPEC_CACHE_DIR: store,
        PROBESPEC_MODELS: "llama-analog",
      });
      expect(out.status, args.join(" ")).toBe(2);
      expect(out.stderr.split("\n")[0]).toMatch(/^probespec: probe: /);
      expect(out.stderr).not.toMatch(/\s+at /);
      expect(fs.readdirSync(store)).toEqual([]);
    }
  });

  it("was: a measure file that throws when imported was vitest's unhandled error; now it is named in one line", async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "broken.ts"), 'throw new Error("a bug in my measure");\nexport default {};\n');
    await expect(loadMeasures(dir)).rejects.toThrow(
      new RegExp(`^measure file ${dir}/broken.ts cannot be loaded: a bug in my measure$`),
    );
  });

  describe("npm run slurm", () => {
    /** A stand-in sbatch that records its arguments and environment, and answers as sbatch --parsable does. */
    function fakeSlurm(): { bin: string; calls: () => { args: string[]; store: string }[] } {
      const bin = tmpDir();
      const log = path.join(bin, "calls.jsonl");
      fs.writeFileSync(
        path.join(bin, "sbatch"),
        `#!${process.execPath}\nconst fs=require("fs");if(process.argv[2]==="--version"){console.log("slurm 22.05");process.exit(0)}\nfs.appendFileSync(${JSON.stringify(log)},JSON.stringify({args:process.argv.slice(2),store:process.env.PROBESPEC_CACHE_DIR})+"\\n");console.log("4242")\n`,
        { mode: 0o755 },
      );
      return {
        bin,
        calls: () =>
          fs
            .readFileSync(log, "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l)),
      };
    }
    const slurm = (args: string[], env: Record<string, string>) =>
      tsx(["scripts/slurm/submit.ts", ...args], env, 20_000);

    it("was: sbatch missing gave a stack trace after creating the logs folder; now one line, nothing created", () => {
      const store = tmpDir();
      // A PATH with nothing on it: node itself is started by its full path.
      const out = slurm(["--shards", "2"], { PATH: tmpDir(), PROBESPEC_CACHE_DIR: store });
      expect(out.status).toBe(2);
      expect(out.stderr.split("\n")[0]).toMatch(/^npm run slurm: sbatch cannot be run \(ENOENT\)/);
      expect(fs.readdirSync(store)).toEqual([]);
    });

    it("was: a store under /proc hung; now refused in one line", () => {
      const { bin } = fakeSlurm();
      const out = slurm(["--shards", "2"], {
        PATH: `${bin}:${process.env.PATH}`,
        PROBESPEC_CACHE_DIR: "/proc/no-store",
      });
      expect(out.error).toBeUndefined();
      expect(out.status).toBe(2);
      expect(out.stderr).toMatch(/the logs folder \/proc\/no-store\/slurm-logs cannot be created/);
    });

    it("was: a comma in the store's path split --export, --sbatch's quoted words were split, and --logs --gpu made a folder named --gpu", () => {
      const { bin, calls } = fakeSlurm();
      const store = path.join(tmpDir(), "a,b store");
      const out = slurm(["--shards", "2", "--sbatch", "--comment='a b' --partition=gpu"], {
        PATH: `${bin}:${process.env.PATH}`,
        PROBESPEC_CACHE_DIR: store,
      });
      expect(out.status, out.stderr).toBe(0);
      const [array, judge] = calls();
      for (const c of [array, judge]) {
        expect(c.store).toBe(store);
        expect(c.args).toContain("--export=ALL");
        expect(c.args).toContain("--comment=a b");
        expect(c.args).toContain("--partition=gpu");
      }
      const cwd = tmpDir();
      const typo = spawnSync(
        process.execPath,
        [
          path.join(PROJECT_ROOT, "node_modules/tsx/dist/cli.mjs"),
          path.join(PROJECT_ROOT, "scripts/slurm/submit.ts"),
          "--shards",
          "1",
          "--logs",
          "--gpu",
        ],
        { cwd, env: childEnv({ PATH: `${bin}:${process.env.PATH}`, PROBESPEC_CACHE_DIR: tmpDir() }), encoding: "utf8" },
      );
      expect(typo.status).toBe(2);
      expect(typo.stderr).toMatch(/--logs needs a value/);
      expect(fs.readdirSync(cwd)).toEqual([]);
    });
  });
});
