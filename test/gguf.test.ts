/**
 * GGUF: the reader against the gguf package's view of a real file, and every
 * dequantiser bit for bit against gguf.quants.dequantize (tools/gguf_reference.py)
 * on random blocks and on real blocks of TinyLlama-1.1B's IQ2_XXS / K-quant file.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dequantize, tensorBytes, typeName } from "../models/gguf/dequantize.js";
import { codedTypes, quantizedLinear } from "../models/gguf/codes.js";
import { dequantizeLinear } from "../models/writer/quantized.js";
import { openGguf } from "../models/gguf/reader.js";
import { runProbes } from "../probes/run.js";
import { buildGguf } from "../models/gguf/build.js";
import { readModel } from "../onnx/io.js";
import { loadTokenizer } from "../probes/tokenizer.js";
import { lastTokenLogits, rel, relErr, TEST_CACHE, tmpDir } from "./helpers.js";
import { readSpec, withKey, writeGguf } from "./gguf-writer.js";
import { ggufModel } from "../models/gguf/convert.js";
import { llama3, ropeInvFreq } from "../models/safetensors/rope.js";
import { notebookNumbers } from "../reports/results.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { selectModels } from "../models/registry/select.js";
import { GraphBuilder } from "../onnx/graph.js";
import { nbitsMatMul } from "../onnx/nbits.js";

const cases: { type: string; id: number; source: string; count: number; raw: string; expected: string }[] = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, "fixtures", "gguf", "blocks.json"), "utf8"),
);

describe("ggml block formats, dequantised bit for bit as the gguf package does", () => {
  for (const c of cases) {
    it(`${c.type} (${c.source}): ${c.count} values`, () => {
      const raw = new Uint8Array(Buffer.from(c.raw, "base64"));
      const want = new Uint32Array(new Uint8Array(Buffer.from(c.expected, "base64")).buffer);
      const got = new Uint32Array(dequantize(c.id, raw, c.count, c.type).buffer);
      const first = got.findIndex((v, i) => v !== want[i]);
      expect(
        first,
        first < 0 ? "" : `value ${first}: bits ${got[first].toString(16)} vs ${want[first].toString(16)}`,
      ).toBe(-1);
    });
  }

  it("covers every format the issue names, random and real", () => {
    const types = new Set(cases.map((c) => c.type));
    for (const t of [
      "F32",
      "F16",
      "BF16",
      "Q8_0",
      "Q4_0",
      "Q4_1",
      "Q5_0",
      "Q5_1",
      "Q2_K",
      "Q3_K",
      "Q4_K",
      "Q5_K",
      "Q6_K",
      "IQ2_XXS",
    ])
      expect(types).toContain(t);
  });

  it("refuses an unknown format by its name", () => {
    expect(() => tensorBytes(17, 256, 'tensor "blk.0.attn_q.weight"')).toThrow(
      /tensor "blk.0.attn_q.weight" is stored as IQ2_XS, which probespec cannot dequantise/,
    );
    expect(typeName(99)).toBe("type 99");
  });
});

describe("ggml block formats as MatMulNBits codes", () => {
  // Without a per-block offset, Σ_j 16^j·s·(n_j − 8) is the dequantised value exactly; with one, o' = o + 8·s·…
  // is rounded to float32 once, where the dequantiser rounds s·c + o: a few float32 ulps of the block's values.
  const OFFSET = new Set(["Q4_1", "Q5_1", "Q2_K", "Q4_K", "Q5_K", "Q8_0"]);
  for (const c of cases.filter((c) => codedTypes().includes(c.id))) {
    it(`${c.type} (${c.source}): ${c.count} values`, () => {
      const raw = new Uint8Array(Buffer.from(c.raw, "base64"));
      const want = dequantize(c.id, raw, c.count, c.type);
      const rows = c.count % 512 ? 1 : 2;
      const q = quantizedLinear(c.id, raw, rows, c.count / rows, c.type);
      expect(q.planes.every((p) => p.length === c.count / 2)).toBe(true);
      expect(q.planes.length).toBe(["Q4_0", "Q4_1", "Q2_K", "Q3_K", "Q4_K"].includes(c.type) ? 1 : 2);
      expect(!!q.offsets).toBe(OFFSET.has(c.type));
      const got = dequantizeLinear(q);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      let worst = 0;
      got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]))));
      if (OFFSET.has(c.type)) expect(worst).toBeLessThanOrEqual(scale * 2 ** -22);
      else expect(worst).toBe(0);
    });
  }
});

describe("4-bit planes in a graph (onnx/nbits.ts)", () => {
  it("names the output asked for exactly once, whether one plane makes it, a weighed plane, or a sum", () => {
    const cases = [
      { planes: [{ B: "p0", factor: 1 }], last: "MatMulNBits" },
      { planes: [{ B: "p1", factor: 16 }], last: "Identity" },
      {
        planes: [
          { B: "p0", factor: 1 },
          { B: "p1", factor: 16 },
        ],
        last: "Identity",
      },
    ];
    for (const { planes, last } of cases) {
      const g = new GraphBuilder();
      const out = nbitsMatMul(g, "/lm_head", "x", { planes, scales: "s", K: 64, N: 8, blockSize: 32 }, 3, "logits");
      expect(out).toBe("logits");
      const makers = g.nodes.filter((n) => n.output.includes("logits"));
      expect(makers.map((n) => n.opType)).toEqual([last]);
    }
  });
});

describe("the GGUF reader", () => {
  it("reads a v3 header, its metadata and tensor infos, and refuses what is not GGUF", () => {
    const dir = tmpDir("gguf-");
    // A small file written by hand: version 3, one u32 and one string-array key, one F32 tensor [2, 3].
    const parts: Buffer[] = [];
    const u32 = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v);
      parts.push(b);
    };
    const u64 = (v: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(v));
      parts.push(b);
    };
    const str = (s: string) => {
      u64(Buffer.byteLength(s));
      parts.push(Buffer.from(s));
    };
    parts.push(Buffer.from("GGUF"));
    u32(3);
    u64(1);
    u64(2);
    str("llama.block_count");
    u32(4);
    u32(22);
    str("tokenizer.ggml.tokens");
    u32(9);
    u32(8);
    u64(2);
    str("<s>");
    str("▁a");
    str("w");
    u32(2);
    u64(3);
    u64(2);
    u32(0);
    u64(0);
    let header = Buffer.concat(parts);
    header = Buffer.concat([header, Buffer.alloc(Math.ceil(header.length / 32) * 32 - header.length)]);
    const data = Buffer.from(Float32Array.of(1, 2, 3, 4, 5, 6).buffer);
    const file = path.join(dir, "tiny.gguf");
    fs.writeFileSync(file, Buffer.concat([header, data]));
    // Byte-split in the middle of the metadata: the parts read as one file.
    const whole = fs.readFileSync(file);
    fs.writeFileSync(path.join(dir, "a.part"), whole.subarray(0, 37));
    fs.writeFileSync(path.join(dir, "b.part"), whole.subarray(37));
    for (const g of [openGguf(file), openGguf([path.join(dir, "a.part"), path.join(dir, "b.part")])]) {
      expect(g.version).toBe(3);
      expect(g.metadata.get("llama.block_count")).toBe(22);
      expect(g.metadata.get("tokenizer.ggml.tokens")).toEqual(["<s>", "▁a"]);
      expect(g.tensors).toEqual([{ name: "w", dims: [3, 2], type: 0, offset: 0 }]);
      expect(Array.from(dequantize(0, g.read(g.dataStart, 24), 6))).toEqual([1, 2, 3, 4, 5, 6]);
      g.close();
    }
    fs.writeFileSync(path.join(dir, "not.gguf"), "GGML....");
    expect(() => openGguf(path.join(dir, "not.gguf"))).toThrow(/not.gguf is not a GGUF file/);
    fs.writeFileSync(path.join(dir, "cut.gguf"), whole.subarray(0, 30));
    expect(() => openGguf(path.join(dir, "cut.gguf"))).toThrow(/runs past the end of the file .*truncated/);
  });
});

describe("a GGUF over 4 GB", () => {
  it("reads a tensor placed beyond 2^32 bytes, in one sparse file and across byte-split parts, with no buffer larger than the tensor", () => {
    const dir = tmpDir("gguf-big-");
    try {
      // Tensor "pad" (F32, 2^30 + 8 values: 4 GiB + 32 bytes) is never read: the file is sparse there.
      // Tensor "w" (Q8_0, 64 values) lies after it, beyond 4 GiB, and is read and dequantised.
      const parts: Buffer[] = [];
      const u32 = (v: number) => parts.push(Buffer.from(Uint32Array.of(v).buffer));
      const u64 = (v: number) => parts.push(Buffer.from(BigUint64Array.of(BigInt(v)).buffer));
      const str = (s: string) => (u64(Buffer.byteLength(s)), parts.push(Buffer.from(s)));
      const PAD = 2 ** 30 + 8;
      parts.push(Buffer.from("GGUF"));
      u32(3);
      u64(2);
      u64(0);
      for (const [name, dims, type, offset] of [
        ["pad", [PAD], 0, 0],
        ["w", [32, 2], 8, PAD * 4],
      ] as const) {
        str(name);
        u32(dims.length);
        dims.forEach(u64);
        u32(type);
        u64(offset);
      }
      const header = Buffer.concat(parts);
      const dataStart = Math.ceil(header.length / 32) * 32;
      // Two Q8_0 blocks: scale 0.5 (f16 0x3800) and codes -16..15; scale -2 (0xc000) and codes 127, -127, 0, ...
      const w = Buffer.alloc(68);
      w.writeUInt16LE(0x3800, 0);
      for (let j = 0; j < 32; j++) w.writeInt8(j - 16, 2 + j);
      w.writeUInt16LE(0xc000, 34);
      w.writeInt8(127, 36);
      w.writeInt8(-127, 37);
      const expected = [...Array.from({ length: 32 }, (_, j) => (j - 16) * 0.5), -254, 254, ...Array(30).fill(0)];
      const at = dataStart + PAD * 4;
      expect(at).toBeGreaterThan(2 ** 32);
      const file = path.join(dir, "big.gguf");
      let fd = fs.openSync(file, "w");
      fs.writeSync(fd, header, 0, header.length, 0);
      fs.writeSync(fd, w, 0, w.length, at);
      fs.closeSync(fd);
      // The same bytes as two parts, split inside "w" (beyond 4 GiB): a sparse first part, and the rest.
      const a = path.join(dir, "a.part"),
        b = path.join(dir, "b.part");
      fd = fs.openSync(a, "w");
      fs.writeSync(fd, header, 0, header.length, 0);
      fs.writeSync(fd, w, 0, 40, at);
      fs.closeSync(fd);
      fs.writeFileSync(b, w.subarray(40));
      expect(fs.statSync(a).size).toBe(at + 40);
      for (const g of [openGguf(file), openGguf([a, b])]) {
        try {
          expect(g.dataStart).toBe(dataStart);
          const t = g.tensors.find((x) => x.name === "w")!;
          expect(t.offset).toBe(PAD * 4);
          const bytes = g.read(g.dataStart + t.offset, tensorBytes(t.type, 64, "w"));
          expect(bytes.byteLength).toBe(68);
          expect(Array.from(dequantize(t.type, bytes, 64), (v) => v + 0)).toEqual(expected); // -0 read as 0
        } finally {
          g.close();
        }
      }
      // One byte short, beyond 4 GiB: named as truncated.
      fs.truncateSync(file, at + 67);
      expect(() => openGguf(file)).toThrow(
        /big.gguf: its tensors need \d+ bytes, and the file has \d+; the file is truncated/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Every number of two results' measures, by path: the worst relative difference, and where. */
/**
 * The largest relative difference between two results, number by number. A logit mean sits near 0 by cancellation,
 * so it is judged against the logits' spread (the statistics beside it), as the checkpoint tests judge it: relative to
 * itself it measures float32 rounding of a cancellation, which differs from one CPU to the next.
 */
/** Models written as entries into a fresh folder ({ id: source }), probed on the CPU on `prompts`, nothing cached. */
async function probeEntries(sources: Record<string, object>, prompts: string[]) {
  const modelsDir = tmpDir("gguf-entries-");
  for (const [id, source] of Object.entries(sources))
    fs.writeFileSync(path.join(modelsDir, `${id}.json`), JSON.stringify({ id, family: "llama", source }));
  const run = await runProbes({
    env: {
      PROBESPEC_MODELS_DIR: modelsDir,
      PROBESPEC_CACHE_DIR: TEST_CACHE,
      PROBESPEC_DEVICE: "cpu",
      PROBESPEC_NO_CACHE: "1",
    },
    promptSet: { name: "test", file: "-", prompts },
  });
  expect(run.failures).toEqual([]);
  return run;
}

function worstMeasure(a: unknown, b: unknown, at = "", against?: number): { rel: number; at: string } {
  if (typeof a === "number" && typeof b === "number") {
    const scale = against ?? Math.max(Math.abs(a), Math.abs(b));
    return { rel: scale === 0 || a === b ? 0 : Math.abs(a - b) / scale, at };
  }
  let worst = { rel: 0, at: "" };
  if (a && b && typeof a === "object" && typeof b === "object")
    for (const k of Object.keys(a))
      if (k !== "provenance" && k !== "execution") {
        const spread = k === "logit_mean" ? Math.abs((b as { logit_std?: number }).logit_std ?? NaN) : NaN;
        const w = worstMeasure(
          (a as never)[k],
          (b as never)[k],
          `${at}.${k}`,
          Number.isFinite(spread) ? spread : undefined,
        );
        if (w.rel > worst.rel) worst = w;
      }
  return worst;
}

describe("a GGUF's block formats kept as MatMulNBits codes", () => {
  const fixtures = path.join(import.meta.dirname, "fixtures");
  for (const [file, what, compact] of [
    [
      "gguf-llama/model.gguf",
      "Q8_0, Q4_0 and Q5_1 linears; a Q8_0 embedding, tied",
      ["GatherBlockQuantized", "lm_head"],
    ],
    ["gguf-llama-q4/tied.gguf", "a Q4_0 embedding, tied", ["GatherBlockQuantized", "lm_head"]],
    [
      "gguf-llama3/q8_0.gguf",
      "llama.cpp's --outtype q8_0 of a Llama 3 checkpoint (rope_freqs, a BPE tokenizer): a Q8_0 embedding, tied",
      ["GatherBlockQuantized", "lm_head"],
    ],
    ["gguf-llama-q4/untied.gguf", "a Q4_0 embedding and Q4_0 lm_head", ["GatherBlockQuantized", "lm_head"]],
    [
      "gguf-llama-q4/offsets.gguf",
      "a Q4_1 embedding and a Q5_1 lm_head (per-block offsets; two planes)",
      ["GatherBlockQuantized", "lm_head"],
    ],
  ] as const) {
    it(`${what}: every measure within 1e-5 of the float32-dequantised conversion`, async () => {
      const gguf = path.join(fixtures, file);
      const coded = await buildGguf([gguf], TEST_CACHE);
      const float = await buildGguf([gguf], TEST_CACHE, { float32: true });
      expect(coded).not.toBe(float);
      const nodes = (dir: string) => readModel(path.join(dir, "model.onnx")).proto.graph!.node;
      expect(nodes(coded).filter((n) => n.opType === "MatMulNBits").length).toBeGreaterThan(0);
      expect(nodes(float).map((n) => n.opType)).not.toContain("MatMulNBits");
      const gathers = nodes(coded).some((n) => n.opType === "GatherBlockQuantized");
      const head = nodes(coded).find((n) => n.output.includes("logits"))!.opType;
      // The lm_head's MatMulNBits, or the Identity ending a sum of planes (onnx/nbits.ts).
      expect([gathers, ["MatMulNBits", "Identity"].includes(head)]).toEqual([compact.length > 0, compact.length > 0]);
      const size = (dir: string) => fs.statSync(path.join(dir, "model.onnx_data")).size;
      expect(size(coded)).toBeLessThan(size(float));
      const ref = JSON.parse(fs.readFileSync(path.join(fixtures, "gguf-llama", "reference.json"), "utf8"));
      const run = await probeEntries({ coded: { dir: coded }, float: { dir: float } }, [
        ref.prompt,
        "The quick brown fox jumps over the lazy dog.",
      ]);
      const [a, b] = ["coded", "float"].map((id) => run.results.find((r) => r.id === id)!);
      expect(a.tied.value).toBe(b.tied.value);
      expect(Object.keys(a.measures).sort()).toEqual(Object.keys(b.measures).sort());
      const worst = worstMeasure(a.measures, b.measures);
      expect(worst.rel, `worst at ${worst.at}`).toBeLessThan(1e-5);
      // W_U and W_E read from the blocks are the float32 ones, bit for bit.
      for (const m of ["matrix.w_u", "matrix.w_e"]) expect(a.measures[m], m).toEqual(b.measures[m]);
    });
  }
});

describe("a GGUF's weights run as float32 where that fits, as codes where it does not", () => {
  const gguf = path.join(import.meta.dirname, "fixtures", "gguf-llama", "model.gguf");
  const select = (source: object, extra: object, deviceMemoryGb: number) =>
    selectModels(
      {
        entries: [ModelEntrySchema.parse({ id: "tiny", family: "llama", source: { gguf, ...source }, ...extra })],
        files: new Map(),
        problems: [],
      },
      { modelsRoot: process.cwd(), hubCache: tmpDir("hub-"), offline: true, cacheDir: TEST_CACHE, deviceMemoryGb },
    );
  const formOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")).probespec.weights;

  it("picks float32 with room to spare, the codes where float32 would take more than half the free memory, and what the entry says", async () => {
    const roomy = await select({}, {}, 64);
    expect(roomy.selected[0].weightChoice).toMatch(
      /^float32: faster than the codes, and its session \(\d+\.\d GB\) fits in 50% of the 64\.0 GB the machine has free$/,
    );
    expect(formOf(roomy.selected[0].dir)).toMatch(/^float32/);
    // The same model in a memoryGb too small for its float32 session: the codes, saying why.
    const tight = await select({}, { memoryGb: 0.001 }, 64);
    expect(tight.selected[0].weightChoice).toMatch(
      /^codes: float32 would take \d+\.\d GB, more than 50% of the 0\.0 GB its entry's memoryGb allows$/,
    );
    expect(formOf(tight.selected[0].dir)).toMatch(/codes/);
    const forced = await select({ weights: "codes" }, {}, 64);
    expect(forced.selected[0].weightChoice).toBe(`codes: the entry's "weights" says so`);
    expect(forced.selected[0].dir).toBe(tight.selected[0].dir);
    expect((await select({ weights: "float32" }, {}, 64)).selected[0].dir).toBe(roomy.selected[0].dir);
  });
});

describe("a GGUF added as one entry", () => {
  it("probes a tied GQA Llama written by the gguf package's GGUFWriter in Q8_0, Q4_0, Q5_1, F16 and F32, within 1e-4 of transformers' GGUF loader", async () => {
    const dir = path.join(import.meta.dirname, "fixtures", "gguf-llama");
    const ref = JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8"));
    const run = await probeEntries({ "tiny-gguf": { gguf: path.join(dir, "model.gguf") } }, [ref.prompt]);
    const r = run.results[0];
    expect(loadTokenizer(path.dirname(r.provenance.onnxFile)).encode(ref.prompt)).toEqual(ref.input_ids);
    expect(r.tied.value).toBe(true);
    notebookNumbers(r).residual!.norms.forEach((n, L) => expect(rel(n, ref.norms[L]), `norm ${L}`).toBeLessThan(1e-4));
    for (const m of ["unembedding", "embedding"] as const) {
      for (const [k, v] of Object.entries(ref[m]))
        if (typeof v === "number")
          expect(rel(((notebookNumbers(r) as never)[m] as never)[k], v), `${m}.${k}`).toBeLessThan(1e-4);
    }
    for (const k of ["logit_mean", "logit_std", "logit_max", "logit_min", "entropy", "top10_prob_mass"]) {
      const scale = k === "logit_mean" ? ref.entropy.logit_std : Math.abs(ref.entropy[k]);
      expect(Math.abs((notebookNumbers(r).entropy! as never)[k] - ref.entropy[k]) / scale, k).toBeLessThan(1e-4);
    }
  });
});

describe("a Llama 3 GGUF written by llama.cpp's convert_hf_to_gguf.py (tools/make_gguf_llama3_fixture.py)", () => {
  const dir = path.join(import.meta.dirname, "fixtures", "gguf-llama3");
  const ref = JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8"));
  const converted = (file: string) => {
    const g = openGguf(path.join(dir, file));
    try {
      return ggufModel(g, { float32: true });
    } finally {
      g.close();
    }
  };

  it("divides each rotary pair's frequency by rope_freqs.weight: transformers' llama3 inv_freq, as rope.ts computes it from config.json", () => {
    const { config } = converted("model.gguf");
    const hd = config.d / config.heads;
    const { rope_theta, factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } = ref.rope;
    const fromConfig = llama3(
      rope_theta,
      hd,
      factor,
      low_freq_factor,
      high_freq_factor,
      original_max_position_embeddings,
    );
    expect(config.ropeInvFreq).toHaveLength(ref.inv_freq.length);
    config.ropeInvFreq!.forEach((f, i) => {
      expect(rel(f, ref.inv_freq[i]), `inv_freq[${i}] vs transformers`).toBeLessThan(1e-6);
      expect(rel(f, fromConfig[i]), `inv_freq[${i}] vs rope.ts`).toBeLessThan(1e-6);
    });
    // The scaling is not a no-op at this head dim: one pair kept, one blended, two slowed by the factor.
    expect(ropeInvFreq(rope_theta, hd).map((f, i) => Math.round((10 * f) / ref.inv_freq[i]) / 10)).toEqual([
      1, 3.6, 8, 8,
    ]);
  });

  it("tokenizes as transformers' AutoTokenizer does on the checkpoint it was converted from (llama-bpe: ASCII, contractions, accents, digit runs, whitespace, emoji)", () => {
    const tokDir = tmpDir("gguf-llama3-tok-");
    const { tokenizer, tokenizerConfig } = converted("model.gguf");
    fs.writeFileSync(path.join(tokDir, "tokenizer.json"), JSON.stringify(tokenizer));
    fs.writeFileSync(path.join(tokDir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
    const tok = loadTokenizer(tokDir);
    for (const { prompt, ids } of ref.tokenized) expect(tok.encode(prompt), JSON.stringify(prompt)).toEqual(ids);
  });

  it("probes the float32 file within 1e-4 of transformers' forward of that checkpoint: residual norms and last-position logits", async () => {
    const run = await probeEntries({ llama3: { gguf: path.join(dir, "model.gguf") } }, [ref.prompt]);
    const r = run.results[0];
    expect(r.tied.value).toBe(true);
    const seed = notebookNumbers(r);
    seed.residual!.norms.forEach((n, L) => expect(rel(n, ref.norms[L]), `norm ${L}`).toBeLessThan(1e-4));
    for (const k of ["logit_mean", "logit_std", "logit_max", "logit_min", "entropy", "top10_prob_mass"]) {
      const scale = k === "logit_mean" ? ref.entropy.logit_std : Math.abs(ref.entropy[k]);
      expect(Math.abs((seed.entropy as never)[k] - ref.entropy[k]) / scale, k).toBeLessThan(1e-4);
    }
    // Every last-position logit, from the converted graph itself.
    const onnxDir = path.dirname(r.provenance.onnxFile);
    expect(loadTokenizer(onnxDir).encode(ref.prompt)).toEqual(ref.input_ids);
    expect(relErr(await lastTokenLogits(r.provenance.onnxFile, ref.input_ids), ref.logits_last_token)).toBeLessThan(
      1e-4,
    );
  });

  it('splits a "gpt-2" file as GPT-2\'s own tokenizer.json does (ByteLevel with its regex), where llama-bpe splits otherwise', () => {
    const spec = withKey(readSpec(path.join(dir, "model.gguf")), "tokenizer.ggml.pre", "gpt-2");
    const g = openGguf(writeGguf(path.join(tmpDir("gguf-gpt2-pre-"), "gpt2.gguf"), spec));
    let ours: Record<string, unknown>, config: object;
    try {
      ({ tokenizer: ours, tokenizerConfig: config } = ggufModel(g, { float32: true }) as never);
    } finally {
      g.close();
    }
    const load = (json: object) => {
      const d = tmpDir("gguf-gpt2-tok-");
      fs.writeFileSync(path.join(d, "tokenizer.json"), JSON.stringify(json));
      fs.writeFileSync(path.join(d, "tokenizer_config.json"), JSON.stringify(config));
      return loadTokenizer(d);
    };
    const gpt2 = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
    const [a, b] = [load(ours), load({ ...ours, pre_tokenizer: gpt2 })];
    const llamaBpe = ref.tokenized.map((t: { ids: number[] }) => t.ids.slice(1));
    const differs = ref.tokenized.filter(({ prompt }: { prompt: string }, i: number) => {
      expect(a.encode(prompt), JSON.stringify(prompt)).toEqual(b.encode(prompt));
      return a.encode(prompt).join() !== llamaBpe[i].join();
    });
    expect(differs.length).toBeGreaterThan(0);
  });

  it("refuses a tokenizer.ggml.pre it does not know in one line naming the model, the file and the value", async () => {
    const file = writeGguf(
      path.join(tmpDir("gguf-llama3-pre-"), "klingon.gguf"),
      withKey(readSpec(path.join(dir, "model.gguf")), "tokenizer.ggml.pre", "klingon-bpe"),
    );
    const g = openGguf(file);
    try {
      expect(() => ggufModel(g)).toThrow(
        /^.*klingon\.gguf: model "probespec tiny llama3" has tokenizer\.ggml\.pre "klingon-bpe", a pre-tokenizer probespec does not know \([^\n]*\)[^\n]*$/,
      );
    } finally {
      g.close();
    }
  });
});
