import crypto from "node:crypto";
/**
 * HuggingFace checkpoints as researchers keep them (tools/make_checkpoints.py): transformers' own
 * classes saved by save_pretrained, probed from their safetensors with no export step, and held to
 * transformers' own forward on the same files. Broken checkpoints are refused in one line that names
 * the model, the file and what is wrong; the user's folder is never written.
 */
import fs from "node:fs";
import path from "node:path";
import { RegistryError } from "../models/registry/errors.js";
import { describe, expect, it } from "vitest";
import { loadRegistry, PROJECT_ROOT } from "../models/registry/registry.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { selectModels } from "../models/registry/select.js";
import { resolveSource, type SourceSettings } from "../models/registry/sources.js";
import { hfCheckpoint } from "../models/safetensors/convert.js";
import { type ModelConfig, rotaryDim } from "../models/writer/config.js";
import { CHECKPOINT_TYPES } from "../models/architectures/table.js";
import { openCheckpoint } from "../models/safetensors/reader.js";
import { locate } from "../probes/locate.js";
import { point } from "../probes/points.js";
import { readModel } from "../onnx/io.js";
import { probeModel } from "../probes/probe.js";
import { runProbes } from "../probes/run.js";
import { rel, tmpDir } from "./helpers.js";

const ROOT = process.env.PROBESPEC_CHECKPOINTS ?? path.join(PROJECT_ROOT, ".probespec-cache", "checkpoints");
const MISSING = fs.existsSync(path.join(ROOT, "COMPLETE"))
  ? undefined
  : `skipped: the checkpoints are generated into ${ROOT} by tools/make_checkpoints.sh, which needs the venv tools/make_exports.sh builds from pip's local wheel mirror`;

interface Reference {
  model_type: string;
  dtype: string;
  layout: string;
  prompt: string;
  hub?: string;
  norms: number[];
  entropy: Record<string, number>;
  inv_freq: number[];
  /** The sliding layers' frequencies, where they have their own (Gemma 3's rope_local_base_freq). */
  inv_freq_local?: number[];
  /** A mixture of experts' ‖output‖ / ‖input‖ per layer, whole tensors: the probe's mlp.gain. */
  mlp_gain?: number[];
}
const REFS: [string, Reference][] = MISSING
  ? []
  : fs
      .readdirSync(ROOT)
      .filter((f) => f.endsWith(".reference.json"))
      .map((f) => [f.replace(/\.reference\.json$/, ""), JSON.parse(fs.readFileSync(path.join(ROOT, f), "utf8"))]);

const settings = (cacheDir = tmpDir("probespec-ck-cache-")): SourceSettings => ({
  modelsRoot: ROOT,
  hubCache: path.join(ROOT, "hub"),
  offline: true,
  cacheDir,
});

const entry = (id: string, source: object, family = "llama") => ModelEntrySchema.parse({ id, family, source });

/** Every file under a folder, as lstat sees it (links not followed): what a write would change. */
function listing(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .sort()
    .map((f) => {
      const st = fs.lstatSync(path.join(dir, f));
      return `${f} ${st.size} ${st.mtimeMs} ${st.mode}`;
    });
}

/** The largest relative error each reference quantity showed, reported at the end of the run. */
const measured: Record<string, number> = {};

describe(`HF checkpoints probed with transformers' numbers${MISSING ? ` — ${MISSING}` : ""}`, () => {
  for (const [name, ref] of REFS) {
    it(`${name}: a ${ref.dtype} ${ref.model_type} checkpoint (${ref.layout}) matches transformers' forward within 1e-5, its folder untouched`, async () => {
      const source = ref.hub ? { hub: ref.hub } : { dir: name };
      const e = entry(name, source, ref.model_type === "gpt_neox" ? "pythia" : ref.model_type);
      if (!ref.hub) {
        // The rotary frequencies are transformers' own, rope scaling (Apertus' llama3) included.
        const ours = hfCheckpoint(openCheckpoint(path.join(ROOT, name))).config;
        const invFreq =
          ours.ropeInvFreq ??
          ref.inv_freq.map(
            (_, i) => Math.pow(ours.ropeTheta, (-2 * i) / (2 * ref.inv_freq.length)) / (ours.ropeScale ?? 1),
          );
        invFreq.forEach((f, i) => expect(rel(f, ref.inv_freq[i]), `inv_freq[${i}]`).toBeLessThan(1e-6));
        // Gemma 3's sliding layers, by their own base.
        expect(!!ours.localRope).toBe(!!ref.inv_freq_local);
        ref.inv_freq_local?.forEach((f, i) =>
          expect(rel(localInvFreq(ours)[i], f), `inv_freq_local[${i}]`).toBeLessThan(1e-6),
        );
      }
      const user = ref.hub ? path.join(ROOT, "hub") : path.join(ROOT, name);
      const before = listing(user);
      const s = settings();
      const dir = await resolveSource(e, s);
      expect(dir.startsWith(s.cacheDir)).toBe(true);
      const r = await probeModel(e, dir, [ref.prompt], { device: "cpu" });
      // The locator finds every probe point of the written graph by dataflow, attention patterns included.
      expect(r.provenance.unavailable).toEqual([]);
      const norms = (r.measures["resid.norm"] as { perPrompt: number[][] }).perPrompt[0];
      expect(norms.length).toBe(ref.norms.length);
      norms.forEach((n, L) => {
        const err = rel(n, ref.norms[L]);
        measured[`${name} norm`] = Math.max(measured[`${name} norm`] ?? 0, err);
        expect(err, `resid_post.${L} norm`).toBeLessThan(1e-5);
      });
      const stats = (r.measures["logits.stats"] as { perPrompt: Record<string, number>[] }).perPrompt[0];
      for (const k of ["logit_mean", "logit_std", "logit_max", "logit_min", "entropy", "top10_prob_mass"]) {
        // The mean of centred logits is near 0: it is held relative to their spread.
        const scale = k === "logit_mean" ? ref.entropy.logit_std : ref.entropy[k];
        const err = Math.abs(stats[k] - ref.entropy[k]) / Math.abs(scale);
        measured[`${name} logits`] = Math.max(measured[`${name} logits`] ?? 0, err);
        expect(err, `logits.stats ${k}`).toBeLessThan(1e-5);
      }
      // A mixture of experts is located as one MLP branch: mlp_in its input, mlp_out its whole output.
      if (ref.mlp_gain) {
        const gains = (r.measures["mlp.gain"] as { perPrompt: number[][] }).perPrompt[0];
        expect(gains.length).toBe(ref.mlp_gain.length);
        gains.forEach((g, L) => {
          const err = rel(g, ref.mlp_gain![L]);
          measured[`${name} mlp gain`] = Math.max(measured[`${name} mlp gain`] ?? 0, err);
          expect(err, `mlp.gain layer ${L}`).toBeLessThan(1e-5);
        });
      }
      // A sliding window shorter than the context caps the context: within it the window masks nothing.
      if (["mistral", "phi3", "gemma2", "gemma3_text", "mixtral"].includes(ref.model_type)) {
        const [theirs, ours] = [path.join(user, "config.json"), path.join(dir, "config.json")].map((f) =>
          JSON.parse(fs.readFileSync(f, "utf8")),
        );
        expect(ours.max_position_embeddings).toBe(Math.min(theirs.sliding_window, theirs.max_position_embeddings));
      }
      // A 16-bit checkpoint's matrices stay 16-bit, and its logits are held to the float32 forward of the same weights.
      const w = r.provenance.weights;
      if (ref.dtype === "float32") expect(w).toBeUndefined();
      else {
        const form = ref.dtype === "bfloat16" ? "bf16" : "fp16";
        expect(w?.form).toMatch(
          new RegExp(
            `^${form} weights kept at 16 bits \\(\\d+ matrices, [\\d.]+ GB\\), cast to float32 per operation$`,
          ),
        );
        const err = w!.logitError;
        expect("relative" in err && err.tokens).toBeGreaterThan(0);
        measured[`${name} logits vs float32`] = "relative" in err ? err.relative : NaN;
        expect("relative" in err ? err.relative : NaN, "max |logit − float32's| / max |logit|").toBeLessThan(1e-5);
        if (!ref.hub) {
          // Read in place: the folder links to the checkpoint's own files and copies none of its matrices, only
          // the float32 vectors (each placed on a 4096-byte boundary), GPT-NeoX's query_key_value, cut per head,
          // and GPT-2's Conv1D weights, turned to [out, in].
          const ck = openCheckpoint(user);
          const links = fs.readdirSync(dir).filter((f) => fs.lstatSync(path.join(dir, f)).isSymbolicLink());
          expect(links.map((l) => fs.realpathSync(path.join(dir, l))).sort()).toEqual(
            ck.files.map((f) => fs.realpathSync(f)).sort(),
          );
          const rewritten = /\.(query_key_value|c_attn|c_proj|c_fc)\.weight$/;
          const vectors = [...ck.tensors.values()]
            .filter((t) => t.shape.length !== 2 || rewritten.test(t.name))
            .reduce((n, t) => n + (t.shape.length === 2 ? 2 : 4) * t.shape.reduce((a, b) => a * b, 1) + 4096, 0);
          expect(fs.statSync(path.join(dir, "model.onnx_data")).size).toBeLessThanOrEqual(vectors);
        }
      }
      expect(listing(user)).toEqual(before);
      // Converted once: the same content is the same cached folder.
      expect(await resolveSource(e, s)).toBe(dir);
    });
  }
  it.skipIf(!!MISSING)("covers every model type, float16 and bfloat16, a sharded index and a hub cache", () => {
    const refs = REFS.map(([, r]) => r);
    for (const t of CHECKPOINT_TYPES) expect(refs.map((r) => r.model_type)).toContain(t);
    for (const d of ["float32", "float16", "bfloat16"]) expect(refs.map((r) => r.dtype)).toContain(d);
    for (const l of ["sharded", "hub", "base", "fused"]) expect(refs.map((r) => r.layout)).toContain(l);
    if (process.env.PROBESPEC_VERBOSE) console.log(JSON.stringify(measured, null, 1));
  });
});

describe.skipIf(!!MISSING)("a checkpoint added as one config entry", () => {
  it("probes a qwen2 folder (dir) and the gemma hub snapshot (hub, read from HF_HUB_CACHE) through the registry, with no code change and no export step", async () => {
    const models = tmpDir("probespec-ck-entries-");
    const entries = { "qwen2-dir": { dir: path.join(ROOT, "qwen2") }, "gemma-hub": { hub: "probespec-tiny/gemma" } };
    for (const [id, source] of Object.entries(entries))
      fs.writeFileSync(path.join(models, `${id}.json`), JSON.stringify({ id, family: "other", source }));
    const run = await runProbes({
      env: {
        ...process.env,
        PROBESPEC_MODELS_DIR: models,
        PROBESPEC_MODELS: Object.keys(entries).join(","),
        PROBESPEC_CACHE_DIR: tmpDir(),
        PROBESPEC_DEVICE: "cpu",
        PROBESPEC_OFFLINE: "1",
        HF_HUB_CACHE: path.join(ROOT, "hub"),
      },
      promptSet: { name: "one", file: "-", prompts: ["The capital of France is"] },
    });
    expect(run.failures).toEqual([]);
    for (const [id, name] of [
      ["qwen2-dir", "qwen2"],
      ["gemma-hub", "gemma-hub"],
    ]) {
      const ref = REFS.find(([n]) => n === name)![1];
      const r = run.results.find((x) => x.id === id)!;
      const norms = (r.measures["resid.norm"] as { perPrompt: number[][] }).perPrompt[0];
      norms.forEach((n, L) => expect(rel(n, ref.norms[L]), `${id} norm ${L}`).toBeLessThan(1e-5));
    }
  });
});

describe.skipIf(!!MISSING)("an Apertus config.json without rope parameters", () => {
  it("gets ApertusConfig's llama3 defaults, a lone rope_theta ignored as transformers ignores it", () => {
    const dir = copy("apertus");
    editJson(path.join(dir, "config.json"), (c) => {
      delete c.rope_parameters;
      c.rope_theta = 500000;
    });
    const ref = REFS.find(([n]) => n === "apertus")![1];
    const ours = hfCheckpoint(openCheckpoint(dir)).config.ropeInvFreq!;
    expect(ours.length).toBe(ref.inv_freq.length);
    ours.forEach((f, i) => expect(rel(f, ref.inv_freq[i]), `inv_freq[${i}]`).toBeLessThan(1e-6));
  });
});

/** The sliding layers' rotary frequencies of a converted Gemma 3, as the writer computes them. */
function localInvFreq(c: ModelConfig): number[] {
  const r = c.localRope!;
  const pairs = rotaryDim(c) / 2;
  return r.invFreq ?? Array.from({ length: pairs }, (_, i) => Math.pow(r.theta, -i / pairs) / (r.scale ?? 1));
}

describe.skipIf(!!MISSING)("a Gemma 3 config.json as the hub's older ones are written", () => {
  it("reads rope_theta with rope_scaling for the full layers, rope_local_base_freq for the sliding ones, and the layers from sliding_window_pattern, as Gemma3TextConfig does", () => {
    const dir = copy("gemma3_text");
    editJson(path.join(dir, "config.json"), (c) => {
      const { full_attention: full, sliding_attention: sliding } = c.rope_parameters;
      delete c.rope_parameters;
      delete c.layer_types;
      Object.assign(c, {
        rope_theta: full.rope_theta,
        rope_scaling: { rope_type: full.rope_type, factor: full.factor },
        rope_local_base_freq: sliding.rope_theta,
        sliding_window_pattern: 2,
      });
    });
    const ref = REFS.find(([n]) => n === "gemma3_text")![1];
    const { config } = hfCheckpoint(openCheckpoint(dir));
    expect(config.localRope?.layers).toEqual([0, 2]);
    expect(config.ropeScale).toBe(4);
    ref.inv_freq.forEach((f, i) =>
      expect(rel(Math.pow(config.ropeTheta, -i / ref.inv_freq.length) / 4, f), `inv_freq[${i}]`).toBeLessThan(1e-6),
    );
    ref.inv_freq_local!.forEach((f, i) =>
      expect(rel(localInvFreq(config)[i], f), `inv_freq_local[${i}]`).toBeLessThan(1e-6),
    );
  });

  it("takes Gemma3TextConfig's defaults where it says nothing: every 6th layer full, bases 1e6 and 10000", () => {
    const dir = copy("gemma3_text");
    editJson(path.join(dir, "config.json"), (c) => {
      delete c.rope_parameters;
      delete c.layer_types;
    });
    const { config } = hfCheckpoint(openCheckpoint(dir));
    // Three layers, none the 6th: all slide, and no layer rotates by rope_theta's frequencies.
    expect(config.localRope).toEqual({ layers: [0, 1, 2], theta: 10000 });
    expect(config.ropeTheta).toBe(1000000);
  });
});

describe.skipIf(!!MISSING)("OLMo 2's probe points, with a norm on each branch's output and none before either", () => {
  it("puts attn_out and mlp_out after the norms (what is added to the stream), and mlp_in on resid_mid, the MLP's input as it is", async () => {
    const dir = await resolveSource(entry("olmo2", { dir: "olmo2" }), settings());
    const { points, layers } = locate(readModel(path.join(dir, "model.onnx")).proto);
    expect(layers).toBe(2);
    const after = (norm: string) => ({ tensor: expect.stringMatching(new RegExp(`^/model/layers\\.\\d/${norm}/`)) });
    for (let L = 0; L < layers; L++) {
      expect(points.get(point("mlp_in", L))).toEqual(points.get(point("resid_mid", L)));
      expect(points.get(point("attn_out", L))).toEqual(after("post_attention_layernorm"));
      expect(points.get(point("mlp_out", L))).toEqual(after("post_feedforward_layernorm"));
    }
  });
});

describe.skipIf(!!MISSING)("a Mixtral config.json without rope parameters or rope_theta", () => {
  it("gets MixtralConfig's default_theta, 1e6, as transformers does", () => {
    const dir = copy("mixtral");
    editJson(path.join(dir, "config.json"), (c) => delete c.rope_parameters);
    expect(hfCheckpoint(openCheckpoint(dir)).config.ropeTheta).toBe(1e6);
  });
});

describe.skipIf(!!MISSING)("a GPT-NeoX config.json without rope parameters or rotary_pct", () => {
  it("rotates GPTNeoXConfig's default quarter of the head, as transformers does", () => {
    const dir = copy("gpt_neox");
    editJson(path.join(dir, "config.json"), (c) => {
      delete c.rope_parameters;
      delete c.rotary_pct;
    });
    // transformers' inv_freq has one entry per rotated pair: the reference was made with factor 0.25 spelled out.
    const ref = REFS.find(([n]) => n === "gpt_neox")![1];
    const { config } = hfCheckpoint(openCheckpoint(dir));
    expect(rotaryDim(config)).toBe(2 * ref.inv_freq.length);
  });
});

describe.skipIf(!!MISSING)("a Phi or StableLM config.json without partial_rotary_factor", () => {
  it("rotates its config class's default: half of the head for Phi, a quarter for StableLM, as transformers does", () => {
    for (const [name, fraction] of [
      ["phi", 0.5],
      ["stablelm", 0.25],
    ] as const) {
      const dir = copy(name);
      // save_pretrained writes it twice: at the top level and in rope_parameters.
      editJson(path.join(dir, "config.json"), (c) => {
        delete c.partial_rotary_factor;
        delete c.rope_parameters.partial_rotary_factor;
      });
      // The references were made with the defaults spelled out: transformers' inv_freq has one entry per rotated pair.
      const ref = REFS.find(([n]) => n === name)![1];
      const { config } = hfCheckpoint(openCheckpoint(dir));
      expect(config.rotaryPct, name).toBe(fraction);
      expect(rotaryDim(config), name).toBe(2 * ref.inv_freq.length);
    }
  });
});

describe.skipIf(!!MISSING)("a 16-bit checkpoint read in place", () => {
  it("has a folder of its own at each path, made again when its file is rewritten in place", async () => {
    const [a, b] = [copy("llama-bf16"), copy("llama-bf16")];
    const s = settings();
    const [da, db] = [await resolveSource(entry("a", { dir: a }), s), await resolveSource(entry("b", { dir: b }), s)];
    // The same content at two paths: each folder links to its own files.
    expect(da).not.toBe(db);
    expect(fs.realpathSync(path.join(db, "in-place-0.safetensors"))).toBe(
      fs.realpathSync(path.join(b, "model.safetensors")),
    );
    // Rewritten with the same bytes (a new mtime): the folder is not trusted, and made again at the same key.
    const manifest = () => fs.readFileSync(path.join(da, ".probespec-manifest.json"), "utf8");
    const before = manifest();
    const later = new Date(Date.now() + 10_000);
    fs.utimesSync(path.join(a, "model.safetensors"), later, later);
    expect(await resolveSource(entry("a", { dir: a }), s)).toBe(da);
    expect(manifest()).not.toBe(before);
  });
});

describe.skipIf(!!MISSING)("a checkpoint too big for the machine", () => {
  it("is skipped before it is converted, saying what its session would hold", async () => {
    const e = entry("big", { dir: "llama" });
    const s = { ...settings(), deviceMemoryGb: 1e-6 };
    const sel = await selectModels({ entries: [e], files: new Map(), problems: [] }, s, { device: "cpu" });
    expect(sel.selected).toEqual([]);
    expect(sel.skipped.map((x) => x.reason)).toEqual([
      expect.stringMatching(
        /^needs 0\.0 GB \(0\.0 GB of weights read as stored, 0\.0 GB of ONNX Runtime's prepacked copies, 0\.0 GB of per-run float32 casts and 0\.0 GB of activations\); the machine has 0\.0 GB free$/,
      ),
    ]);
    expect(fs.readdirSync(s.cacheDir)).toEqual([]);
    // Asked for by name, it is unloadable, not skipped.
    const wanted = await selectModels({ entries: [e], files: new Map(), problems: [] }, s, { wanted: ["big"] });
    expect(wanted.unloadable.map((u) => u.error.message)).toEqual([expect.stringMatching(/^model "big": needs /)]);
  });
});

describe.skipIf(!!MISSING)("an entry's dtype on a checkpoint", () => {
  it("refuses a dtype naming an ONNX variant the conversion will not have", async () => {
    const e = ModelEntrySchema.parse({ id: "bf16", family: "llama", dtype: "bf16", source: { dir: "llama-bf16" } });
    await expect(resolveSource(e, settings())).rejects.toThrow(
      /^model "bf16": .*llama-bf16 is a HuggingFace checkpoint, converted to one graph that computes in float32 \(float16 and bfloat16 matrices kept at 16 bits\), and "dtype": "bf16" names an ONNX variant it will not have; leave "dtype" out$/,
    );
  });
});

/** A copy of a fixture checkpoint to break. */
function copy(name: string): string {
  const dir = path.join(tmpDir("probespec-ck-bad-"), name);
  fs.cpSync(path.join(ROOT, name), dir, { recursive: true });
  return dir;
}

/** A safetensors file's header rewritten by `edit`, its data kept as it was. */
function editHeader(file: string, edit: (h: Record<string, any>) => void): void {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  edit(header);
  const text = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  fs.writeFileSync(file, Buffer.concat([len, text, buf.subarray(8 + n)]));
}

const editJson = (file: string, edit: (j: Record<string, any>) => void) => {
  const j = JSON.parse(fs.readFileSync(file, "utf8"));
  edit(j);
  fs.writeFileSync(file, JSON.stringify(j));
};

describe.skipIf(!!MISSING)(
  "a broken checkpoint is refused in one line naming the model, the file and the problem",
  () => {
    const cases: [string, string, (dir: string) => void, RegExp][] = [
      [
        "a missing shard",
        "mistral-sharded",
        (d) => fs.rmSync(path.join(d, "model-00002-of-00006.safetensors")),
        /model\.safetensors\.index\.json: names shard model-00002-of-00006\.safetensors, which is not in .*; the download is incomplete/,
      ],
      [
        "an index naming a tensor its shard does not hold",
        "mistral-sharded",
        (d) =>
          editJson(path.join(d, "model.safetensors.index.json"), (j) => {
            j.weight_map["model.layers.0.mlp.up_proj.weight"] = "model-00001-of-00006.safetensors";
          }),
        /model\.safetensors\.index\.json: puts tensor "model\.layers\.0\.mlp\.up_proj\.weight" in model-00001-of-00006\.safetensors, which does not hold it \(model-0000\d-of-00006\.safetensors does\)/,
      ],
      [
        "a truncated header",
        "llama",
        (d) => fs.writeFileSync(path.join(d, "model.safetensors"), Buffer.from([1, 2, 3, 4, 5])),
        /model\.safetensors: is 5 bytes, shorter than the 8-byte header length; the file is truncated/,
      ],
      [
        "truncated data",
        "llama",
        (d) => {
          const f = path.join(d, "model.safetensors");
          fs.truncateSync(f, fs.statSync(f).size - 100);
        },
        /model\.safetensors: its tensors need \d+ bytes of data and the file holds \d+; the file is truncated/,
      ],
      [
        "a header longer than the file",
        "llama",
        (d) => {
          const f = path.join(d, "model.safetensors");
          const b = fs.readFileSync(f);
          b.writeBigUInt64LE(BigInt(b.length));
          fs.writeFileSync(f, b);
        },
        /model\.safetensors: header length \d+ runs past the end of the file \(\d+ bytes\)/,
      ],
      [
        "overlapping offsets",
        "llama",
        (d) =>
          editHeader(path.join(d, "model.safetensors"), (h) => {
            const [a, b] = Object.keys(h).filter((k) => k.endsWith("layernorm.weight"));
            h[b].data_offsets = h[a].data_offsets;
          }),
        /model\.safetensors: tensor ".*" overlaps the tensor before it/,
      ],
      [
        "a dtype it cannot read (F8)",
        "llama",
        (d) =>
          editHeader(path.join(d, "model.safetensors"), (h) => {
            h["model.layers.0.self_attn.q_proj.weight"].dtype = "F8_E4M3";
          }),
        /model\.safetensors: tensor "model\.layers\.0\.self_attn\.q_proj\.weight" is F8_E4M3, which probespec does not read \(it reads F32, F16, BF16\)/,
      ],
      [
        "a model_type it does not know",
        "llama",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.model_type = "mamba")),
        new RegExp(
          `config\\.json: model_type "mamba" is not converted \\(probespec converts ${CHECKPOINT_TYPES.join(", ")}\\); export the model to ONNX`,
        ),
      ],
      [
        "a rope scaling it does not apply",
        "llama",
        (d) =>
          editJson(path.join(d, "config.json"), (c) => {
            c.rope_parameters = { rope_type: "yarn", rope_theta: 10000, factor: 8 };
          }),
        /config\.json: rope_scaling of type "yarn" is not applied \(probespec applies default, linear, dynamic and llama3 RoPE\)/,
      ],
      [
        "an Apertus activation other than xIELU",
        "apertus",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.hidden_act = "silu")),
        /config\.json: hidden_act "silu" is not applied \(apertus is converted with "xielu"\)/,
      ],
      [
        "a llama3 rope scaling without its frequency factors",
        "apertus",
        (d) => editJson(path.join(d, "config.json"), (c) => delete c.rope_parameters.low_freq_factor),
        /config\.json: llama3 rope "low_freq_factor" is undefined, not a positive number/,
      ],
      [
        "a Gemma 2 activation other than GELU's tanh form (read from hidden_activation)",
        "gemma2",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.hidden_activation = "gelu")),
        /config\.json: hidden_activation "gelu" is not applied \(gemma2 is converted with "gelu_pytorch_tanh"\)/,
      ],
      [
        "a Gemma 3 rope_parameters not keyed by layer type (transformers: KeyError 'full_attention')",
        "gemma3_text",
        (d) =>
          editJson(path.join(d, "config.json"), (c) => (c.rope_parameters = { rope_type: "default", rope_theta: 1e4 })),
        /config\.json: "rope_parameters" is \{"rope_type":"default","rope_theta":10000\}, where gemma3_text needs them keyed by layer type/,
      ],
      [
        "a Gemma 3 rope scaling it does not apply, on the full layers",
        "gemma3_text",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.rope_parameters.full_attention.rope_type = "yarn")),
        /config\.json: full_attention layers: rope_scaling of type "yarn" is not applied/,
      ],
      [
        "a Gemma 3 layer_types shorter than its layers",
        "gemma3_text",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.layer_types = ["sliding_attention", "full_attention"])),
        /config\.json: "layer_types" is \["sliding_attention","full_attention"\], where a list of 3 \(one per layer\)/,
      ],
      [
        "a Gemma 3 sliding_window_pattern of 0 (transformers: division by zero)",
        "gemma3_text",
        (d) =>
          editJson(path.join(d, "config.json"), (c) => {
            delete c.layer_types;
            c.sliding_window_pattern = 0;
          }),
        /config\.json: "sliding_window_pattern" is 0, where a whole number of layers, 1 or more, is needed/,
      ],
      [
        "Phi-3's longrope",
        "phi3",
        (d) =>
          editJson(path.join(d, "config.json"), (c) => {
            c.rope_parameters = { ...c.rope_parameters, rope_type: "longrope", short_factor: [1], long_factor: [1] };
          }),
        /config\.json: rope_scaling of type "longrope" is not applied/,
      ],
      [
        "a GPT-2 activation other than gelu_new (read from activation_function)",
        "gpt2",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.activation_function = "relu")),
        /config\.json: activation_function "relu" is not applied \(gpt2 is converted with "gelu_pytorch_tanh"\)/,
      ],
      [
        "GPT-2's scores scaled by the inverse layer index",
        "gpt2",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.scale_attn_by_inverse_layer_idx = true)),
        /config\.json: "scale_attn_by_inverse_layer_idx": true is not applied \(gpt2: scores divided by the layer's index \+ 1 are not written\)/,
      ],
      [
        "GPT-2 with cross-attention",
        "gpt2",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.add_cross_attention = true)),
        /config\.json: "add_cross_attention": true is not applied \(gpt2: cross-attention layers/,
      ],
      [
        "a GPT-2 config whose n_embd does not match its weights",
        "gpt2-base-model",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.n_embd = 32)),
        /tensor "wte\.weight" is \[512,64\], where \[512,32\] is expected/,
      ],
      [
        "a Phi checkpoint without its lm_head bias (PhiForCausalLM has one)",
        "phi",
        (d) =>
          editHeader(path.join(d, "model.safetensors"), (h) => {
            h["lm_head.b"] = h["lm_head.bias"];
            delete h["lm_head.bias"];
          }),
        /the checkpoint has no tensor "lm_head\.bias"/,
      ],
      [
        "a Phi activation other than gelu_new",
        "phi",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.hidden_act = "relu")),
        /config\.json: hidden_act "relu" is not applied \(phi is converted with "gelu_pytorch_tanh"\)/,
      ],
      [
        "a StableLM whose qk_layernorm the file lacks",
        "stablelm",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.qk_layernorm = true)),
        /the checkpoint has no tensor "model\.layers\.0\.self_attn\.q_layernorm\.norms\.0\.weight"/,
      ],
      [
        "a StableLM declared parallel whose layers hold a second norm (transformers would drop it)",
        "stablelm",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.use_parallel_residual = true)),
        /"model\.layers\.0\.post_attention_layernorm\.weight".* would not be read by the converter/,
      ],
      [
        "a StableLM without qkv biases whose file holds them",
        "stablelm",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.use_qkv_bias = false)),
        /"model\.layers\.0\.self_attn\.q_proj\.bias".* would not be read by the converter/,
      ],
      [
        "soft-capping it does not apply",
        "gemma",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.final_logit_softcapping = 30)),
        /config\.json: "final_logit_softcapping" 30 is not applied/,
      ],
      [
        "a bias the config promises and the file lacks",
        "llama",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.attention_bias = true)),
        /the checkpoint has no tensor "model\.layers\.0\.self_attn\.q_proj\.bias"/,
      ],
      [
        "a tensor its config does not promise (transformers would drop it)",
        "qwen2",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.model_type = "llama")),
        /tensors "model\.layers\.0\.self_attn\.k_proj\.bias", .* and 1 more would not be read by the converter/,
      ],
      [
        "a million layers (was: a hang building their names)",
        "llama",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.num_hidden_layers = 1_000_000)),
        /"num_hidden_layers" is 1000000, but the checkpoint holds only \d+ tensors; each layer needs its own/,
      ],
      ...[0, -1, 3.5].map((w): [string, string, (dir: string) => void, RegExp] => [
        `a sliding window of ${w} (was: ORT's bounds error at probe time, or a bare JS error)`,
        "mistral-sharded",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.sliding_window = w)),
        new RegExp(`"sliding_window" is ${w}, where a whole number of tokens, 1 or more \\(or null\\), is needed`),
      ]),
      [
        'rope_scaling "linear", a string (was: read as default RoPE)',
        "llama",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.rope_scaling = "linear")),
        /"rope_scaling" is "linear", where an object such as \{"rope_type": "linear", "factor": 2\} is needed/,
      ],
      [
        "key-value heads that do not divide the heads (was: a message naming no file)",
        "llama",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.num_key_value_heads = 3)),
        /"num_key_value_heads" is 3, which does not divide "num_attention_heads" 4/,
      ],
      [
        "Mixtral with more experts per token than experts",
        "mixtral",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.num_experts_per_tok = 5)),
        /config\.json: "num_experts_per_tok" is 5, more than the 4 experts "num_local_experts" gives each layer/,
      ],
      [
        "a Mixtral config with more experts than its checkpoint holds",
        "mixtral",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.num_local_experts = 8)),
        /model\.safetensors: tensor "model\.layers\.0\.block_sparse_moe\.gate\.weight" is \[4,64\], where \[8,64\] is expected/,
      ],
      [
        "a Mixtral config with fewer experts than its fused experts hold",
        "mixtral-fused-fp16",
        (d) => editJson(path.join(d, "config.json"), (c) => (c.num_local_experts = 3)),
        /model\.safetensors: tensor "model\.layers\.0\.mlp\.gate\.weight" is \[4,64\], where \[3,64\] is expected/,
      ],
      [
        "a config holding NaN (was: a message with a raw newline)",
        "llama",
        (d) => {
          const f = path.join(d, "config.json");
          fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace(/"rms_norm_eps": [^,\n]+/, '"rms_norm_eps": NaN'));
        },
        /config\.json.*not readable as JSON/,
      ],
      [
        'a shard named ".." (was: "is not a regular file", naming no index)',
        "mistral-sharded",
        (d) =>
          editJson(path.join(d, "model.safetensors.index.json"), (j) => {
            j.weight_map["model.norm.weight"] = "..";
          }),
        /model\.safetensors\.index\.json: names shard "\.\.", which is not a file beside the index/,
      ],
      [
        'a tensor named "constructor" (was: taken as read, an object\'s own name)',
        "llama",
        (d) => {
          const file = path.join(d, "model.safetensors");
          let end = 0;
          editHeader(file, (h) => {
            end = Math.max(...Object.values(h).flatMap((t: { data_offsets?: number[] }) => t.data_offsets ?? []));
            Object.defineProperty(h, "constructor", {
              value: { dtype: "F32", shape: [1], data_offsets: [end, end + 4] },
              enumerable: true,
            });
          });
          fs.appendFileSync(file, Buffer.alloc(4));
        },
        /"constructor".*would not be read by the converter/,
      ],
    ];
    it("was: a config whose hidden_size does not match its weights was skipped as too big; now its shapes are refused first", async () => {
      const dir = copy("llama");
      editJson(path.join(dir, "config.json"), (c) => (c.hidden_size = 32_000_000));
      const budget = { availableGb: 20, where: "machine" };
      const err = await resolveSource(entry("broken", { dir }), settings(), () => {}, budget).catch((e: Error) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as Error).message).toMatch(
        /^model "broken": checkpoint could not be converted: .*tensor "model\.embed_tokens\.weight" is \[\d+,\d+\], where \[\d+,32000000\] is expected/,
      );
    });

    for (const [what, from, breakIt, message] of cases) {
      it(`refuses ${what}`, async () => {
        const dir = copy(from);
        breakIt(dir);
        const before = listing(dir);
        const err = await resolveSource(entry("broken", { dir }), settings()).catch((e: Error) => e);
        expect(err).toBeInstanceOf(Error);
        const m = (err as Error).message;
        expect(m).toMatch(/^model "broken": checkpoint could not be converted: /);
        expect(m).toContain(dir);
        expect(m).toMatch(message);
        expect(m).not.toContain("\n");
        expect(listing(dir)).toEqual(before);
      });
    }
  },
);

describe.skipIf(!!MISSING)("a damaged HuggingFace cache is named as such", () => {
  /** The llama checkpoint as huggingface_hub lays it out: snapshots/abc/<file> → ../../blobs/<file>. */
  const hub = () => {
    const home = tmpDir("probespec-hub-"),
      repo = path.join(home, "models--org--ck");
    const snap = path.join(repo, "snapshots", "abc");
    fs.mkdirSync(path.join(repo, "blobs"), { recursive: true });
    fs.mkdirSync(snap, { recursive: true });
    fs.mkdirSync(path.join(repo, "refs"));
    fs.writeFileSync(path.join(repo, "refs", "main"), "abc");
    for (const f of fs.readdirSync(path.join(ROOT, "llama"))) {
      fs.copyFileSync(path.join(ROOT, "llama", f), path.join(repo, "blobs", f));
      fs.symlinkSync(path.join("..", "..", "blobs", f), path.join(snap, f));
    }
    return { home, repo, snap };
  };
  const resolve = async (home: string) =>
    resolveSource(entry("ck", { hub: "org/ck" }), { ...settings(), hubCache: home }).catch((e: Error) => e);

  it("was: a weights link whose blob is gone read 'no .onnx file at all'", async () => {
    const { home, repo } = hub();
    fs.rmSync(path.join(repo, "blobs", "model.safetensors"));
    expect(((await resolve(home)) as Error).message).toMatch(
      /^model "ck": .*snapshots\/abc: model\.safetensors is a link to .*, which is gone \(an interrupted download\?\); download it again$/,
    );
  });

  it("was: a config.json link loop read 'no .onnx file at all'", async () => {
    const { home, snap } = hub();
    fs.rmSync(path.join(snap, "config.json"));
    fs.symlinkSync("config.json", path.join(snap, "config.json"));
    expect(((await resolve(home)) as Error).message).toMatch(/config\.json is a link that loops; download it again$/);
  });

  it("was: a float32 blob rewritten in place kept its old conversion, its sha256 name trusted; now its identity is part of the key", async () => {
    const { home, repo, snap } = hub();
    // As huggingface_hub names an LFS file: by its sha256.
    const weights = fs.readFileSync(path.join(repo, "blobs", "model.safetensors"));
    const sha = crypto.createHash("sha256").update(weights).digest("hex");
    fs.renameSync(path.join(repo, "blobs", "model.safetensors"), path.join(repo, "blobs", sha));
    fs.rmSync(path.join(snap, "model.safetensors"));
    fs.symlinkSync(path.join("..", "..", "blobs", sha), path.join(snap, "model.safetensors"));
    const cacheDir = tmpDir("probespec-ck-cache-");
    const go = () => resolveSource(entry("ck", { hub: "org/ck" }), { ...settings(cacheDir), hubCache: home });
    const first = await go();
    expect(await go()).toBe(first);
    // A save into the snapshot writes through the link: the last weight's bytes change, the blob's name does not.
    const changed = Buffer.from(weights);
    changed.writeFloatLE(changed.readFloatLE(changed.length - 4) + 1, changed.length - 4);
    fs.writeFileSync(path.join(snap, "model.safetensors"), changed);
    expect(fs.readdirSync(path.join(repo, "blobs"))).toContain(sha);
    expect(await go()).not.toBe(first);
  });

  it("was: a snapshot that is a file gave ENOTDIR", async () => {
    const { home, repo, snap } = hub();
    fs.rmSync(snap, { recursive: true });
    fs.writeFileSync(snap, "");
    const m = ((await resolve(home)) as Error).message;
    expect(m).toMatch(/hub snapshot .*snapshots\/abc is not a folder; the HuggingFace cache is damaged/);
    expect(m).not.toMatch(/ENOTDIR/);
    expect(fs.existsSync(path.join(repo, "blobs", "config.json"))).toBe(true);
  });
});

describe.skipIf(!!MISSING)("the seed's four entries read the HuggingFace cache", () => {
  const SEED_HUB = path.join(ROOT, "seed-hub");
  const SEED = ["mistral-7b", "pythia-6.9b", "gemma-7b", "apertus-8b"];
  const hubOf = async (id: string) => {
    const e = (await loadRegistry()).entries.find((x) => x.id === id)!;
    return { e, hub: (e.source as { hub: string }).hub };
  };

  it("probe tiny checkpoints a hub cache holds under the seed's four repository ids, with no export step, to transformers' numbers within 1e-5", async () => {
    const refs: Record<string, Reference> = JSON.parse(fs.readFileSync(path.join(SEED_HUB, "references.json"), "utf8"));
    const run = await runProbes({
      env: {
        ...process.env,
        PROBESPEC_MODELS: SEED.join(","),
        PROBESPEC_MODELS_ROOT: tmpDir(), // no exports/ there
        PROBESPEC_CACHE_DIR: tmpDir(),
        PROBESPEC_DEVICE: "cpu",
        PROBESPEC_OFFLINE: "1",
        HF_HUB_CACHE: SEED_HUB,
      },
      promptSet: { name: "one", file: "-", prompts: [Object.values(refs)[0].prompt] },
    });
    expect(run.failures).toEqual([]);
    for (const id of SEED) {
      const ref = refs[(await hubOf(id)).hub];
      expect(ref, `a checkpoint under ${id}'s repository`).toBeDefined();
      const r = run.results.find((x) => x.id === id)!;
      const norms = (r.measures["resid.norm"] as { perPrompt: number[][] }).perPrompt[0];
      expect(norms.length).toBe(ref.norms.length);
      norms.forEach((n, L) => {
        const err = rel(n, ref.norms[L]);
        measured[`seed ${id} norm`] = Math.max(measured[`seed ${id} norm`] ?? 0, err);
        expect(err, `${id} norm ${L}`).toBeLessThan(1e-5);
      });
      const stats = (r.measures["logits.stats"] as { perPrompt: Record<string, number>[] }).perPrompt[0];
      for (const k of ["logit_std", "logit_max", "logit_min", "entropy", "top10_prob_mass"]) {
        const err = rel(stats[k], ref.entropy[k]);
        measured[`seed ${id} logits`] = Math.max(measured[`seed ${id} logits`] ?? 0, err);
        expect(err, `${id} logits.stats ${k}`).toBeLessThan(1e-5);
      }
    }
    if (process.env.PROBESPEC_VERBOSE) console.log(JSON.stringify(measured, null, 1));
  });

  it("are skipped with an empty cache, each in one line saying how to get it", async () => {
    const registry = await loadRegistry();
    const root = tmpDir();
    const s = { ...settings(), modelsRoot: root, hubCache: tmpDir("probespec-empty-hub-"), offline: false };
    const sel = await selectModels({ ...registry, entries: registry.entries.filter((e) => SEED.includes(e.id)) }, s);
    expect(sel.selected).toEqual([]);
    expect(sel.unloadable).toEqual([]);
    expect(sel.skipped.map((x) => x.id).sort()).toEqual([...SEED].sort());
    for (const x of sel.skipped) {
      const { hub } = await hubOf(x.id);
      expect(x.reason).toBe(
        `hub source ${hub} is not in the local HuggingFace cache (${s.hubCache}); download it first (huggingface-cli download ${hub}), or put an ONNX export in ${path.join(root, "exports", x.id)}`,
      );
    }
    expect(registry.problems).toEqual([]);
    // The official base release: the notebook's jphme/Apertus-8b is not it.
    expect((await hubOf("apertus-8b")).hub).toBe("swiss-ai/Apertus-8B-2509");
  });

  it("use an ONNX export in exports/<id> where there is one, in place of the hub cache", async () => {
    const { e } = await hubOf("mistral-7b");
    const cache = settings();
    // A converted checkpoint is an ONNX export folder (model.onnx, config.json, tokenizer.json).
    const converted = await resolveSource(e, { ...cache, hubCache: SEED_HUB });
    const root = tmpDir();
    fs.cpSync(converted, path.join(root, "exports", "mistral-7b"), { recursive: true });
    const s = { ...cache, modelsRoot: root, hubCache: tmpDir("probespec-empty-hub-") };
    expect(await resolveSource(e, s)).toBe(path.join(root, "exports", "mistral-7b"));
    // Preferred even where the hub cache holds the model too.
    expect(await resolveSource(e, { ...s, hubCache: SEED_HUB })).toBe(path.join(root, "exports", "mistral-7b"));
  });
});
