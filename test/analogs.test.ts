import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import mt from "mistral-tokenizer-js";
import { buildAnalog, buildLlama2c } from "../models/analogs/build.js";
import { ANALOG_FAMILIES, analogConfig, CALIBRATION_PROMPT, type AnalogFamily } from "../models/analogs/config.js";
import { type Dialect } from "../models/writer/config.js";
import { emitModel } from "../models/writer/emit.js";
import { readLlama2c } from "../models/analogs/llama2c.js";
import { referenceForward } from "../models/analogs/reference.js";
import { generateWeights } from "../models/analogs/weights.js";
import { dequantizeQ4, quantizeQ4 } from "../onnx/int4.js";
import { locate } from "../probes/locate.js";
import { encodeModel } from "../onnx/io.js";
import { probedGraph } from "../probes/probed-graph.js";
import { loadTokenizer } from "../probes/tokenizer.js";
import { CONFORMANCE, conformance, HAS_CONFORMANCE, relErr, TEST_CACHE, tmpDir } from "./helpers.js";
import { promptTexts } from "../probes/prompts.js";

const FAMILIES = Object.keys(ANALOG_FAMILIES) as AnalogFamily[];
const DIALECTS: Dialect[] = ["torchscript", "genai"];
const frob = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
const int64 = (a: number[]) => new ort.Tensor("int64", BigInt64Array.from(a.map(BigInt)), [1, a.length]);

/** Runs an emitted analog with every located residual point exposed. */
async function runExposed(proto: ReturnType<typeof emitModel>, ids: number[]) {
  const located = locate(proto);
  const session = await ort.InferenceSession.create(encodeModel(probedGraph(proto, located).proto));
  const out = await session.run({
    input_ids: int64(ids),
    attention_mask: int64(ids.map(() => 1)),
    position_ids: int64(ids.map((_, i) => i)),
  });
  const get = (p: string) => {
    const s = located.points.get(p as never)!;
    return out[(s as { tensor: string }).tensor].data as Float32Array;
  };
  return { located, get };
}

describe("synthetic analogs", () => {
  it("are deterministic: the same preset and seed give byte-identical folders", async () => {
    // The manifest records each file's ctime, the moment it was written: every other byte is the same.
    const hash = (dir: string) =>
      fs
        .readdirSync(dir)
        .filter((f) => f !== ".probespec-manifest.json")
        .sort()
        .map(
          (f) =>
            `${f}:${crypto
              .createHash("sha256")
              .update(fs.readFileSync(path.join(dir, f)))
              .digest("hex")}`,
        )
        .join("\n");
    for (const req of [{ analog: "mistral-small" }, { analog: "gemma", dialect: "genai" as const, external: true }]) {
      const [a, b] = await Promise.all([buildAnalog(req, tmpDir()), buildAnalog(req, tmpDir())]);
      expect(hash(a)).toBe(hash(b));
    }
  });

  for (const family of FAMILIES) {
    for (const dialect of DIALECTS) {
      it(`${family} (${dialect}): ONNX Runtime's logits and every residual tensor match the float64 reference to 1e-5`, async () => {
        const ids = [1, 60, 71, 300, 45, 12, 200, 99];
        const c = analogConfig(family, { layers: 4, d: 32, heads: 4, hidden: 64, calibrationIds: ids });
        const w = generateWeights(c);
        const ref = referenceForward(c, w, ids);
        const { located, get } = await runExposed(emitModel(c, w, { dialect }), ids);
        expect(located.layers).toBe(4);
        expect(located.parallel).toBe(family === "gpt_neox");
        expect(relErr(get("logits"), ref.logits)).toBeLessThan(1e-5);
        expect(relErr(get("embed"), ref.embed)).toBeLessThan(1e-6);
        for (let L = 0; L < 4; L++) {
          expect(relErr(get(`resid_post.${L}`), ref.residPost[L])).toBeLessThan(1e-5);
          if (family !== "gpt_neox") expect(relErr(get(`resid_mid.${L}`), ref.residMid[L])).toBeLessThan(1e-5);
          expect(relErr(get(`mlp_in.${L}`), ref.mlpIn[L])).toBeLessThan(1e-5);
        }
      });
    }
  }

  it("int4 (MatMulNBits) lm_head: ORT's logits match the reference on the dequantised W_U", async () => {
    const ids = [1, 5, 9, 300];
    const c = analogConfig("llama", { layers: 2, calibrationIds: ids });
    const w = generateWeights(c);
    const q = quantizeQ4(w.lmHead, c.vocab, c.d);
    const deq = dequantizeQ4(q.packed, q.scales, c.vocab, c.d, q.blockSize);
    expect(relErr(deq, w.lmHead)).toBeLessThan(0.15); // 4 bits: coarse, but the same matrix
    const ref = referenceForward(c, { ...w, lmHead: deq }, ids);
    const { get } = await runExposed(emitModel(c, w, { dialect: "genai", int4: true }), ids);
    expect(relErr(get("logits"), ref.logits)).toBeLessThan(1e-5);
  });

  describe("planted properties are measurable on the reference", () => {
    const ids = [1, 373, 331, 328, 382, 324, 339];
    for (const family of ["mistral", "gemma", "apertus", "gpt_neox"] as AnalogFamily[]) {
      it(`${family}: the planted last-layer gain equals ‖resid_post.L−1‖ / ‖resid_pre.L−1‖ within 1e-6`, () => {
        for (const g of [0.8, 0.9, 1.3]) {
          const c = analogConfig(family, {
            layers: 5,
            d: 32,
            hidden: 64,
            knobs: { wUScale: 1, sharpness: 1, lastLayerGain: g },
            calibrationIds: ids,
          });
          const t = referenceForward(c, generateWeights(c), ids);
          expect(Math.abs(frob(t.residPost[4]) / frob(t.residPre[4]) - g)).toBeLessThan(1e-6);
        }
      });
    }

    it("the massive activation sits at position 0 alone, with the planted magnitude, from the planted layer", () => {
      const c = analogConfig("mistral", {
        layers: 5,
        d: 32,
        hidden: 64,
        knobs: { wUScale: 1, sharpness: 1, massive: { dim: 7, magnitude: 123.5, layer: 2, removedAtLast: 0.25 } },
        calibrationIds: ids,
      });
      const t = referenceForward(c, generateWeights(c), ids);
      expect(t.residPost[1][7]).toBeLessThan(2);
      // float32 weights: exact to their rounding
      expect(Math.abs(t.residPost[2][7] - 123.5) / 123.5).toBeLessThan(1e-6);
      for (let p = 1; p < ids.length; p++) expect(t.residPost[3][p * 32 + 7]).toBe(0);
      expect(Math.abs(t.residPost[4][7] / t.residMid[4][7] - 0.75)).toBeLessThan(1e-6);
    });

    it("W_U scale and sharpness scale what they promise", () => {
      const base = analogConfig("llama", { layers: 2, calibrationIds: ids });
      const w0 = generateWeights(base);
      const w1 = generateWeights(
        analogConfig("llama", { layers: 2, calibrationIds: ids, knobs: { wUScale: 2.5, sharpness: 1 } }),
      );
      expect(
        relErr(
          w1.lmHead.map((v) => v / 2.5),
          w0.lmHead,
        ),
      ).toBeLessThan(1e-7);
      const t0 = referenceForward(base, w0, ids);
      const c2 = analogConfig("llama", { layers: 2, calibrationIds: ids, knobs: { wUScale: 1, sharpness: 3 } });
      const t2 = referenceForward(c2, generateWeights(c2), ids);
      expect(
        relErr(
          t2.logits.map((v) => v / 3),
          t0.logits,
        ),
      ).toBeLessThan(1e-6);
    });
  });

  it("random small configurations (layers 1–6, heads, GQA ratios, d, vocab) build, locate and run", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          family: fc.constantFrom(...FAMILIES),
          dialect: fc.constantFrom(...DIALECTS),
          layers: fc.integer({ min: 1, max: 6 }),
          kvHeads: fc.constantFrom(1, 2),
          group: fc.constantFrom(1, 2, 4),
          headDim: fc.constantFrom(8, 16),
          vocab: fc.integer({ min: 16, max: 300 }),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
        async (r) => {
          const heads = r.kvHeads * r.group;
          const ids = [1, 2, 3, 4, 5].map((x) => x % r.vocab);
          const c = analogConfig(r.family, {
            layers: r.layers,
            heads,
            kvHeads: r.family === "mistral" ? r.kvHeads : heads,
            d: heads * r.headDim,
            hidden: 2 * heads * r.headDim,
            vocab: r.vocab,
            seed: r.seed,
            calibrationIds: ids,
          });
          const w = generateWeights(c);
          const { located, get } = await runExposed(emitModel(c, w, { dialect: r.dialect }), ids);
          expect(located.layers).toBe(r.layers);
          expect(relErr(get("logits"), referenceForward(c, w, ids).logits)).toBeLessThan(1e-5);
        },
      ),
      { numRuns: 25, seed: 42 },
    );
  });

  it("the mistral analog tokenises with Mistral's real vocabulary, as mistral-tokenizer-js does", async () => {
    const dir = await buildAnalog({ analog: "mistral" }, TEST_CACHE);
    const tok = loadTokenizer(dir);
    expect(tok.encode(CALIBRATION_PROMPT)).toEqual([1, 415, 5565, 302, 4843, 349]);
    for (const text of promptTexts()) expect(tok.encode(text)).toEqual(mt.encode(text));
  });

  it("each analog folder is in the HF layout and labelled synthetic", async () => {
    const dir = await buildAnalog({ analog: "pythia" }, TEST_CACHE);
    // .probespec-manifest.json: each file's sha256 at generation, checked before the folder is reused.
    expect(fs.readdirSync(dir).sort()).toEqual([
      ".probespec-manifest.json",
      "config.json",
      "model.onnx",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    expect(config).toMatchObject({
      model_type: "gpt_neox",
      num_hidden_layers: 8,
      rotary_pct: 0.25,
      probespec: { synthetic: true },
    });
  });
});

describe.skipIf(!HAS_CONFORMANCE)(
  conformance("tinystories-260k, real pretrained weights (../shared/conformance)"),
  () => {
    const src = path.join(CONFORMANCE, "tinystories-260k");

    it("greedy decoding from BOS begins with the README's sentence", async () => {
      const dir = await buildLlama2c(src, TEST_CACHE);
      const tok = loadTokenizer(dir);
      const session = await ort.InferenceSession.create(path.join(dir, "model.onnx"));
      const ids = [1];
      for (let step = 0; step < 34; step++) {
        const out = await session.run({
          input_ids: int64(ids),
          attention_mask: int64(ids.map(() => 1)),
          position_ids: int64(ids.map((_, i) => i)),
        });
        const logits = (out.logits.data as Float32Array).subarray((ids.length - 1) * 512);
        ids.push(logits.indexOf(Math.max(...logits)));
      }
      expect(tok.decode(ids)).toMatch(
        /^Once upon a time, there was a little girl named Lily\. She loved to play outside in the park\./,
      );
    });

    it("ONNX Runtime's logits match a float64 forward pass written from the llama2.c layout (interleaved RoPE) to 1e-5", async () => {
      const dir = await buildLlama2c(src, TEST_CACHE);
      const { config, weights } = readLlama2c(path.join(src, "stories260K.bin"));
      expect(config).toMatchObject({
        d: 64,
        hidden: 172,
        layers: 5,
        heads: 8,
        kvHeads: 4,
        vocab: 512,
        tied: true,
        ropeStyle: "interleaved",
      });
      const ids = [1, 403, 407, 261, 378, 432, 383, 286];
      const ref = referenceForward(config, weights, ids);
      const session = await ort.InferenceSession.create(path.join(dir, "model.onnx"));
      const out = await session.run({
        input_ids: int64(ids),
        attention_mask: int64(ids.map(() => 1)),
        position_ids: int64(ids.map((_, i) => i)),
      });
      expect(relErr(out.logits.data as Float32Array, ref.logits)).toBeLessThan(1e-5);
    });
  },
);
