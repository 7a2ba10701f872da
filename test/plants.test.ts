/**
 * The harness check's plants, in float64: the sink knob is the exact structure
 * config.ts states, and each planted preset puts its effects where its `planted`
 * says, on the default prompt set, computed with the reference forward pass
 * (independent of ONNX and ONNX Runtime) and the metrics' own definitions.
 */
import { describe, expect, it } from "vitest";
import { generateAnalog } from "../models/analogs/build.js";
import { rotaryDim } from "../models/writer/config.js";
import { referenceForward } from "../models/analogs/reference.js";
import { mean } from "../probes/metrics.js";
import { BASELINES, forward } from "./plants.js";
import { ENTROPY_MAX_RATIO, PARADOX_MAX_GAIN, SILENT_EXIT_MIN_RATIO, SINK_MIN_RATIO } from "../hypotheses/criteria.js";

/** What to do when the default prompt set has moved a plant off its bound. */
const RESOLVE =
  "the plant is off its bound on this prompt set: `npx tsx test/plants.ts` prints the knobs that put it back";

describe("the sink knob", () => {
  it("scores key 0 exactly strength · cos(qω) / (rms(x_q) rms(x_0)) in its layers, every later key 0, and writes nothing", async () => {
    const { config: c, weights: w } = await generateAnalog({ analog: "at-bound" });
    const sink = c.knobs.sink!;
    const ids = [1, 40, 77, 90, 12, 200, 33, 5, 61];
    const t = referenceForward(c, w, ids);
    const seq = ids.length;
    const r = rotaryDim(c);
    const omega = Math.pow(c.ropeTheta, -(r - 2) / r);
    const rms = (x: Float64Array, s: number) =>
      Math.sqrt(mean(Array.from(x.subarray(s * c.d, (s + 1) * c.d), (v) => v * v)) + c.eps);
    for (const L of sink.layers) {
      expect(
        t.attnOut[L].every((v) => v === 0),
        `layer ${L} writes nothing`,
      ).toBe(true);
      for (let h = 0; h < c.heads; h++)
        for (let q = 1; q < seq; q++) {
          const row = t.pattern[L].subarray((h * seq + q) * seq, (h * seq + q) * seq + q + 1);
          const score = (sink.strength * Math.cos(q * omega)) / (rms(t.residPre[L], q) * rms(t.residPre[L], 0));
          // Keys 1..q score 0: each gets 1 / (e^score + q), key 0 gets e^score / (e^score + q).
          const expected = Math.exp(score) / (Math.exp(score) + q);
          expect(Math.abs(row[0] - expected), `layer ${L} head ${h} query ${q}`).toBeLessThan(1e-6);
          for (let j = 1; j <= q; j++) expect(Math.abs(row[j] - (1 - expected) / q)).toBeLessThan(1e-6);
        }
    }
    // The marker and shared dimensions hold their embedding's values at every position through every layer.
    for (const x of [...t.residPost])
      for (let s = 0; s < seq; s++) {
        expect(x[s * c.d + sink.marker]).toBe(s === 0 ? 1 : 0);
        expect(x[s * c.d + sink.shared]).toBe(1);
      }
  });
});

describe("the planted presets on the default prompt set, in float64", () => {
  it("at-bound: a mean sink ratio of 2, a mean last-layer gain of 1, a logit spread 1/0.58 × the widest baseline's", async () => {
    const [subject, ...bases] = await Promise.all(["at-bound", ...BASELINES].map((analog) => forward({ analog })));
    expect(subject.meanOf("sink") / SINK_MIN_RATIO, RESOLVE).toBeCloseTo(1, 5);
    expect(subject.meanOf("last") / PARADOX_MAX_GAIN, RESOLVE).toBeCloseTo(1, 5);
    // Against the widest-spread baseline the ratio is smallest: it sits on the bound, every other above it.
    const widest = Math.max(...bases.map((b) => b.meanOf("spread")));
    expect(subject.meanOf("spread") / widest / SILENT_EXIT_MIN_RATIO, RESOLVE).toBeCloseTo(1, 5);
    // The readout gain has no interval: it must clear the bound against every baseline.
    for (const b of bases) expect(subject.readout / b.readout).toBeGreaterThan(SILENT_EXIT_MIN_RATIO);
    // Entropy is planted past its bound here, well clear of every baseline's.
    for (const b of bases)
      expect(subject.meanOf("entropy") / b.meanOf("entropy")).toBeLessThan(ENTROPY_MAX_RATIO * 0.95);
  });

  it("sharp-at-bound: a mean entropy ÷ ln V of 0.8 × the sharpest baseline's", async () => {
    const [subject, ...bases] = await Promise.all(
      ["sharp-at-bound", ...BASELINES].map((analog) => forward({ analog })),
    );
    const sharpest = Math.min(...bases.map((b) => b.meanOf("entropy")));
    expect(subject.meanOf("entropy") / sharpest / ENTROPY_MAX_RATIO, RESOLVE).toBeCloseTo(1, 5);
    // Its logits spread short of 1/0.58 against every baseline but Gemma's small tied readout.
    for (const b of bases.filter((_, i) => BASELINES[i] !== "gemma"))
      expect(subject.meanOf("spread") / b.meanOf("spread")).toBeLessThan(SILENT_EXIT_MIN_RATIO * 0.95);
    expect(subject.meanOf("last")).toBeGreaterThan(1.4);
    expect(subject.meanOf("sink")).toBeLessThan(SINK_MIN_RATIO * 0.6);
  });

  it("confirmed: every effect well past its bound, with and without position 0", async () => {
    const [subject, ...bases] = await Promise.all(["confirmed", ...BASELINES].map((analog) => forward({ analog })));
    expect(subject.meanOf("sink")).toBeGreaterThan(2 * SINK_MIN_RATIO);
    for (const gains of [subject.prompts.map((p) => p.gains), subject.prompts.map((p) => p.gainsEx0)]) {
      const byLayer = gains[0].map((_, l) => mean(gains.map((g) => g[l])));
      expect(byLayer.at(-1)).toBeLessThan(0.8 * PARADOX_MAX_GAIN);
      expect(byLayer.indexOf(Math.max(...byLayer))).toBe(1);
      for (const g of byLayer.slice(2, 6)) expect(Math.abs(g - 1)).toBeLessThan(0.05);
    }
    for (const b of bases) {
      expect(subject.meanOf("spread") / b.meanOf("spread")).toBeGreaterThan(1.5 * SILENT_EXIT_MIN_RATIO);
      expect(subject.readout / b.readout).toBeGreaterThan(1.5 * SILENT_EXIT_MIN_RATIO);
      expect(subject.meanOf("entropy") / b.meanOf("entropy")).toBeLessThan(0.6 * ENTROPY_MAX_RATIO);
    }
  });
});
