/**
 * GGUFs of architectures beyond llama, each written by llama.cpp's own convert_hf_to_gguf.py from a transformers
 * checkpoint (tools/make_gguf_archs_fixture.py): the probe's numbers on each file against transformers' forward of
 * the checkpoint it came from (the same weights), its tokenizer against the checkpoint's own, and every block-format
 * path (fused rows, per-head regrouping, transposed Conv1D, Gemma's norms) against the float32 conversion of the
 * same Q8_0 blocks.
 */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { GGUF_ARCHITECTURES } from "../models/architectures/table.js";
import { buildGguf } from "../models/gguf/build.js";
import { ggufModel } from "../models/gguf/convert.js";
import { openGguf } from "../models/gguf/reader.js";
import { readModel } from "../onnx/io.js";
import { loadTokenizer } from "../probes/tokenizer.js";
import type { ProbeResult } from "../probes/probe.js";
import { notebookNumbers } from "../reports/results.js";
import { readSpec, withKey, writeGguf, type GgufSpec, type GgufTensor } from "./gguf-writer.js";
import { lastTokenLogits, probeEntries, rel, relErr, TEST_CACHE, tmpDir } from "./helpers.js";

const DIR = path.join(import.meta.dirname, "fixtures", "gguf-archs");
const REF = JSON.parse(fs.readFileSync(path.join(DIR, "reference.json"), "utf8"));

/** Each file, and what of its architecture's record its numbers hold to. */
const FILES: [string, string][] = [
  ["qwen2", "q/k/v biases, untied, q and k rows as stored (no rotary permutation)"],
  ["qwen2-q8_0", "llama.cpp's --outtype q8_0, run as MatMulNBits codes, against transformers' own GGUF loader"],
  ["qwen3", "q_norm and k_norm, head_dim 32 from key_length where d / heads is 16"],
  ["gemma", "norms stored as 1 + w, head_dim from key_length, a GQA of one key-value head, tied"],
  ["gemma2", "Gemma's norms, sandwich norms, soft-capping and an alternating window from the metadata"],
  [
    "gemma3_text",
    "QK-norm per head stored as 1 + w, sandwich norms, every 6th layer full and the sliding ones at base 10000 unscaled (llama.cpp's assumptions), the full ones' linear scaling",
  ],
  ["olmo2", "norms after each branch and none before, QK-norm over the whole projection, rows as stored"],
  ["phi3", "fused qkv_proj and gate_up_proj, half of each head rotated (rope.dimension_count), a window of 64"],
  ["gpt_neox", "query_key_value regrouped per head, LayerNorms with biases, a quarter of each head rotated"],
  ["gpt2", "Conv1D weights stored transposed, learned positions, tied"],
  ["phi", "one LayerNorm feeding both branches, biases on every projection and output.bias, half of each head rotated"],
  [
    "stablelm",
    "LayerNorms, q/k/v biases from the tensors, a quarter of each head rotated, sequential (ffn_norm present)",
  ],
  ["stablelm-q8_0", "llama.cpp's --outtype q8_0, run as MatMulNBits codes, against transformers' own GGUF loader"],
  [
    "stablelm-parallel",
    "parallel where ffn_norm is absent, each head's own q and k LayerNorm split from the stacked attn_q_norm / attn_k_norm",
  ],
];

/** The probe's numbers of `r` within 1e-4 of the reference, and every last-position logit from its own graph. */
async function holds(r: ProbeResult, ref: Record<string, any>) {
  const seed = notebookNumbers(r);
  seed.residual!.norms.forEach((n, L) => expect(rel(n, ref.norms[L]), `norm ${L}`).toBeLessThan(1e-4));
  for (const k of ["logit_mean", "logit_std", "logit_max", "logit_min", "entropy", "top10_prob_mass"]) {
    const scale = k === "logit_mean" ? ref.entropy.logit_std : Math.abs(ref.entropy[k]);
    expect(Math.abs((seed.entropy as never)[k] - ref.entropy[k]) / scale, k).toBeLessThan(1e-4);
  }
  expect(loadTokenizer(path.dirname(r.provenance.onnxFile)).encode(ref.prompt)).toEqual(ref.input_ids);
  expect(relErr(await lastTokenLogits(r.provenance.onnxFile, ref.input_ids), ref.logits_last_token)).toBeLessThan(1e-4);
}

/** The tokenizer files a GGUF converts to, written into `dir`, for the probe's own tokenizer loader to read. */
function tokenizerFolder(file: string, dir: string): string {
  const g = openGguf(file);
  try {
    const { tokenizer, tokenizerConfig } = ggufModel(g, { float32: true });
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
  } finally {
    g.close();
  }
  return dir;
}

describe("GGUFs written by llama.cpp's convert_hf_to_gguf.py, probed within 1e-4 of transformers' forward of the checkpoint converted from", () => {
  const results = new Map<string, ProbeResult>();
  beforeAll(async () => {
    const run = await probeEntries(
      // The Q8_0 file as its codes, where the machine would run a model this small as float32.
      FILES.map(([id]) => ({
        id,
        family: id,
        source: { gguf: path.join(DIR, `${id}.gguf`), ...(id.endsWith("q8_0") ? { weights: "codes" } : {}) },
      })),
      {},
      [REF.qwen2.prompt],
    );
    expect(run.failures).toEqual([]);
    for (const r of run.results) results.set(r.id, r);
  }, 600_000);

  for (const [id, what] of FILES)
    it(`${id} (${what}): per-layer residual norms, last-position logit statistics and every logit`, async () => {
      const r = results.get(id)!;
      await holds(r, REF[id]);
      const nodes = readModel(r.provenance.onnxFile).proto.graph!.node.map((n) => n.opType);
      expect(nodes.includes("MatMulNBits"), "block formats kept as codes").toBe(id.endsWith("q8_0"));
    });

  for (const [id] of FILES.filter(([id]) => REF[id].tokenized))
    it(`${id}: the GGUF's tokenizer gives the ids transformers' AutoTokenizer gives on the checkpoint's tokenizer.json`, () => {
      const tok = loadTokenizer(tokenizerFolder(path.join(DIR, `${id}.gguf`), tmpDir("gguf-archs-tok-")));
      for (const { prompt, ids } of REF[id].tokenized) expect(tok.encode(prompt), JSON.stringify(prompt)).toEqual(ids);
    });
});

/** A Q8_0 block's scale as a power of two (exact in float16), its codes round(x / scale). */
function q8_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    const block = x.subarray(b * 32, b * 32 + 32);
    const amax = block.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
    const e = Math.ceil(Math.log2(amax / 127));
    new DataView(out.buffer).setUint16(b * 34, (e + 15) << 10, true);
    block.forEach((v, i) => (out[b * 34 + 2 + i] = Math.round(v / 2 ** e) & 255));
  }
  return out;
}

describe("every architecture's matrices in Q8_0, kept as MatMulNBits codes", () => {
  const F32 = 0,
    Q8_0 = 8;
  for (const [id] of FILES.filter(([id]) => !id.endsWith("q8_0")))
    it(`${id}: every measure within 1e-5 of the float32-dequantised conversion of the same blocks`, async () => {
      // The converter's own f32 file with its matrices (not the learned positions, which llama.cpp keeps float32, nor a
      // norm, which its converter keeps float32 however many dimensions: StableLM's stacked per-head norms) in Q8_0.
      const spec = readSpec(path.join(DIR, `${id}.gguf`));
      const quantized = (t: GgufTensor): GgufTensor =>
        t.type === F32 && t.dims.length === 2 && t.name !== "position_embd.weight" && !t.name.endsWith("_norm.weight")
          ? { ...t, type: Q8_0, data: q8_0(new Float32Array(t.data.slice().buffer)) }
          : t;
      const file = writeGguf(path.join(tmpDir("gguf-archs-q8-"), `${id}.gguf`), {
        ...spec,
        tensors: spec.tensors.map(quantized),
      });
      const coded = await buildGguf([file], TEST_CACHE);
      const float = await buildGguf([file], TEST_CACHE, { float32: true });
      const ops = (dir: string) => readModel(path.join(dir, "model.onnx")).proto.graph!.node.map((n) => n.opType);
      expect(ops(coded)).toContain("MatMulNBits");
      expect(ops(coded)).toContain("GatherBlockQuantized");
      expect(ops(float)).not.toContain("MatMulNBits");
      const run = await probeEntries(
        [
          { id: "coded", family: id, source: { dir: coded } },
          { id: "float", family: id, source: { dir: float } },
        ],
        {},
        [REF[id].prompt, "The quick brown fox jumps over the lazy dog."],
      );
      expect(run.failures).toEqual([]);
      const [a, b] = ["coded", "float"].map((k) => notebookNumbers(run.results.find((r) => r.id === k)!));
      a.residual!.norms.forEach((n, L) => expect(rel(n, b.residual!.norms[L]), `norm ${L}`).toBeLessThan(1e-5));
      for (const k of ["logit_std", "logit_max", "logit_min", "entropy"] as const)
        expect(rel((a.entropy as never)[k], (b.entropy as never)[k]), k).toBeLessThan(1e-5);
      // And the blocks are the weights: the float32 conversion is still the model, within Q8_0's rounding.
      expect(rel(b.residual!.norms.at(-1)!, REF[id].norms.at(-1))).toBeLessThan(2e-2);
    });
});

describe("what an architecture's record does not hold is refused by name", () => {
  const edited = (id: string, name: string, edit: (s: GgufSpec) => GgufSpec) =>
    writeGguf(path.join(tmpDir("gguf-archs-bad-"), `${name}.gguf`), edit(readSpec(path.join(DIR, `${id}.gguf`))));
  const refusal = (file: string) => {
    const g = openGguf(file);
    try {
      ggufModel(g);
    } catch (e) {
      return (e as Error).message;
    } finally {
      g.close();
    }
    return "converted";
  };
  const extra = (s: GgufSpec, name: string, dims: number[]): GgufSpec => ({
    ...s,
    tensors: [...s.tensors, { name, dims, type: 0, data: new Uint8Array(4 * dims.reduce((a, b) => a * b, 1)) }],
  });

  it("Phi-3's long-context rope factors, an lm_head beside Gemma's tied embedding, value heads unlike key heads, OLMo 3's window, a Gemma 3 layer pattern, an unknown architecture", () => {
    expect(refusal(edited("phi3", "longrope", (s) => extra(s, "rope_factors_long.weight", [8])))).toMatch(
      /longrope\.gguf: tensor "rope_factors_long\.weight" would not be read by the converter \(no tensor of a phi3 model/,
    );
    expect(refusal(edited("gemma", "head", (s) => extra(s, "output.weight", [64, 512])))).toMatch(
      /head\.gguf: tensor "output\.weight" would not be read by the converter/,
    );
    expect(refusal(edited("qwen2", "values", (s) => withKey(s, "qwen2.attention.value_length", 8)))).toMatch(
      /values\.gguf: attention\.value_length 8 is not the 16 dims of a key head/,
    );
    expect(refusal(edited("olmo2", "olmo3", (s) => withKey(s, "olmo2.attention.sliding_window", 4096)))).toMatch(
      /olmo3\.gguf: metadata "olmo2\.attention\.sliding_window" \(4096\) is not applied: a sliding window is OLMo 3's/,
    );
    expect(
      refusal(edited("gemma3_text", "pattern", (s) => withKey(s, "gemma3.attention.sliding_window_pattern", 4))),
    ).toMatch(/pattern\.gguf: metadata "gemma3\.attention\.sliding_window_pattern" \(4\) is not applied/);
    expect(refusal(edited("gpt2", "falcon", (s) => withKey(s, "general.architecture", "falcon")))).toMatch(
      new RegExp(
        `falcon\\.gguf: architecture "falcon" is not converted \\(probespec converts ${[...GGUF_ARCHITECTURES.keys()].join(", ")}\\)`,
      ),
    );
  });
});

describe("Gemma's sentencepiece vocabulary, as its GGUFs carry it", () => {
  it("reads <pad>, <eos>, <bos>, <unk> at 0-3 and add_space_prefix false from the metadata (the fixtures hold them)", () => {
    for (const id of ["gemma", "gemma2", "gemma3_text"]) {
      const g = openGguf(path.join(DIR, `${id}.gguf`));
      try {
        const key = (k: string) => g.metadata.get(`tokenizer.ggml.${k}`);
        const tokens = key("tokens") as string[];
        expect(tokens.slice(0, 5), id).toEqual(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]);
        // transformers' ids for "Hello, …": BOS 2, then "H" itself, with no ▁ before it.
        expect(REF[id].tokenized[1].ids.slice(0, 2), id).toEqual([2, tokens.indexOf("H")]);
        expect(
          ["padding", "eos", "bos", "unknown"].map((k) => key(`${k}_token_id`)),
          id,
        ).toEqual([0, 1, 2, 3]);
        expect(key("add_space_prefix"), id).toBe(false);
        const { tokenizerConfig } = ggufModel(g, { float32: true });
        expect(tokenizerConfig, id).toMatchObject({ bos_token: "<bos>", eos_token: "<eos>", pad_token: "<pad>" });
      } finally {
        g.close();
      }
    }
  });

  it("prefixes a ▁, adds EOS and leaves BOS out where the metadata says so, as llama-vocab.cpp does", () => {
    const dir = tmpDir("gguf-gemma-flags-");
    const spec = readSpec(path.join(DIR, "gemma.gguf"));
    const edited = [
      ["add_space_prefix", true],
      ["add_eos_token", true],
      ["add_bos_token", false],
    ].reduce((s, [k, v]) => withKey(s, `tokenizer.ggml.${k}`, v), spec);
    tokenizerFolder(writeGguf(path.join(dir, "flags.gguf"), edited), dir);
    const tokens = spec.kv.find(([k]) => k === "tokenizer.ggml.tokens")![1] as string[];
    expect(
      loadTokenizer(dir)
        .encode("Hi there")
        .map((i) => tokens[i]),
    ).toEqual(["▁H", "i", "▁t", "h", "e", "r", "e", "<eos>"]);
  });
});

describe("a Gemma 3 GGUF with no sliding window", () => {
  it("is full attention on every layer at the one RoPE base, as later llama.cpp reads it", () => {
    const spec = readSpec(path.join(DIR, "gemma3_text.gguf"));
    const g = openGguf(
      writeGguf(path.join(tmpDir("gguf-gemma3-full-"), "full.gguf"), {
        ...spec,
        kv: spec.kv.filter(([k]) => k !== "gemma3.attention.sliding_window"),
      }),
    );
    try {
      const { config } = ggufModel(g, { float32: true });
      expect(config.localRope).toBeUndefined();
      expect(config.ropeTheta).toBe(1000000);
    } finally {
      g.close();
    }
  });
});

describe("a llama GGUF with some of a group's biases", () => {
  it("reads the ones it leaves out as zero, as llama.cpp's llama loader does, where transformers' config switches the group on whole", () => {
    const biased = readSpec(path.join(import.meta.dirname, "fixtures", "gguf-llama-bias", "model.gguf"));
    const left = /\.(attn_output|ffn_down)\.bias$/;
    const dir = tmpDir("gguf-bias-groups-");
    const files = {
      without: writeGguf(path.join(dir, "without.gguf"), {
        ...biased,
        tensors: biased.tensors.filter((t) => !left.test(t.name)),
      }),
      zeroed: writeGguf(path.join(dir, "zeroed.gguf"), {
        ...biased,
        tensors: biased.tensors.map((t) => (left.test(t.name) ? { ...t, data: new Uint8Array(t.data.length) } : t)),
      }),
    };
    const [a, b] = Object.values(files).map((f) => {
      const g = openGguf(f);
      try {
        const { weights } = ggufModel(g, { float32: true });
        return weights.layers.map((l) =>
          Object.fromEntries(Object.entries(l).flatMap(([k, v]) => (v instanceof Float32Array ? [[k, [...v]]] : []))),
        );
      } finally {
        g.close();
      }
    });
    expect(a[1].oBias).toEqual(Array(64).fill(0));
    expect(a[0].downBias).toHaveLength(64);
    expect(a).toEqual(b);
  });
});

/** A converted file's config and each layer's weights (read while the file is open), as values or as codes. */
function layersOf(file: string, float32: boolean) {
  const g = openGguf(file);
  try {
    const { config, weights } = ggufModel(g, { float32 });
    const layers = weights.layers.map((l) => ({ ...l }));
    return { config, layers };
  } finally {
    g.close();
  }
}

/** Every 2-D float32 matrix of a spec (no norm) in Q8_0, as the converter's --outtype q8_0 leaves norms float32. */
const inQ8_0 = (s: GgufSpec): GgufSpec => ({
  ...s,
  tensors: s.tensors.map((t) =>
    t.type === 0 && t.dims.length === 2 && !t.name.endsWith("_norm.weight")
      ? { ...t, type: 8, data: q8_0(new Float32Array(t.data.slice().buffer)) }
      : t,
  ),
});

describe("a phi-2 GGUF with q, k and v fused as attn_qkv (converted from phi-2's original checkpoints, mixer.Wqkv)", () => {
  /** Each layer's attn_q, attn_k and attn_v (weights and biases) as one attn_qkv, q's rows, then k's, then v's. */
  const fuse = (s: GgufSpec): GgufSpec => {
    const at = new Map(s.tensors.map((t) => [t.name, t]));
    return {
      ...s,
      tensors: s.tensors.flatMap((t): GgufTensor[] => {
        const m = /^(blk\.\d+)\.attn_([qkv])\.(weight|bias)$/.exec(t.name);
        if (!m) return [t];
        if (m[2] !== "q") return [];
        const parts = ["q", "k", "v"].map((x) => at.get(`${m[1]}.attn_${x}.${m[3]}`)!);
        const data = new Uint8Array(parts.reduce((n, p) => n + p.data.length, 0));
        parts.reduce((o, p) => (data.set(p.data, o), o + p.data.length), 0);
        const outer = parts.reduce((n, p) => n + p.dims[p.dims.length - 1], 0);
        return [{ name: `${m[1]}.attn_qkv.${m[3]}`, type: t.type, dims: [...t.dims.slice(0, -1), outer], data }];
      }),
    };
  };

  it("reads as the separate file's q_proj, k_proj and v_proj, weights and biases, as values and as Q8_0 codes", () => {
    const dir = tmpDir("gguf-phi-qkv-");
    const spec = readSpec(path.join(DIR, "phi.gguf"));
    for (const [form, s] of [
      ["float32", spec],
      ["codes", inQ8_0(spec)],
    ] as const) {
      const fused = fuse(s);
      expect(fused.tensors.map((t) => t.name)).toContain("blk.1.attn_qkv.weight");
      const [a, b] = [s, fused].map((x, i) =>
        layersOf(writeGguf(path.join(dir, `${form}-${i}.gguf`), x), form === "float32").layers.map((l) => ({
          q: l.q,
          k: l.k,
          v: l.v,
          qBias: l.qBias,
          kBias: l.kBias,
          vBias: l.vBias,
        })),
      );
      expect(b, form).toEqual(a);
    }
  });

  it("is refused where it holds attn_qkv beside attn_q, which would leave one of them unread", () => {
    const spec = readSpec(path.join(DIR, "phi.gguf"));
    const both = { ...spec, tensors: [...spec.tensors, ...fuse(spec).tensors.filter((t) => t.name.includes("qkv"))] };
    const g = openGguf(writeGguf(path.join(tmpDir("gguf-phi-both-"), "both.gguf"), both));
    try {
      expect(() => ggufModel(g)).toThrow(
        /both\.gguf: tensors "blk\.0\.attn_q\.(weight|bias)" and "blk\.0\.attn_qkv\.(weight|bias)" both hold transformers' model\.layers\.0\.self_attn\.q_proj\.(weight|bias)/,
      );
    } finally {
      g.close();
    }
  });
});

describe("a StableLM GGUF, read as llama.cpp's stablelm reads it", () => {
  const edited = (id: string, edit: (s: GgufSpec) => GgufSpec) =>
    writeGguf(path.join(tmpDir("gguf-stablelm-"), `${id}.gguf`), edit(readSpec(path.join(DIR, `${id}.gguf`))));

  it("is parallel where its layers have no ffn_norm, whatever its use_parallel_residual key says", () => {
    for (const [id, parallel] of [
      ["stablelm", false],
      ["stablelm-parallel", true],
    ] as const) {
      const file = edited(id, (s) => withKey(s, "stablelm.use_parallel_residual", !parallel));
      expect(layersOf(file, true).config.parallel, id).toBe(parallel);
    }
  });

  it("reads a q/k/v bias the file leaves out as zero, as llama.cpp reads each one where it is", () => {
    const left = /\.attn_k\.bias$/;
    const [a, b] = [
      edited("stablelm", (s) => ({ ...s, tensors: s.tensors.filter((t) => !left.test(t.name)) })),
      edited("stablelm", (s) => ({
        ...s,
        tensors: s.tensors.map((t) => (left.test(t.name) ? { ...t, data: new Uint8Array(t.data.length) } : t)),
      })),
    ].map((f) => layersOf(f, true).layers.map((l) => ({ q: l.qBias, k: l.kBias, v: l.vBias })));
    expect(a[0].k).toEqual(new Float32Array(32));
    expect(a).toEqual(b);
  });
});

describe("a Phi-2 GGUF whose metadata disagrees with its tensors", () => {
  it("is refused naming the tensor, as llama.cpp's loader refuses it (Phi2Model writes feed_forward_length as 4 × n_embd)", () => {
    const spec = readSpec(path.join(DIR, "phi.gguf"));
    const g = openGguf(
      writeGguf(path.join(tmpDir("gguf-phi-ff-"), "ff.gguf"), withKey(spec, "phi2.feed_forward_length", 128)),
    );
    try {
      expect(() => ggufModel(g)).toThrow(
        /ff\.gguf: tensor "blk\.0\.ffn_down\.weight" \(transformers' model\.layers\.0\.mlp\.fc2\.weight\) is \[64,256\], where \[64,128\] is expected/,
      );
    } finally {
      g.close();
    }
  });
});
