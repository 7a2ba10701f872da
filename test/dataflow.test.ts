/**
 * The locator reads dataflow, not one exporter's patterns: rewrites that real
 * exporters make freely leave the located points and every value probed there
 * unchanged, on generated graphs of every analog family in both dialects.
 */
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import type { ModelProto, NodeProto } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { analogConfig, type AnalogFamily } from "../models/analogs/config.js";
import { type Dialect } from "../models/writer/config.js";
import { emitModel } from "../models/writer/emit.js";
import { generateWeights } from "../models/analogs/weights.js";
import { SKIP_NORMS } from "../probes/dataflow.js";
import { floatData } from "../probes/feeds.js";
import { LENS_OUTPUT } from "../probes/lens.js";
import { probedGraph } from "../probes/probed-graph.js";
import { locate } from "../probes/locate.js";
import { encodeModel, indexGraph } from "../onnx/io.js";
import { relErr, TINY_ANALOG } from "./helpers.js";

const withNodes = (proto: ModelProto, node: NodeProto[]): ModelProto => ({
  ...proto,
  graph: { ...proto.graph!, node },
});

/** Every Add and Sum with its operands reversed. */
const swapSums = (p: ModelProto) =>
  withNodes(
    p,
    p.graph!.node.map((n) => (n.opType === "Add" || n.opType === "Sum" ? { ...n, input: [...n.input].reverse() } : n)),
  );

/** The residual on the other input of every Skip norm. */
const swapSkip = (p: ModelProto) =>
  withNodes(
    p,
    p.graph!.node.map((n) =>
      SKIP_NORMS.has(n.opType) ? { ...n, input: [n.input[1], n.input[0], ...n.input.slice(2)] } : n,
    ),
  );

/** Add(Add(a, b), c) → Sum(a, b, c) wherever the inner sum feeds nothing else and adds no constant (a bias stays with its matmul). */
function naryize(p: ModelProto): ModelProto {
  const idx = indexGraph(p.graph!);
  const constant = (t: string) => idx.initializer.has(t) || idx.producer.get(t)?.opType === "Constant";
  const outputs = new Set(p.graph!.output.map((o) => o.name));
  const merged = new Map<NodeProto, string[]>(); // an Add → the inputs it sums now
  const dropped = new Set<NodeProto>();
  for (const n of p.graph!.node) {
    if (n.opType !== "Add") continue;
    merged.set(
      n,
      n.input.flatMap((i) => {
        const q = idx.producer.get(i);
        if (
          !q ||
          !merged.has(q) ||
          q.input.some(constant) ||
          outputs.has(i) ||
          (idx.consumers.get(i) ?? []).length !== 1
        )
          return [i];
        dropped.add(q);
        return merged.get(q)!;
      }),
    );
  }
  const node = p
    .graph!.node.filter((n) => !dropped.has(n))
    .map((n) => {
      const inputs = merged.get(n);
      return inputs && inputs.length > 2 ? { ...n, opType: "Sum", input: inputs } : n;
    });
  return withNodes(p, node);
}

/** A side path that carries only a shape: the lm_head's input reshaped to the embedding's shape. */
function shapeSide(p: ModelProto): ModelProto {
  const g = p.graph!;
  const idx = indexGraph(g);
  const logits = idx.producer.get(g.output[0].name)!;
  const gather = g.node.find((n) => n.opType === "Gather" && n.input.includes("input_ids"))!;
  const x = logits.input[0];
  const shape: NodeProto = {
    ...logits,
    name: "/side/Shape",
    opType: "Shape",
    domain: "",
    input: [gather.output[0]],
    output: ["/side/shape"],
    attribute: [],
  };
  const reshape: NodeProto = {
    ...logits,
    name: "/side/Reshape",
    opType: "Reshape",
    domain: "",
    input: [x, "/side/shape"],
    output: ["/side/x"],
    attribute: [],
  };
  const node = g.node.flatMap((n) =>
    n === logits ? [shape, reshape, { ...n, input: ["/side/x", ...n.input.slice(1)] }] : [n],
  );
  return withNodes(p, node);
}

const REWRITES = { swapSums, swapSkip, naryize, shapeSide };

/** Every probe point's values (and the logit lens) on one prompt. */
async function probed(proto: ModelProto, layers: number, ids: number[]) {
  const located = locate(proto, { declaredLayers: layers });
  const { proto: edited, outputs } = probedGraph(proto, located);
  const s = await ort.InferenceSession.create(encodeModel(edited));
  const t = (v: number[]) => new ort.Tensor("int64", BigInt64Array.from(v.map(BigInt)), [1, v.length]);
  const out = await s.run(
    { input_ids: t(ids), attention_mask: t(ids.map(() => 1)), position_ids: t(ids.map((_, i) => i)) },
    outputs,
  );
  await s.release();
  const values = new Map<string, Float32Array>([["lens", floatData(out[LENS_OUTPUT])]]);
  const read = (p: string): Float32Array => {
    const src = located.points.get(p as never)!;
    if ("tensor" in src) return floatData(out[src.tensor]);
    const [a, b] = src.minus.map(read);
    return a.map((v, k) => v - b[k]);
  };
  for (const p of located.points.keys()) values.set(p, read(p));
  return { located, values };
}

describe("locating by dataflow", () => {
  it("leaves every located point and every probed value unchanged under operand swaps, n-ary sums, Skip-norm input order, fused norms and shape-only side paths", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<AnalogFamily>("mistral", "llama", "gemma", "gpt_neox", "apertus"),
        fc.constantFrom<Dialect>("torchscript", "genai"),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 999 }),
        fc.subarray(Object.keys(REWRITES) as (keyof typeof REWRITES)[], { minLength: 1 }),
        async (family, dialect, layers, seed, rewrites) => {
          const c = analogConfig(family, {
            layers,
            seed,
            ...TINY_ANALOG,
          });
          const w = generateWeights(c);
          const ids = [1, 5, 9, 13, 2];
          const base = await probed(emitModel(c, w, { dialect }), layers, ids);
          const rewritten = rewrites.reduce((p, r) => REWRITES[r](p), emitModel(c, w, { dialect }));
          const got = await probed(rewritten, layers, ids);
          // The other dialect fuses (or unfuses) every norm: the same points, the same values to float32 rounding.
          const other = await probed(
            emitModel(c, w, { dialect: dialect === "genai" ? "torchscript" : "genai" }),
            layers,
            ids,
          );
          for (const r of [got, other]) {
            expect(r.located.layers).toBe(layers);
            expect(r.located.parallel).toBe(family === "gpt_neox");
            expect([...r.values.keys()].sort()).toEqual([...base.values.keys()].sort());
            for (const [p, v] of base.values)
              expect(relErr(r.values.get(p)!, v), `${p} after ${rewrites.join(", ")}`).toBeLessThan(1e-5);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("when the stream cannot be read", () => {
  it("checks sequential against parallel with what the config declares", () => {
    const c = analogConfig("gpt_neox", {
      layers: 2,
      seed: 3,
      ...TINY_ANALOG,
    });
    const p = emitModel(c, generateWeights(c), { dialect: "torchscript" });
    expect(locate(p, { declaredLayers: 2, declaredParallel: true }).parallel).toBe(true);
    expect(() => locate(p, { modelId: "neox", declaredLayers: 2, declaredParallel: false })).toThrow(
      /model "neox": found a parallel residual stream where the config declares a sequential one/,
    );
  });

  it("names the layer where it breaks, what was found there, and suggests probePoints", () => {
    const c = analogConfig("llama", {
      layers: 3,
      seed: 3,
      ...TINY_ANALOG,
    });
    const p = emitModel(c, generateWeights(c), { dialect: "torchscript" });
    // Layer 1's attention branch cut off: its residual Add passes the stream through unchanged.
    const broken = withNodes(
      p,
      p.graph!.node.map((n) =>
        n.name === "/model/layers.1/Add" ? { ...n, opType: "Identity", input: [n.input[0]] } : n,
      ),
    );
    expect(() => locate(broken, { modelId: "cut", declaredLayers: 3 })).toThrow(
      /model "cut": the residual stream breaks at layer 1: expected an attention sub-block, found MLP summed by Add "\/model\/layers.1\/Add_1".*residual stream: 5 segments \(ammam\).*"probePoints"/,
    );
  });
});
