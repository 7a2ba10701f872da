/**
 * What a red-team pass found (#13), each through the real probe run: the
 * failing behaviour each test guards against is named in its title.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildAnalog } from "../models/analogs/build.js";
import { runProbes } from "../probes/run.js";
import { runHypotheses, TEST_CACHE, tmpDir } from "./helpers.js";

const PROMPTS = { name: "t", file: "-", prompts: ["The capital of France is"] };
const GOOD = { id: "good", family: "llama", source: { analog: "llama" }, synthetic: true };

async function run(entries: object[], env: Record<string, string> = {}) {
  const modelsDir = tmpDir();
  for (const e of entries) fs.writeFileSync(path.join(modelsDir, `${(e as { id: string }).id}.json`), JSON.stringify(e));
  return runProbes({ env: { PROBESPEC_MODELS_DIR: modelsDir, PROBESPEC_CACHE_DIR: TEST_CACHE, PROBESPEC_DEVICE: "cpu", PROBESPEC_NO_CACHE: "1", ...env }, promptSet: PROMPTS });
}

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
      const blob = crypto.createHash("sha1").update(fs.readFileSync(path.join(src, f))).digest("hex");
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
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f.startsWith("model.onnx") ? "onnx" : "", f));
    const cache = tmpDir();
    const entry = { id: "optimum", family: "llama", source: { dir } };
    const first = await run([entry], { PROBESPEC_CACHE_DIR: cache, PROBESPEC_NO_CACHE: "0" });
    const data = path.join(dir, "onnx", "model.onnx_data");
    const f = new Float32Array(new Uint8Array(fs.readFileSync(data)).buffer);
    fs.writeFileSync(data, new Uint8Array(f.map((x) => 2 * x).buffer));
    const second = await run([entry], { PROBESPEC_CACHE_DIR: cache, PROBESPEC_NO_CACHE: "0" });
    expect(second.cacheHits).toEqual([]);
    expect(second.results[0].seed.unembedding.frobenius_norm).toBeCloseTo(2 * first.results[0].seed.unembedding.frobenius_norm, 4);
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
    const r = await run([{ id: "hub", family: "llama", source: { hub: "org/tiny", file: "decoder_other.onnx" } }], { HF_HUB_CACHE: home });
    expect(r.failures).toEqual([]);
    expect(path.basename(r.results[0].provenance.onnxFile)).toBe("decoder_other.onnx");
  });

  it("was: a pinned revision missing from the cache was silently replaced by the newest snapshot", async () => {
    const home = hubCache(await external(), ["1111aaa", "2222bbb"]);
    const r = await run([{ id: "pinned", family: "llama", source: { hub: "org/tiny", revision: "9999fff" } }, GOOD], { HF_HUB_CACHE: home });
    expect(r.results.map((x) => x.id)).toEqual(["good"]);
    expect(r.skipped.find((s) => s.id === "pinned")?.reason).toMatch(/pinned to revision "9999fff", which is not in the local HuggingFace cache .*cached: (1111aaa, 2222bbb|2222bbb, 1111aaa)/);
    const byBranch = await run([{ id: "main", family: "llama", source: { hub: "org/tiny", revision: "main" } }], { HF_HUB_CACHE: home });
    expect(byBranch.results[0].provenance.onnxFile).toContain(path.join("snapshots", "2222bbb"));
  });
});

describe("only the files a model uses matter", () => {
  it("was: a dangling symlink or a symlink loop in the model's folder failed a good model", async () => {
    const dir = path.join(tmpDir(), "export");
    fs.cpSync(await external(), dir, { recursive: true });
    fs.symlinkSync("/no/such/target", path.join(dir, "dangling.bin"));
    fs.symlinkSync("loop-b", path.join(dir, "loop-a"));
    fs.symlinkSync("loop-a", path.join(dir, "loop-b"));
    const r = await run([{ id: "links", family: "llama", source: { dir } }], { PROBESPEC_NO_CACHE: "0", PROBESPEC_CACHE_DIR: tmpDir() });
    expect(r.failures).toEqual([]);
    expect(r.results.map((x) => x.id)).toEqual(["links"]);
  });
});

describe("a number that is not finite never passes or fails a prediction", () => {
  it("was: with one-token prompts the gains without position 0 were NaN and residual-explosion (d) passed with \"without: NaN\"", async () => {
    // The mistral analog's tokenizer without its BOS template: "a" and "b" are one token each.
    const dir = path.join(tmpDir(), "no-bos");
    fs.cpSync(await buildAnalog({ analog: "mistral-small" }, TEST_CACHE), dir, { recursive: true });
    const tok = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify({ ...tok, post_processor: null }));
    const prompts = path.join(tmpDir(), "one-token.json");
    fs.writeFileSync(prompts, JSON.stringify({ name: "one-token", prompts: [{ kind: "x", text: "a" }, { kind: "x", text: "b" }] }));
    const r = runHypotheses([{ id: "subject", family: "mistral", source: { dir }, synthetic: true }], { PROBESPEC_PROMPTS: prompts });
    const d = r.results.verdicts["residual-explosion"].predictions.find((p: { name: string }) => p.name.startsWith("(d)"));
    expect(d.state).toBe("skipped");
    expect(d.passed).toBe(null);
    expect(d.skipped).toMatch(/^inconclusive: last-layer gain without position 0 .* cannot be judged, subject is NaN .*not a finite number/);
    expect(r.results.verdicts["residual-explosion"].verdict).not.toBe("confirmed");
  });
});
