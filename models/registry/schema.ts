/**
 * The model entry: one file in models/, validated as a value (zod), never cast.
 * `{"id":"foo","family":"mistral","source":{"dir":"/abs/path"}}` is a complete entry.
 */
import fs from "node:fs";
import { z } from "zod";

/**
 * Text that is printed raw in a terminal (an id, a family) must not carry control or format
 * characters: an escape sequence in an id once retitled the window and forged a verdict line.
 */
const label = (what: string) =>
  z
    .string()
    .min(1)
    .max(200)
    .regex(
      /^[^\p{C}\s](?:[^\p{C}]*[^\p{C}\s])?$/u,
      `expected a ${what} of printable characters, without control characters or surrounding blanks`,
    );

/** Probe-point names are one vocabulary (TransformerLens'): see probes/points.ts. */
const probePointName = z
  .string()
  .regex(
    /^(embed|ln_final|logits|W_E|W_U|ln_final\.w|ln_final\.b|(resid_pre|attn_out|resid_mid|mlp_in|mlp_out|resid_post)\.\d+)$/,
    "expected a probe-point name such as resid_post.3, embed, ln_final, logits, W_E or W_U",
  );

const SOURCE_KINDS = {
  dir: z.strictObject({ dir: z.string().min(1) }),
  hub: z.strictObject({
    hub: z.string().regex(/^[\w.-]+\/[\w.-]+$/, "expected org/name"),
    revision: z.string().optional(),
    subfolder: z.string().optional(),
    file: z.string().optional(),
    /** A folder that may hold an ONNX export (or a checkpoint) of the same model: used in place of the hub cache when it does. */
    export: z.string().min(1).optional(),
  }),
  /** A synthetic analog generated on demand: a preset from models/analogs/presets.ts, optionally re-knobbed. */
  analog: z.strictObject({
    analog: z.string().min(1),
    dialect: z.enum(["torchscript", "genai"]).optional(),
    int4: z.boolean().optional(),
    external: z.boolean().optional(),
    seed: z.number().int().optional(),
    knobs: z
      .strictObject({
        wUScale: z.number().positive().optional(),
        lastLayerGain: z.number().positive().optional(),
        sharpness: z.number().positive().optional(),
        expansion: z.strictObject({ layer: z.number().int().nonnegative(), gain: z.number().positive() }).optional(),
        sink: z
          .strictObject({
            layers: z.array(z.number().int().nonnegative()).min(1),
            marker: z.number().int().nonnegative(),
            shared: z.number().int().nonnegative(),
            strength: z.number(),
          })
          .optional(),
        massive: z
          .strictObject({
            dim: z.number().int().nonnegative(),
            magnitude: z.number(),
            layer: z.number().int().nonnegative(),
            removedAtLast: z.number().min(0).max(1),
          })
          .nullable()
          .optional(),
      })
      .optional(),
  }),
  /** A GGUF file, or its byte-split parts in order, converted on demand (of an architecture the table reads: models/architectures/gguf.ts); sha256 of the whole, checked before use. */
  gguf: z.strictObject({
    gguf: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits")
      .optional(),
    /**
     * The weights' form, where the entry decides it: `codes` (block formats kept as MatMulNBits codes) or `float32`
     * (dequantised once). Absent: float32 where it fits with room to spare, for speed; the codes otherwise.
     */
    weights: z.enum(["codes", "float32"]).optional(),
  }),
  /** A llama2.c checkpoint folder (model .bin + tok .bin), converted on demand. */
  llama2c: z.strictObject({
    llama2c: z.string().min(1),
    checkpoint: z.string().optional(),
    tokenizer: z.string().optional(),
  }),
};
export type SourceKind = keyof typeof SOURCE_KINDS;

/** The kind a parsed source is: the key of SOURCE_KINDS it names. */
export const sourceKind = (s: Source): SourceKind => (Object.keys(SOURCE_KINDS) as SourceKind[]).find((k) => k in s)!;
export type Source = { [K in SourceKind]: z.output<(typeof SOURCE_KINDS)[K]> }[SourceKind];

/** The source's kind is the key it names, so an error speaks of that kind's fields only. */
export const SourceSchema = z.unknown().transform((v, ctx): Source => {
  const kind = v && typeof v === "object" ? (Object.keys(SOURCE_KINDS) as SourceKind[]).find((k) => k in v) : undefined;
  if (!kind) {
    ctx.addIssue({
      code: "custom",
      message: `expected an object with one of ${Object.keys(SOURCE_KINDS)
        .map((k) => `"${k}"`)
        .join(", ")}`,
    });
    return z.NEVER;
  }
  const r = SOURCE_KINDS[kind].safeParse(v);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: issue.path } as never);
    return z.NEVER;
  }
  return r.data as Source;
});

export const DTYPES = ["fp32", "fp16", "bf16", "q4", "q4f16", "int8", "uint8", "quantized"] as const;

export const ModelEntrySchema = z.strictObject({
  id: label("model id"),
  /** Free text: config.json's model_type is the natural value (models/architectures/table.ts names those probespec converts). */
  family: label("family name"),
  source: SourceSchema,
  dtype: z.enum(DTYPES).default("fp32"),
  /** Memory the probe run needs, in GB; estimated from the files when absent. */
  memoryGb: z.number().positive().optional(),
  /** Explicit tensor names for graphs the locator cannot read. */
  probePoints: z.record(probePointName, z.string().min(1)).optional(),
  /** `subject` marks the model a hypothesis is about; family mistral is a subject by default. */
  role: z.enum(["subject", "baseline"]).optional(),
  /** Generated, untrained weights: labelled wherever the model appears. */
  synthetic: z.boolean().default(false),
  notes: z.string().optional(),
  /** What the weights were trained on, briefly ("3 T tokens of SlimPajama and StarCoder data"): the report sets subject and baseline side by side. */
  training: z.string().min(1).optional(),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;
export type ModelEntryInput = z.input<typeof ModelEntrySchema>;

/**
 * `source.dir: expected string, received number` — path first, then what was expected. An unknown field at the top
 * level that is a slip of one of `known` (an edit or two away: "sorce") says which was meant.
 */
export function formatZodError(error: z.ZodError, known: readonly string[] = []): string {
  const meant = (k: string) => known.find((w) => editDistance(k.toLowerCase(), w.toLowerCase()) <= 2 && k !== w);
  return error.issues
    .map((i) => {
      const where = i.path.length ? i.path.join(".") : "(entry)";
      const msg =
        i.code === "unrecognized_keys"
          ? `unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys
              .map((k) => `"${k}"${i.path.length === 0 && meant(k) ? ` (did you mean "${meant(k)}"?)` : ""}`)
              .join(", ")}`
          : i.message;
      return `${i.code === "unrecognized_keys" && i.path.length === 0 ? "" : `${where}: `}${msg}`;
    })
    .join("; ");
}

/** Levenshtein distance: the edits that turn one name into another (a field, a model id), for saying which a typo meant. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** A JSON file's value; a leading byte-order mark (Windows editors write one) is not part of the JSON. */
export function readJsonFile(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, "utf8").replace(/^\uFEFF/, ""));
}
