/**
 * The harness check's at-bound plants, solved in float64 on a prompt set: what
 * each preset's knobs must be for its effect's mean over the prompts to sit
 * exactly on its bound. test/plants.test.ts checks the presets against it; when
 * the default prompt set changes, `npx tsx test/plants.ts` prints the knobs
 * that put the plants back on their bounds.
 */
import path from "node:path";
import { PreTrainedTokenizer } from "@huggingface/transformers";
import { generateAnalog, type AnalogRequest } from "../models/analogs/build.js";
import { type AnalogConfig } from "../models/analogs/config.js";
import { rotaryDim } from "../models/writer/config.js";
import { referenceForward, type Trace } from "../models/analogs/reference.js";
import { PRESETS } from "../models/analogs/presets.js";
import { traitsOf } from "../models/architectures/table.js";
import { entropy, firstKeyMass, mean, softmaxGain, std, uniformFirstKeyMass } from "../probes/metrics.js";
import { DEFAULT_PROMPTS, promptTexts } from "../probes/prompts.js";
import { ENTROPY_MAX_RATIO, PARADOX_MAX_GAIN, SILENT_EXIT_MIN_RATIO, SINK_MIN_RATIO } from "../hypotheses/criteria.js";

/** The prompt set a run uses: PROBESPEC_PROMPTS, else the default. */
export const runPromptTexts = () =>
  promptTexts(process.env.PROBESPEC_PROMPTS ? path.resolve(process.env.PROBESPEC_PROMPTS) : DEFAULT_PROMPTS);

/** The synthetic cohort's baselines: an at-bound plant sits on its bound against the one nearest it. */
export const BASELINES = ["llama", "gemma", "pythia", "apertus"];

const forwards = new Map<string, ReturnType<typeof forwardOnce>>();

/** A preset's float64 forward on every prompt of the set, with what the specs read of each; computed once a process. */
export function forward(req: AnalogRequest, texts = runPromptTexts()) {
  const key = JSON.stringify([req, texts]);
  if (!forwards.has(key)) forwards.set(key, forwardOnce(req, texts));
  return forwards.get(key)!;
}

async function forwardOnce(req: AnalogRequest, texts: string[]) {
  const { config: c, weights: w, tokenizer, tokenizerConfig } = await generateAnalog(req);
  const tok = new PreTrainedTokenizer(tokenizer, tokenizerConfig);
  const sumsq = (x: Float64Array, from: number) => x.subarray(from * c.d).reduce((a, v) => a + v * v, 0);
  const prompts = texts.map((text) => {
    const ids = tok.encode(text) as number[];
    const t = referenceForward(c, w, ids);
    const seq = ids.length;
    const toFirst = t.pattern.map((p) => {
      const first = new Float64Array(c.heads * seq);
      for (let i = 0; i < first.length; i++) first[i] = p[i * seq];
      return firstKeyMass(first, seq) / uniformFirstKeyMass(seq);
    });
    const logits = t.logits.subarray((seq - 1) * c.vocab);
    const gains = (from: number) => t.residPre.map((r, l) => Math.sqrt(sumsq(t.residPost[l], from) / sumsq(r, from)));
    return {
      t,
      seq,
      toFirst,
      sink: mean(toFirst.slice(Math.floor(c.layers / 2))),
      gains: gains(0),
      gainsEx0: gains(1),
      last: gains(0)[c.layers - 1],
      logits: Float64Array.from(logits),
      spread: std(logits),
      entropy: entropy(logits) / Math.log(c.vocab),
    };
  });
  const meanOf = (k: "sink" | "last" | "spread" | "entropy") => mean(prompts.map((p) => p[k]));
  // W_U_eff: the final norm's gain folded in (Gemma's is 1 + w).
  const plusOne = traitsOf(c).gainPlusOne ? 1 : 0;
  const effective = Float32Array.from(w.lmHead, (x, i) => x * (plusOne + w.finalNorm[i % c.d]));
  return { c, w, prompts, meanOf, readout: softmaxGain(effective, c.vocab, c.d) };
}

/** x in [lo, hi] where f(x) = target, f monotone. */
function bisect(f: (x: number) => number, lo: number, hi: number, target: number): number {
  const below = f(lo) < target;
  for (let i = 0; i < 100 && hi - lo > 1e-12 * Math.abs(hi); i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < target === below) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The key-0 score of each sink layer's queries per unit strength (config.ts, Sink): cos(qω) / (rms(x_q) rms(x_0)). */
function unitScores(c: AnalogConfig, t: Trace, seq: number, layer: number): number[] {
  const r = rotaryDim(c);
  const omega = Math.pow(c.ropeTheta, -(r - 2) / r);
  const x = t.residPre[layer];
  const rms = (s: number) => Math.sqrt(x.subarray(s * c.d, (s + 1) * c.d).reduce((a, v) => a + v * v, 0) / c.d + c.eps);
  return Array.from({ length: seq - 1 }, (_, i) => Math.cos((i + 1) * omega) / (rms(i + 1) * rms(0)));
}

/** The knobs that put each at-bound plant exactly on its bound over these prompts. */
export async function solvePlants(texts = runPromptTexts()) {
  const baselines = await Promise.all(BASELINES.map((analog) => forward({ analog }, texts)));
  // Against the widest-spread baseline the spread ratio is smallest, against the sharpest the entropy ratio largest.
  const widest = Math.max(...baselines.map((b) => b.meanOf("spread")));
  const sharpest = Math.min(...baselines.map((b) => b.meanOf("entropy")));
  const bound = PRESETS["at-bound"].knobs;
  // The last layer's MLP is refitted against the residual for any planted gain below 1, then scaled: its output per
  // prompt is s·m, and the mean gain over the prompts a function of s alone.
  const at = await forward({ analog: "at-bound" }, texts);
  const L = at.c.layers - 1;
  const calibration = await forward({ analog: "at-bound" }, ["The capital of France is"]);
  const split = (p: { t: Trace }) => {
    const m = p.t.mlpOut[L];
    const u = p.t.residPost[L].map((v, i) => v - m[i]);
    const rr = p.t.residPre[L].reduce((a, v) => a + v * v, 0);
    return (s: number) => Math.sqrt(u.reduce((a, v, i) => a + (v + s * m[i]) ** 2, 0) / rr);
  };
  const gainAt = at.prompts.map(split);
  const s = bisect((x) => mean(gainAt.map((g) => g(x))), 0, 2, PARADOX_MAX_GAIN);
  const lastLayerGain = split(calibration.prompts[0])(s);
  // Planted at 1 or above, the last layer would be a random MLP scaled, not the refitted one solved here.
  if (lastLayerGain >= 1) throw new Error(`at-bound: the last-layer gain solves to ${lastLayerGain}, not below 1`);
  // The sink writes nothing: its strength moves only its own layers' attention, a closed form of the forward.
  const sink = bound.sink!;
  const late = Math.floor(at.c.layers / 2);
  const sinkMean = (strength: number) =>
    mean(
      at.prompts.map((p) => {
        const ratios = p.toFirst.map((r, l) => {
          if (l < late || !sink.layers.includes(l)) return r;
          const a0 = unitScores(at.c, p.t, p.seq, l).map(
            (u, i) => Math.exp(strength * u) / (Math.exp(strength * u) + i + 1),
          );
          return mean(a0) / uniformFirstKeyMass(p.seq);
        });
        return mean(ratios.slice(late));
      }),
    );
  const strength = bisect(sinkMean, 0, 50, SINK_MIN_RATIO);
  // Logits are linear in W_U: the spread is, too. With the solved gain the last layer's output changes, so the
  // logits are read again with it.
  const solved = await forward({ analog: "at-bound", knobs: { ...bound, lastLayerGain, wUScale: 1 } }, texts);
  const wUScale = (SILENT_EXIT_MIN_RATIO * widest) / solved.meanOf("spread");
  // Sharpness multiplies the logits (the final norm has no bias): entropy of k × the unsharpened logits.
  const sharp = await forward({ analog: "sharp-at-bound", knobs: { sharpness: 1 } }, texts);
  const entropyAt = (k: number) =>
    mean(sharp.prompts.map((p) => entropy(p.logits.map((v) => v * k)) / Math.log(sharp.c.vocab)));
  const sharpness = bisect(entropyAt, 0.5, 10, ENTROPY_MAX_RATIO * sharpest);
  return { "at-bound": { wUScale, lastLayerGain, sinkStrength: strength }, "sharp-at-bound": { sharpness } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const texts = runPromptTexts();
  console.log(`${texts.length} prompts:`, JSON.stringify(await solvePlants(texts), null, 1));
}
