import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import fc from "fast-check";
import { StringStringEntryProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { buildAnalog, generateAnalog } from "../models/analogs/build.js";
import { analogConfig, type AnalogFamily } from "../models/analogs/config.js";
import { type Dialect } from "../models/writer/config.js";
import { emitModel } from "../models/writer/emit.js";
import { linear, norm, referenceForward } from "../models/analogs/reference.js";
import { generateWeights } from "../models/analogs/weights.js";
import { writeModelFolder, hfConfig } from "../models/writer/folder.js";
import { byteTokenizerJson } from "../models/analogs/tokenizers.js";
import { tokenizerConfigJson } from "../models/writer/tokenizer.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { locate } from "../probes/locate.js";
import { LENS_OUTPUT } from "../probes/lens.js";
import { loadMeasures } from "../probes/measures/registry.js";
import { planReads, probedGraph } from "../probes/probed-graph.js";
import { streamOrder, type ProbePoint } from "../probes/points.js";
import { encodeModel, readModel } from "../onnx/io.js";
import { floatTensor, int64Tensor } from "../onnx/graph.js";
import { createSession } from "../probes/session.js";
import { feeder, floatData } from "../probes/feeds.js";
import { forkFeeds, forked } from "../probes/intervene.js";
import { reductionOutput } from "../probes/probed-graph.js";
import {
  entropy,
  frobenius,
  logitStats,
  matrixStats,
  meanCI,
  meanDifferenceCI,
  residualStreamStats,
  softmaxGain,
} from "../probes/metrics.js";
import { probeModel } from "../probes/probe.js";
import { runProbes } from "../probes/run.js";
import { spectralNorm } from "../probes/spectral.js";
import { MatrixReductions } from "../probes/matrix-graphs.js";
import { at, CONFORMANCE, conformance, HAS_CONFORMANCE, rel, TEST_CACHE, tmpDir, TINY_ANALOG } from "./helpers.js";
import { notebookNumbers } from "../reports/results.js";

/** The notebook's gains, each norm over the one before (the residual gain of layers 1 on). */
const gainsOf = (norms: number[]) => norms.slice(1).map((n, i) => n / norms[i]);

/** An exact reference: the largest eigenvalue of WᵀW by cyclic Jacobi rotations, in float64. */
function exactSpectral(W: Float32Array, rows: number, cols: number): number {
  const A = Array.from({ length: cols }, (_, i) =>
    Array.from({ length: cols }, (_, j) => {
      let s = 0;
      for (let r = 0; r < rows; r++) s += W[r * cols + i] * W[r * cols + j];
      return s;
    }),
  );
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < cols; p++)
      for (let q = p + 1; q < cols; q++) {
        off += A[p][q] ** 2;
        if (Math.abs(A[p][q]) < 1e-300) continue;
        const theta = (A[q][q] - A[p][p]) / (2 * A[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < cols; k++) {
          const a = A[k][p],
            b = A[k][q];
          A[k][p] = c * a - s * b;
          A[k][q] = s * a + c * b;
        }
        for (let k = 0; k < cols; k++) {
          const a = A[p][k],
            b = A[q][k];
          A[p][k] = c * a - s * b;
          A[q][k] = s * a + c * b;
        }
      }
    if (off < 1e-28) break;
  }
  return Math.sqrt(Math.max(...A.map((row, i) => row[i])));
}

const matrix = (rows: number, cols: number, seed: number, spike = 0) => {
  let s = seed >>> 0;
  const W = new Float32Array(rows * cols).map(
    () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296 - 0.5,
  );
  if (spike)
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++)
        W[r * cols + c] += (spike * Math.sin(r + 1) * Math.cos(c + 1)) / Math.sqrt(rows * cols);
  return W;
};

describe("metric definitions against independent computations", () => {
  it("the Lanczos spectral norm equals an exact eigen-decomposition to 1e-9", () => {
    // Gaussian matrices crowd their top singular values: the hard case for Lanczos' stopping rule.
    for (const [rows, cols, spike] of [
      [80, 12, 0],
      [200, 24, 30],
      [40, 40, 0],
      [500, 16, 5],
      [3000, 160, 0],
    ] as const) {
      const W = matrix(rows, cols, rows + cols, spike);
      expect(rel(spectralNorm(W, rows, cols).value, exactSpectral(W, rows, cols))).toBeLessThan(1e-9);
    }
  });

  it("the weight reductions ONNX Runtime runs give the float64 reference's 12 statistics and readout gain within 1e-6", async () => {
    // A plain matrix takes one pass; one offset far from zero (|w| and the mean row dominate their
    // deviations) takes the second, centred pass; a gain folded in; a width no power of two divides; and
    // a matrix of three blocks of rows (2^24 elements each but the last), offset and gained.
    for (const [rows, cols, offset, withGain] of [
      [220000, 160, 2, true],
      [3000, 160, 0, false],
      [3000, 160, 0, true],
      [700, 96, 2, false],
      [700, 96, 2, true],
      [501, 37, 0, true],
    ] as const) {
      const W = matrix(rows, cols, rows + cols, 3).map((v) => v + offset);
      const gain = withGain ? Float32Array.from({ length: cols }, (_, c) => 0.5 + (c % 7) / 5) : undefined;
      const X = gain ? W.map((v, i) => v * gain[i % cols]) : W;
      const reduced = new MatrixReductions(W, rows, cols, gain, {});
      try {
        const [got, want] = [await reduced.stats(), matrixStats(X, rows, cols)];
        for (const [k, v] of Object.entries(want))
          if (typeof v === "number") expect(rel((got as never)[k], v), `${rows}×${cols} ${k}`).toBeLessThan(1e-6);
        expect(rel(await reduced.softmaxGain(), softmaxGain(X, rows, cols))).toBeLessThan(1e-6);
      } finally {
        await reduced.release();
      }
    }
  });

  it("properties: spectral ≤ Frobenius ≤ √rank·spectral, invariance to row permutation, |c| scaling", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer(),
        fc.double({ min: -5, max: 5, noNaN: true }).filter((c) => Math.abs(c) > 1e-3),
        (rows, cols, seed, c) => {
          const W = matrix(rows, cols, seed);
          const s = spectralNorm(W, rows, cols).value,
            f = frobenius(W);
          expect(s).toBeLessThanOrEqual(f * (1 + 1e-12));
          expect(f).toBeLessThanOrEqual(Math.sqrt(Math.min(rows, cols)) * s * (1 + 1e-9));
          const perm = Array.from({ length: rows }, (_, i) => (i * 7 + 3) % rows);
          if (new Set(perm).size === rows) {
            const P = new Float32Array(W.length);
            perm.forEach((src, dst) => P.set(W.subarray(src * cols, (src + 1) * cols), dst * cols));
            expect(rel(spectralNorm(P, rows, cols).value, s)).toBeLessThan(1e-9);
          }
          const scaled = W.map((v) => v * c);
          const stats = matrixStats(scaled, rows, cols),
            base = matrixStats(W, rows, cols);
          // float32 rounding of c·W bounds the agreement
          expect(rel(stats.spectral_norm, Math.abs(c) * base.spectral_norm)).toBeLessThan(1e-6);
          expect(rel(stats.frobenius_norm, Math.abs(c) * base.frobenius_norm)).toBeLessThan(1e-6);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("entropy lies in [0, ln V] and the effective vocabulary in [1, V]", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 200 }),
        (logits) => {
          const s = logitStats(logits);
          expect(s.entropy).toBeGreaterThanOrEqual(-1e-9);
          expect(s.entropy).toBeLessThanOrEqual(Math.log(logits.length) + 1e-9);
          expect(s.effective_vocab).toBeGreaterThanOrEqual(1 - 1e-9);
          expect(s.effective_vocab).toBeLessThanOrEqual(logits.length * (1 + 1e-9));
        },
      ),
    );
  });

  it("logit statistics follow torch's definitions (unbiased std, p·log(p + 1e-10), top-10 mass)", () => {
    const logits = [2, -1, 0.5, 3, 3, -7, 0, 1, 1.5, -2, 4, 0.25];
    const s = logitStats(logits);
    const m = logits.reduce((a, b) => a + b) / logits.length;
    expect(s.logit_std).toBeCloseTo(Math.sqrt(logits.reduce((a, b) => a + (b - m) ** 2, 0) / (logits.length - 1)), 14);
    const z = logits.reduce((a, b) => a + Math.exp(b), 0),
      p = logits.map((x) => Math.exp(x) / z);
    expect(s.entropy).toBeCloseTo(-p.reduce((a, q) => a + q * Math.log(q + 1e-10), 0), 14);
    expect(s.top10_prob_mass).toBeCloseTo(
      [...p]
        .sort((a, b) => b - a)
        .slice(0, 10)
        .reduce((a, b) => a + b),
      14,
    );
    expect(s.logit_range).toBe(11);
  });

  it("residual statistics follow the notebook: gains, contracting_pct, last and max gain", () => {
    const norms = [6.05, 265.5, 265.2, 251.46, 344.01];
    const s = residualStreamStats(norms, gainsOf(norms));
    expect(s.gains.map((g) => +g.toFixed(4))).toEqual([43.8843, 0.9989, 0.9482, 1.3681]);
    expect(s).toMatchObject({ contracting_pct: 50, max_gain_layer: 0, last_gain: 344.01 / 251.46 });
    expect(s.expansion_layers.map(([i]) => i)).toEqual([0, 3]);
  });
});

describe("probes on every analog match the float64 reference", () => {
  const prompts = ["The capital of France is", "Once upon a time"];
  for (const family of ["mistral-small", "llama", "gemma", "pythia", "apertus"]) {
    for (const dialect of ["torchscript", "genai"] as Dialect[]) {
      it(`${family} (${dialect}): norms, gains, the 12 matrix stats of W_U, W_E and W_U_eff, and the logit stats`, async () => {
        const req = { analog: family, dialect, external: dialect === "genai" };
        const dir = await buildAnalog(req, TEST_CACHE);
        const { config, weights } = await generateAnalog(req);
        const entry = ModelEntrySchema.parse({ id: family, family: config.family, source: { dir } });
        const r = await probeModel(entry, dir, prompts, { device: "cpu" });
        const ids = config.calibrationIds;
        const t = referenceForward(config, weights, ids);
        const norms = t.residPost.map(frobenius);
        const ref = residualStreamStats(norms, gainsOf(norms));
        expect(r.layers).toBe(config.layers);
        notebookNumbers(r).residual!.norms.forEach((n, L) => expect(rel(n, ref.norms[L])).toBeLessThan(1e-5));
        notebookNumbers(r).residual!.gains.forEach((g, L) => expect(rel(g, ref.gains[L])).toBeLessThan(1e-5));
        expect(notebookNumbers(r).residual!.contracting_pct).toBe(ref.contracting_pct);
        const check = (got: Record<string, unknown>, want: Record<string, unknown>) => {
          for (const [k, v] of Object.entries(want)) {
            if (typeof v !== "number") continue;
            expect(rel(got[k] as number, v), k).toBeLessThan(
              k.startsWith("spectral") || k === "max_singular" ? 1e-6 : 1e-5,
            );
          }
        };
        check(notebookNumbers(r).unembedding! as never, matrixStats(weights.lmHead, config.vocab, config.d) as never);
        check(notebookNumbers(r).embedding! as never, matrixStats(weights.embed, config.vocab, config.d) as never);
        const gain = config.family === "gemma" ? weights.finalNorm.map((w) => 1 + w) : weights.finalNorm;
        const eff = weights.lmHead.map((v, i) => v * gain[i % config.d]);
        check(notebookNumbers(r).unembedding_eff! as never, matrixStats(eff, config.vocab, config.d) as never);
        check(
          notebookNumbers(r).entropy! as never,
          logitStats(t.logits.subarray((ids.length - 1) * config.vocab)) as never,
        );
        expect(r.tied.value).toBe(config.tied);
        // The logit lens at the last layer is the model's own output.
        expect(
          rel(at(r, "lens.entropy")[config.layers - 1], entropy(t.logits.subarray((ids.length - 1) * config.vocab))),
        ).toBeLessThan(1e-5);
      });
    }
  }
});

describe("the locator", () => {
  it("finds exactly num_hidden_layers layers on random analogs", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<AnalogFamily>("mistral", "llama", "gemma", "gpt_neox", "apertus"),
        fc.constantFrom<Dialect>("torchscript", "genai"),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 99 }),
        (family, dialect, layers, seed) => {
          const c = analogConfig(family, {
            layers,
            seed,
            ...TINY_ANALOG,
          });
          const l = locate(emitModel(c, generateWeights(c), { dialect }), { declaredLayers: layers });
          expect(l.layers).toBe(layers);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("fails with what it found when the config declares another layer count", () => {
    const c = analogConfig("llama", { layers: 3, calibrationIds: [1] });
    expect(() =>
      locate(emitModel(c, generateWeights(c), { dialect: "torchscript" }), { modelId: "x", declaredLayers: 4 }),
    ).toThrow(
      /model "x": found 3 layers where the config declares 4; found embedding: model.embed_tokens.weight \[512, 32\] .*residual stream: 6 segments \(amamam\)/,
    );
  });

  it("reads W_U as [vocab, d] whatever the storage: folded MatMul, Transpose of a tied embedding, MatMulNBits", () => {
    const c = analogConfig("gemma", { layers: 1, calibrationIds: [1] });
    const w = generateWeights(c);
    expect(locate(emitModel(c, w, { dialect: "torchscript" })).tiedInGraph).toBe("W_U is a Transpose of the embedding");
    expect(locate(emitModel(c, w, { dialect: "torchscript" })).W_U).toMatchObject({
      initializer: "model.embed_tokens.weight",
      layout: "vocab_d",
    });
    expect(locate(emitModel(c, w, { dialect: "genai", int4: true })).W_U).toMatchObject({
      layout: "matmulnbits",
      K: 32,
      N: 512,
      blockSize: 32,
    });
  });
});

describe.skipIf(!HAS_CONFORMANCE)(
  conformance("ONNX Runtime's transformers-optimizer export (../shared/conformance/ort-gpt2-tiny-random)"),
  () => {
    const dir = path.join(CONFORMANCE, "ort-gpt2-tiny-random");
    const entry = ModelEntrySchema.parse({ id: "gpt2-tiny", family: "other", source: { dir } });

    it("locates 5 layers through EmbedLayerNormalization and SkipLayerNormalization, feeding past_N empty", async () => {
      const r = await probeModel(entry, dir, ["The man is in the", "and the"], { device: "cpu" });
      expect(r.layers).toBe(5);
      expect(r.provenance.located.join("\n")).toMatch(/lm_head: MatMul "\/lm_head\/MatMul"/);
      expect(notebookNumbers(r).residual!.norms).toHaveLength(5);
      expect(at<number>(r, "logits.entropy")).toBeGreaterThan(0);
    });

    it("refuses a prompt whose tokens the model's 1000-token vocabulary does not have, naming the token", async () => {
      await expect(probeModel(entry, dir, ["The capital of France is"], { device: "cpu" })).rejects.toThrow(
        /model "gpt2-tiny": prompt "The capital of France is" has token "Ġcapital" \(id 3139\), outside the model's vocabulary of 1000/,
      );
    });
  },
);

describe("the product path", () => {
  it("probes a model nobody here has seen from one entry file, once; a second run reads the cache", async () => {
    const modelsDir = tmpDir(),
      cacheDir = tmpDir(),
      exportDir = path.join(tmpDir(), "unseen-export");
    fs.cpSync(
      await buildAnalog({ analog: "mistral-small", dialect: "torchscript", external: true }, TEST_CACHE),
      exportDir,
      { recursive: true },
    );
    fs.writeFileSync(
      path.join(modelsDir, "x.json"),
      JSON.stringify({ id: "x", family: "mistral", source: { dir: exportDir } }),
    );
    const env = { PROBESPEC_MODELS_DIR: modelsDir, PROBESPEC_CACHE_DIR: cacheDir, PROBESPEC_DEVICE: "cpu" };
    const promptSet = { name: "t", file: "-", prompts: ["The capital of France is", "Hello"] };
    const first = await runProbes({ env, promptSet });
    expect(first.results.map((r) => r.id)).toEqual(["x"]);
    expect(first.failures).toEqual([]);
    expect(first.modelLoads).toBe(1);
    const second = await runProbes({ env, promptSet });
    expect(second).toMatchObject({ modelLoads: 0, cacheHits: ["x"] });
    expect(second.results[0].measures).toEqual(first.results[0].measures);
    // A tampered or half-written cache entry is detected by its checksum and recomputed, never trusted.
    const file = path.join(cacheDir, "results", fs.readdirSync(path.join(cacheDir, "results"))[0]);
    const good = fs.readFileSync(file, "utf8");
    const tampered = good.replace(/(last_gain\\":)(\d)/, (_m, a, d) => `${a}${(Number(d) + 1) % 10}`);
    expect(tampered).not.toBe(good);
    for (const bad of [tampered, good.slice(0, good.length / 2)]) {
      fs.writeFileSync(file, bad);
      const again = await runProbes({ env, promptSet });
      expect(again.modelLoads).toBe(1);
      expect(notebookNumbers(again.results[0]).residual!.last_gain).toBe(
        notebookNumbers(first.results[0]).residual!.last_gain,
      );
    }
  });

  it("names the probe point, layer and position of a NaN or Inf, and the other models still run", async () => {
    const c = analogConfig("llama", { layers: 3, calibrationIds: [1, 2, 3] });
    const w = generateWeights(c);
    // What an fp16 overflow leaves behind: an infinite activation (every token but the specials here).
    for (let t = 3; t < c.vocab; t++) w.embed[t * c.d + 3] = Infinity;
    const bad = path.join(tmpDir(), "overflow");
    writeModelFolder(bad, {
      proto: emitModel(c, w, { dialect: "torchscript" }),
      dialect: "torchscript",
      external: false,
      config: hfConfig(c),
      tokenizer: byteTokenizerJson(),
      tokenizerConfig: tokenizerConfigJson(128),
    });
    const modelsDir = tmpDir();
    fs.writeFileSync(
      path.join(modelsDir, "bad.json"),
      JSON.stringify({ id: "bad", family: "llama", source: { dir: bad } }),
    );
    fs.writeFileSync(
      path.join(modelsDir, "good.json"),
      JSON.stringify({ id: "good", family: "llama", source: { analog: "llama" }, synthetic: true }),
    );
    const run = await runProbes({
      env: { PROBESPEC_MODELS_DIR: modelsDir, PROBESPEC_CACHE_DIR: tmpDir(), PROBESPEC_DEVICE: "cpu" },
      promptSet: { name: "t", file: "-", prompts: ["x9"] },
    });
    expect(run.results.map((r) => r.id)).toEqual(["good"]);
    expect(run.failures[0].error).toMatch(
      /model "bad": (NaN|\+Inf|-Inf) in (embed|resid_\w+\.\d+|attn_out\.\d+|mlp_\w+\.\d+) .*at position 1, element 3/,
    );
    // A float32 graph: fp16 overflow is not offered as the cause.
    expect(run.failures[0].error).not.toMatch(/fp16/);
  });
});

describe("explicit probe points and doctor", () => {
  it("a model entry's probePoints override what structure finds", async () => {
    const dir = await buildAnalog({ analog: "llama" }, TEST_CACHE);
    // Point resid_post.2 at layer 2's resid_mid instead: the override must win, visibly.
    const entry = ModelEntrySchema.parse({
      id: "o",
      family: "llama",
      source: { dir },
      probePoints: { "resid_post.2": "/model/layers.2/Add_output_0" },
    });
    const plain = await probeModel(ModelEntrySchema.parse({ id: "p", family: "llama", source: { dir } }), dir, ["Hi"], {
      device: "cpu",
    });
    const over = await probeModel(entry, dir, ["Hi"], { device: "cpu" });
    expect(at(over, "resid.norm")[1]).toBe(at(plain, "resid.norm")[1]);
    expect(at(over, "resid.norm")[2]).not.toBe(at(plain, "resid.norm")[2]);
  });

  it("probespec doctor prints what was located, the tying and the provider that would run", () => {
    const out = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(PROJECT_ROOT, "bin/probespec.ts"), "doctor", "gemma-analog"],
      { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, PROBESPEC_CACHE_DIR: TEST_CACHE } },
    );
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/model +gemma-analog \(gemma, synthetic\)/);
    expect(out.stdout).toMatch(/layers +8 sequential \(config declares 8\)/);
    expect(out.stdout).toMatch(/tied +W_U is a Transpose of the embedding/);
    expect(out.stdout).toMatch(/provider +cpu \(ONNX Runtime 1\.30\.0\); cuda unavailable/);
    expect(out.stdout).toMatch(/resid_post\.7 +\/model\/layers\.7\/Add_1_output_0/);
  });
});

describe("the logit lens (graph surgery sharing the model's W_U)", () => {
  it("at the last layer equals the model's own output entropy, for int4 MatMulNBits and tied Transpose storage too", async () => {
    for (const req of [
      { analog: "llama", dialect: "genai" as const, int4: true },
      { analog: "gemma", dialect: "torchscript" as const },
    ]) {
      const dir = await buildAnalog(req, TEST_CACHE);
      const r = await probeModel(
        ModelEntrySchema.parse({ id: req.analog, family: req.analog, source: { dir } }),
        dir,
        ["The capital of France is", "Once"],
        { device: "cpu" },
      );
      r.prompts.forEach((_, i) =>
        expect(rel(at(r, "lens.entropy", i)[r.layers - 1], at<number>(r, "logits.entropy", i))).toBeLessThan(1e-5),
      );
      expect(new Set(at(r, "lens.entropy")).size).toBe(r.layers);
    }
  });
});

describe("the metrics beyond the seed match the float64 reference", () => {
  for (const [analog, dialect] of [
    ["mistral-small", "torchscript"],
    ["mistral-small", "genai"],
    ["pythia", "genai"],
    ["gemma", "torchscript"],
  ] as const) {
    it(`${analog} (${dialect}): per-position norms, norms without position 0, component gains, the logit lens and attention entropy at every layer`, async () => {
      const req = { analog, dialect };
      const dir = await buildAnalog(req, TEST_CACHE);
      const { config: c, weights: w } = await generateAnalog(req);
      const r = await probeModel(
        ModelEntrySchema.parse({ id: analog, family: c.family, source: { dir } }),
        dir,
        ["The capital of France is"],
        { device: "cpu" },
      );
      const p = Object.fromEntries(
        Object.entries(r.measures).flatMap(([k, m]) => ("perPrompt" in m ? [[k, at<any>(r, k)]] : [])),
      );
      const t = referenceForward(c, w, c.calibrationIds);
      const seq = c.calibrationIds.length,
        d = c.d;
      for (let L = 0; L < c.layers; L++) {
        for (let q = 0; q < seq; q++)
          expect(
            rel(p["resid.position_norm"][L][q], frobenius(t.residPost[L].subarray(q * d, (q + 1) * d))),
          ).toBeLessThan(1e-5);
        expect(rel(p["resid.norm_ex0"][L], frobenius(t.residPost[L].subarray(d)))).toBeLessThan(1e-5);
        expect(
          rel(p["resid.gain_ex0"][L], frobenius(t.residPost[L].subarray(d)) / frobenius(t.residPre[L].subarray(d))),
        ).toBeLessThan(1e-5);
        expect(rel(p["attn.gain"][L], frobenius(t.attnOut[L]) / frobenius(t.residPre[L]))).toBeLessThan(1e-5);
        expect(rel(p["mlp.gain"][L], frobenius(t.mlpOut[L]) / frobenius(t.mlpIn[L]))).toBeLessThan(1e-5);
        // The lens, written here from the reference's own norm and linear: final norm, then W_U, then entropy.
        const h = norm(c, t.residPost[L].subarray((seq - 1) * d), d, w.finalNorm, w.finalNormBias);
        expect(rel(p["lens.entropy"][L], entropy(linear(h, w.lmHead, 1, d, c.vocab)))).toBeLessThan(1e-5);
        // The attention probabilities (pattern.L): every analog dialect computes attention unfused.
        let h2 = 0;
        for (const x of t.pattern[L]) if (x > 0) h2 -= x * Math.log(x);
        expect(rel(p["pattern.entropy"][L], h2 / (c.heads * seq))).toBeLessThan(1e-5);
      }
    });
  }
});

describe("bootstrap confidence intervals", () => {
  it("agree with the normal approximation on a large sample, are seeded, and pair prompts", () => {
    let s = 7;
    const draw = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
    const a = Array.from(
      { length: 400 },
      () => 2 + Math.sqrt(-2 * Math.log(draw() || 1e-12)) * Math.cos(2 * Math.PI * draw()),
    );
    const m = a.reduce((x, y) => x + y) / a.length;
    const sd = Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / (a.length - 1));
    const ci = meanCI(a, { resamples: 4000 });
    expect(ci.estimate).toBeCloseTo(m, 12);
    expect(Math.abs(ci.lo - (m - (1.96 * sd) / Math.sqrt(a.length))) / (sd / Math.sqrt(a.length))).toBeLessThan(0.15);
    expect(Math.abs(ci.hi - (m + (1.96 * sd) / Math.sqrt(a.length))) / (sd / Math.sqrt(a.length))).toBeLessThan(0.15);
    expect(meanCI(a, { resamples: 4000 })).toEqual(ci);
    // Paired: a constant shift has a zero-width CI, which unpaired resampling would not give.
    const d = meanDifferenceCI(
      a.map((x) => x + 0.5),
      a,
    );
    expect(d.lo).toBeCloseTo(0.5, 12);
    expect(d.hi).toBeCloseTo(0.5, 12);
  });
});

describe("names are a hint, structure is primary", () => {
  it("locates a dynamo-style export: anonymous node and tensor names, module paths only in metadata_props", async () => {
    const c = analogConfig("mistral", { layers: 3, calibrationIds: [1, 40, 50, 60] });
    const w = generateWeights(c);
    const proto = emitModel(c, w, { dialect: "torchscript" });
    // Rename as torch.onnx.export(dynamo=True) names things: node_<Op>_<n>, val_<n>; keep the scope in metadata.
    const rename = new Map<string, string>();
    const keep = new Set([
      "input_ids",
      "attention_mask",
      "position_ids",
      "logits",
      ...proto.graph!.initializer.map((t) => t.name),
    ]);
    const name = (t: string) =>
      !t || keep.has(t) ? t : (rename.get(t) ?? (rename.set(t, `val_${rename.size}`), rename.get(t)!));
    proto.graph!.node.forEach((n, i) => {
      const scope = n.name.split("/").slice(1, -1).join(".");
      n.metadataProps.push(
        create(StringStringEntryProtoSchema, {
          key: "pkg.torch.onnx.name_scopes",
          value: JSON.stringify(["", ...scope.split(".")]),
        }),
      );
      n.name = `node_${n.opType}_${i}`;
      n.input = n.input.map(name);
      n.output = n.output.map(name);
    });
    const l = locate(proto, { declaredLayers: 3 });
    expect(l.layers).toBe(3);
    expect(
      [...l.points.values()].every((s) => !("tensor" in s) || s.tensor.startsWith("val_") || s.tensor === "logits"),
    ).toBe(true);
    const dir = tmpDir();
    writeModelFolder(path.join(dir, "m"), {
      proto,
      dialect: "torchscript",
      external: false,
      config: hfConfig(c),
      tokenizer: byteTokenizerJson(),
      tokenizerConfig: tokenizerConfigJson(128),
    });
    const r = await probeModel(
      ModelEntrySchema.parse({ id: "dyn", family: "mistral", source: { dir: path.join(dir, "m") } }),
      path.join(dir, "m"),
      ["Hi"],
      { device: "cpu" },
    );
    expect(r.layers).toBe(3);
  });
});

describe("the probed graph frees each tensor once its reductions are taken", () => {
  it("adds the reductions after the lens, latest point first: ONNX Runtime's walk back from the last-added leaf then runs each as soon as its tensor exists", async () => {
    const { proto } = readModel(path.join(import.meta.dirname, "fixtures", "exports", "llama-dynamo23", "model.onnx"));
    const located = locate(proto);
    const plan = planReads(await loadMeasures(), located);
    const g = probedGraph(proto, located, "dynamo", plan.graph).proto.graph!;
    const lensAt = Math.max(...g.node.map((n, i) => (n.name.startsWith("/probespec/lens/") ? i : -1)));
    const leaves = g.node
      .map((n, i) => ({ i, out: n.output.find((o) => o.startsWith("probespec::") && o !== LENS_OUTPUT) }))
      .filter((x) => x.out);
    expect(leaves.length).toBeGreaterThan(10);
    expect(leaves[0].i).toBeGreaterThan(lensAt);
    const order = leaves.map((x) => streamOrder(x.out!.split("::")[2] as ProbePoint));
    expect(order).toEqual([...order].sort((a, b) => b - a));
  });
});

describe("the lm_head on the last position alone", () => {
  const exports = path.join(import.meta.dirname, "fixtures", "exports");
  const last = { point: "logits", as: "last" } as const;
  /**
   * The last position's logits (and the lens, where asked) from the probed graph, given reads: with only that row
   * read, the lm_head gets one row, or with the lens, the lens rows and that row.
   */
  async function lastLogits(name: string, reads: { point: ProbePoint; as: "last" | "sumsq" }[], lens = false) {
    const dir = path.join(exports, name);
    const { proto } = readModel(path.join(dir, "model.onnx"));
    const located = locate(proto);
    const g = probedGraph(proto, located, name, { lens, reductions: reads as never });
    const { session } = await createSession(encodeModel(g.proto), { device: "cpu", externalDataDir: dir });
    const read = (f: string) => (fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : undefined);
    const feeds = feeder(
      located,
      read(path.join(dir, "config.json")) ?? {},
      read(path.join(dir, "genai_config.json")),
      name,
    );
    const names = [reductionOutput(last), ...(lens ? [LENS_OUTPUT] : [])];
    const out = await session.run(feeds([5, 17, 3, 40, 9, 11, 2]), names);
    await session.release();
    const has = (scope: string) => g.proto.graph!.node.some((n) => n.name.startsWith(scope));
    return {
      row: floatData(out[reductionOutput(last)]),
      lens: lens ? floatData(out[LENS_OUTPUT]) : undefined,
      sliced: has("/probespec/last_position/"),
      shared: has("/probespec/lens/from_head/"),
      located,
    };
  }
  const maxRel = (a: Float32Array, b: Float32Array) =>
    Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / Math.max(...b.map(Math.abs));
  const sumsq = { point: "logits" as ProbePoint, as: "sumsq" } as const;

  it.each(["llama-dynamo23", "gemma-ts", "gpt2-ortopt", "phi3-genai-fp16", "qwen3-genai-int4", "gpt2-int4"])(
    "%s: the same last row as the lm_head over every position, where only the last is read",
    async (name) => {
      const alone = await lastLogits(name, [last]);
      const every = await lastLogits(name, [last, sumsq]);
      expect(alone.sliced).toBe(true);
      expect(every.sliced).toBe(false);
      expect(alone.row.length).toBe(alone.located.vocab);
      // One row through the matmul, not seven: its sums may be taken in another order, never from other rows.
      expect(maxRel(alone.row, every.row)).toBeLessThan(1e-6);
    },
  );

  it.each([
    ["llama-dynamo23", true],
    ["gemma-ts", true],
    ["gpt2-ortopt", true],
    ["qwen3-genai-int4", false],
    ["gpt2-int4", true],
    ["phi3-genai-fp16", false],
  ] as const)(
    "%s: the lens through the model's own lm_head (shared: %s) gives the lens's own matmul's rows and the same logits",
    async (name, shares) => {
      const shared = await lastLogits(name, [last], true);
      const own = await lastLogits(name, [last, sumsq], true);
      expect(shared.shared).toBe(shares);
      expect(own.shared).toBe(false);
      // An fp16 lm_head, or one that quantises its input (accuracy level 4), is not shared: the lens runs in float32.
      expect(shared.sliced).toBe(!shares);
      expect(shared.lens!.length).toBe(shared.located.layers * shared.located.vocab);
      expect(maxRel(shared.lens!, own.lens!)).toBeLessThan(1e-6);
      expect(maxRel(shared.row, own.row)).toBeLessThan(1e-6);
    },
  );

  it("gives each graph's lens from one matmul: with a fork edited, each reads its own rows, as with a matmul apiece", async () => {
    const name = "llama-dynamo23";
    const dir = path.join(exports, name);
    const { proto } = readModel(path.join(dir, "model.onnx"));
    const located = locate(proto);
    const ids = [5, 17, 3, 40, 9, 11, 2];
    const feeds = {
      ...feeder(located, JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")), undefined, name)(ids),
      ...forkFeeds("f", ids.length, located.d, { point: "resid_pre.1", positions: "last", edit: { op: "zero" } }, name),
    };
    const lenses = async (plainLens: boolean) => {
      const fork = { tag: "f", point: "resid_pre.1" as ProbePoint, lens: true, reductions: [] };
      const g = probedGraph(proto, located, name, { lens: plainLens, reductions: [last] }, [fork]);
      const { session } = await createSession(encodeModel(g.proto), { device: "cpu", externalDataDir: dir });
      const out = await session.run(feeds, [...(plainLens ? [LENS_OUTPUT] : []), forked(LENS_OUTPUT, "f")]);
      await session.release();
      return {
        plain: plainLens ? floatData(out[LENS_OUTPUT]) : undefined,
        fork: floatData(out[forked(LENS_OUTPUT, "f")]),
      };
    };
    const both = await lenses(true);
    const forkAlone = await lenses(false); // the fork's lens its graph's only one: a matmul of its own
    const plainAlone = (await lastLogits(name, [last], true)).lens!;
    expect(maxRel(both.fork, forkAlone.fork)).toBeLessThan(1e-6);
    expect(maxRel(both.plain!, plainAlone)).toBeLessThan(1e-6);
    expect(maxRel(both.fork, both.plain!)).toBeGreaterThan(1e-3); // the edit reaches the fork's lens alone
  });

  it("is not done where the lm_head's input is quantised with one scale for all positions (quantize_dynamic)", async () => {
    const { located, sliced } = await lastLogits("gpt2-int8", [last]);
    expect(located.rowWiseHead).toBeUndefined();
    expect(sliced).toBe(false);
  });

  it("is done after a bias on either side of its Add, and not where a step after the lm_head counts the positions (a Reshape to [1, -1, vocab])", () => {
    const c = analogConfig("llama", { layers: 1, seed: 3, ...TINY_ANALOG });
    const proto = emitModel(c, generateWeights(c), { dialect: "torchscript" });
    const g = proto.graph!;
    expect(locate(proto).rowWiseHead).toBeDefined();
    const head = g.node.find((n) => n.output[0] === "logits")!;
    /** The lm_head's output through one more node into the logits. */
    const after = (opType: string, input: string[], init: ReturnType<typeof int64Tensor>) => ({
      ...proto,
      graph: {
        ...g,
        node: [
          ...g.node.map((n) => (n === head ? { ...n, output: ["/t/pre"] } : n)),
          { ...head, name: `/t/${opType}`, opType, domain: "", attribute: [], input, output: ["logits"] },
        ],
        initializer: [...g.initializer, init],
      },
    });
    const bias = floatTensor("/t/bias", [c.vocab], new Float32Array(c.vocab).fill(0.5));
    const biased = locate(after("Add", ["/t/bias", "/t/pre"], bias)).rowWiseHead;
    expect(biased?.product).toBe("/t/pre"); // the lens shares the product before the bias, not the biased logits
    const shape = int64Tensor("/t/shape", [3], [1, -1, c.vocab]);
    expect(locate(after("Reshape", ["/t/pre", "/t/shape"], shape)).rowWiseHead).toBeUndefined();
  });
});

describe("the attention entropy's ln p", () => {
  it("is LogSoftmax of the pattern's scores where the provider has the op, ln max(p, 1e-30) on WebGPU, which has none", () => {
    const { proto } = readModel(path.join(import.meta.dirname, "fixtures", "exports", "llama-dynamo23", "model.onnx"));
    const located = locate(proto);
    const reads = [{ point: "pattern.0" as ProbePoint, as: "row_entropy" as const }];
    const ops = (provider: "cpu" | "webgpu") =>
      new Set(
        probedGraph(proto, located, "x", { lens: false, reductions: reads }, [], provider).proto.graph!.node.map(
          (n) => n.opType,
        ),
      );
    expect(ops("cpu").has("LogSoftmax")).toBe(true);
    expect(ops("webgpu").has("LogSoftmax")).toBe(false);
    expect(ops("webgpu").has("Log")).toBe(true);
  });
});
