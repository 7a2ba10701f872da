/**
 * Selection's memory estimate (models/registry/memory.ts) is what a session will hold: the weights as
 * stored, ONNX Runtime's prepacked copies, the per-run casts and the longest prompt's activations,
 * checked against numbers worked out by hand for Mistral-7B's shape, read from a checkpoint's headers
 * (its data a sparse file: nothing is read but the headers) and from converted graphs.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { activationBytes, graphWeights, sessionMemory } from "../models/registry/memory.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { selectModels } from "../models/registry/select.js";
import { resolveSource } from "../models/registry/sources.js";
import { checkpointWeights } from "../models/safetensors/build.js";
import { decodeModel } from "../onnx/io.js";
import { tmpDir } from "./helpers.js";

/** Mistral-7B-v0.1's config.json, as the hub has it. */
const MISTRAL = {
  architectures: ["MistralForCausalLM"],
  model_type: "mistral",
  hidden_size: 4096,
  intermediate_size: 14336,
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  vocab_size: 32000,
  max_position_embeddings: 32768,
  sliding_window: 4096,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  hidden_act: "silu",
};

/** A Mistral-7B-shaped checkpoint of `dtype`: its header as save_pretrained writes it, its data a hole in a sparse file. */
function mistralCheckpoint(dtype: "BF16" | "F32"): string {
  const dir = tmpDir("probespec-mistral7b-");
  const [d, kv, hidden, vocab] = [4096, 1024, 14336, 32000];
  const shapes: [string, number[]][] = [
    ["model.embed_tokens.weight", [vocab, d]],
    ["model.norm.weight", [d]],
    ["lm_head.weight", [vocab, d]],
  ];
  for (let l = 0; l < 32; l++) {
    const p = `model.layers.${l}`;
    shapes.push(
      [`${p}.input_layernorm.weight`, [d]],
      [`${p}.post_attention_layernorm.weight`, [d]],
      [`${p}.self_attn.q_proj.weight`, [d, d]],
      [`${p}.self_attn.k_proj.weight`, [kv, d]],
      [`${p}.self_attn.v_proj.weight`, [kv, d]],
      [`${p}.self_attn.o_proj.weight`, [d, d]],
      [`${p}.mlp.gate_proj.weight`, [hidden, d]],
      [`${p}.mlp.up_proj.weight`, [hidden, d]],
      [`${p}.mlp.down_proj.weight`, [d, hidden]],
    );
  }
  const size = dtype === "BF16" ? 2 : 4;
  let at = 0;
  const header: Record<string, unknown> = {};
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1) * size;
    header[name] = { dtype, shape, data_offsets: [at, at + n] };
    at += n;
  }
  const text = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  const file = path.join(dir, "model.safetensors");
  fs.writeFileSync(file, Buffer.concat([len, text]));
  fs.truncateSync(file, 8 + text.length + at);
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(MISTRAL));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), "{}");
  return dir;
}

// By hand, for Mistral-7B: per layer q and o 4096², k and v 1024 × 4096, gate, up and down 14336 × 4096.
const PER_LAYER = 2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * 14336 * 4096; // 218,103,808
const MATRICES = 32 * PER_LAYER; // 6,979,321,856
const TABLE = 32000 * 4096; // 131,072,000: the embedding, and the lm_head
const NORMS = 32 * 2 * 4096 + 4096; // 266,240 gains, written as float32

describe("the memory selection counts for a Mistral-7B-shaped checkpoint", () => {
  it("bf16: 16-bit weights, no prepacked copies, the lm_head's and an MLP matrix's float32 casts, and 512 tokens' activations", () => {
    const { weights, shape } = checkpointWeights(mistralCheckpoint("BF16"));
    const m = sessionMemory(weights, shape, { seq: 512, attention: true });
    expect(m.weights).toBe((MATRICES + 2 * TABLE) * 2 + NORMS * 4); // 14,483,996,672
    expect(m.prepacked).toBe(0);
    expect(m.transient).toBe(4 * TABLE + 4 * 14336 * 4096); // 524,288,000 + 234,881,024
    // 6 points × 32 layers × 512 × 4096 × 4, logits 512 × 32000 × 4, attention 32 × 32 × 512² × 4.
    expect(m.activations).toBe(1_610_612_736 + 65_536_000 + 1_073_741_824);
    expect(m.total).toBe(17_993_056_256);
    // One short prompt (16 tokens): 15.3 GB, where a flat 1.5× of the float32 weights said 43.5 GB.
    expect(sessionMemory(weights, shape, { seq: 16, attention: true }).total).toBe(15_296_593_920);
  });

  it("float32: a prepacked copy of every matrix but the embedding, in place of the matrix, and the embedding and norms as stored", () => {
    const { weights, shape } = checkpointWeights(mistralCheckpoint("F32"));
    const m = sessionMemory(weights, shape, { seq: 16, attention: false });
    expect(m.weights).toBe((TABLE + NORMS) * 4); // 525,352,960
    expect(m.prepacked).toBe((MATRICES + TABLE) * 4); // 28,441,575,424
    expect(m.transient).toBe(0);
    expect(m.activations).toBe(activationBytes(shape, { seq: 16, attention: false }));
    expect(m.activations).toBe(32 * 16 * 4096 * 4 * 6 + 16 * 32000 * 4);
  });

  it("skips the bf16 checkpoint on a 16 GB machine for a 512-token prompt, before converting anything", async () => {
    const dir = mistralCheckpoint("BF16");
    const e = ModelEntrySchema.parse({ id: "mistral-7b-bf16", family: "mistral", source: { dir } });
    const cacheDir = tmpDir();
    const settings = { modelsRoot: PROJECT_ROOT, hubCache: tmpDir(), offline: true, cacheDir, deviceMemoryGb: 16 };
    const registry = { entries: [e], files: new Map(), problems: [] };
    const sel = await selectModels(registry, settings, { probing: { seq: 512, attention: true } });
    expect(sel.skipped.map((s) => s.reason)).toEqual([
      "needs 18.0 GB (14.5 GB of weights read as stored, 0.0 GB of ONNX Runtime's prepacked copies, 0.8 GB of per-run float32 casts and 2.7 GB of activations); the machine has 16.0 GB free",
    ]);
    expect(fs.readdirSync(cacheDir)).toEqual([]);
  });
});

const CHECKPOINTS = path.join(PROJECT_ROOT, ".probespec-cache", "checkpoints");
describe.skipIf(!fs.existsSync(path.join(CHECKPOINTS, "COMPLETE")))("a converted graph's weights", () => {
  /** A checkpoint's weights as its converted graph holds them, as its headers count them, and each one's memory. */
  async function both(name: string) {
    const e = ModelEntrySchema.parse({ id: name, family: "llama", source: { dir: name } });
    const dir = await resolveSource(e, {
      modelsRoot: CHECKPOINTS,
      hubCache: tmpDir(),
      offline: true,
      cacheDir: tmpDir(),
    });
    const graph = graphWeights(decodeModel(fs.readFileSync(path.join(dir, "model.onnx"))));
    const headers = checkpointWeights(path.join(CHECKPOINTS, name)).weights;
    const probing = { seq: 8, attention: false };
    return {
      graph,
      headers,
      g: sessionMemory(graph, undefined, probing),
      h: sessionMemory(headers, undefined, probing),
    };
  }

  it("are counted as its checkpoint's headers count them: prepacked float32 matrices, per-run 16-bit ones", async () => {
    // Mixtral's every expert is a matrix of the graph.
    for (const name of ["llama", "llama-bf16", "gemma2-bf16", "gpt2", "mixtral", "mixtral-bf16"]) {
      const { graph, headers, g, h } = await both(name);
      expect(g.prepacked, name).toBe(h.prepacked);
      expect(g.transient, name).toBe(h.transient);
      expect(graph.filter((w) => w.use === "perRun").length, name).toBe(
        headers.filter((w) => w.use === "perRun").length,
      );
    }
  });

  it("count every expert of a fused stack, each expert's gate_up slice one cast where the graph casts its gate and up apart", async () => {
    const { graph, headers, g, h } = await both("mixtral-fused-fp16");
    expect(g.prepacked).toBe(h.prepacked);
    // 2 layers × 4 experts: gate, up and down in the graph; gate_up and down slices in the headers. The same bytes.
    const perRun = (ws: typeof graph) => ws.filter((w) => w.use === "perRun");
    expect(perRun(graph).length - perRun(headers).length).toBe(2 * 4);
    const bytes = (ws: typeof graph) => perRun(ws).reduce((n, w) => n + w.bytes, 0);
    expect(bytes(graph)).toBe(bytes(headers));
    expect(h.transient).toBeGreaterThanOrEqual(g.transient);
  });
});
