/**
 * A model's probe result, as a schema: the ProbeResult type is derived from it,
 * and results read back from the cache or a shard store enter through it, never a
 * cast; a file that does not match is not trusted. JSON writes NaN (a gain without
 * position 0 on a one-token prompt) as null; it is read back as NaN.
 */
import { z } from "zod";
import { DEVICES } from "./config.js";
import type { Value } from "./measures/measure.js";
import type { ProbePoint } from "./points.js";

const num = z.union([z.number(), z.null().transform(() => NaN)]);
const nums = z.array(num);
/** A measure's value (probes/measures/measure.ts Value): named values nest. */
const value: z.ZodType<Value, unknown> = z.lazy(() => z.union([num, nums, z.array(nums), z.record(z.string(), value)]));

/** The notebook's statistics, as measures hold them (matrix.*, resid.stream*, logits.stats): results.json reads them through these. */
export const MatrixStatsSchema = z.strictObject({
  shape: z.tuple([z.number(), z.number()]),
  frobenius_norm: num,
  spectral_norm: num,
  max_singular: num,
  mean_row_norm: num,
  std_row_norm: num,
  max_row_norm: num,
  min_row_norm: num,
  mean_abs: num,
  std_abs: num,
  frobenius_normalized: num,
  spectral_normalized: num,
});
export const LogitStatsSchema = z.strictObject({
  logit_mean: num,
  logit_std: num,
  logit_max: num,
  logit_min: num,
  logit_range: num,
  entropy: num,
  effective_vocab: num,
  top10_prob_mass: num,
});
export const ResidualStatsSchema = z.strictObject({
  norms: nums,
  gains: nums,
  contracting_pct: num,
  last_gain: num,
  max_gain: num,
  max_gain_layer: num,
  expansion_layers: z.array(z.tuple([z.number(), z.number()])),
});
const provider = z.enum(["cuda", "webgpu", "cpu"]);

export const ProbeResultSchema = z.strictObject({
  id: z.string(),
  family: z.string(),
  dtype: z.string(),
  /**
   * How its weights run, in a line: a GGUF's block formats kept as codes, 16-bit matrices read in place, float32.
   * Optional so that a run file written before it was recorded (the calibration's snapshot) still reads.
   */
  weightForm: z.string().optional(),
  /** Why it runs in that form, where its source gave a choice (a GGUF's codes or float32). */
  weightChoice: z.string().optional(),
  synthetic: z.boolean(),
  role: z.enum(["subject", "baseline"]).optional(),
  notes: z.string().optional(),
  training: z.string().optional(),
  source: z.string(),
  layers: z.number(),
  d: z.number(),
  vocab: z.number(),
  /** Weights in the graph's initializers (int4 blocks counted two to a byte): the model's size, roughly. */
  parameters: z.number(),
  parallel: z.boolean(),
  tied: z.strictObject({ value: z.boolean(), via: z.string() }),
  execution: z.strictObject({
    requested: z.enum(DEVICES),
    provider,
    ortVersion: z.string(),
    fallbacks: z.array(z.strictObject({ provider, error: z.string() })),
    /** WebGPU's adapter: vendor, device, type, driver. */
    adapter: z.string().optional(),
    /** Under auto on a device: what ONNX Runtime said when the nodes the device cannot run went to the CPU. */
    cpuFallback: z.string().optional(),
  }),
  provenance: z.strictObject({
    onnxFile: z.string(),
    sha256: z.string(),
    bytes: z.number(),
    externalFiles: z.array(z.string()),
    located: z.array(z.string()),
    probesSource: z.string(),
    /** The machine that probed, and the shard it ran as (PROBESPEC_SHARD), where it was one. */
    host: z.string().optional(),
    shard: z.strictObject({ job: z.string(), shard: z.string() }).optional(),
    unavailable: z.array(
      z.strictObject({
        point: z.string() as z.ZodType<ProbePoint>,
        reason: z.string(),
      }),
    ),
    /** 16-bit weights widened to float32 on each run: what was done, and the logits' distance from the float32 forward of the same weights. */
    weights: z
      .strictObject({
        form: z.string(),
        logitError: z.union([
          z.strictObject({ maxAbs: z.number(), relative: z.number(), tokens: z.number(), against: z.string() }),
          z.strictObject({ unmeasured: z.string() }),
        ]),
      })
      .optional(),
  }),
  /** Every selected measure (probes/measures/) by name: its value over the prompt set and per prompt, or why the graph cannot give it. */
  measures: z.record(
    z.string(),
    z.union([
      z.strictObject({ unit: z.string(), value, perPrompt: z.array(value).optional() }),
      z.strictObject({ unit: z.string(), unavailable: z.string() }),
    ]),
  ),
  /** The prompts, in the order of each measure's perPrompt values. */
  prompts: z.array(z.strictObject({ prompt: z.string(), tokens: z.number() })),
  /** Seconds spent loading, on matrices, and running prompts. */
  timings: z.strictObject({ load: z.number(), matrices: z.number(), run: z.number() }),
  /** The most bytes one prompt's pass returned from the session (its reductions, the lens, points read whole). */
  returnedBytes: z.number(),
});

export type ProbeResult = z.output<typeof ProbeResultSchema>;
