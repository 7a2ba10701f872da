/**
 * Interventions (probes/intervene.ts) held to transformers' forward under the same edits, made by torch forward
 * hooks on the same weights (tools/intervention_reference.py): a dynamo export from torch, a GGUF kept as block
 * codes, and a float16 checkpoint read in place. Every edit is a fork of the graph beside the plain pass, which it
 * leaves as it was, bit for bit.
 */
import fs from "node:fs";
import path from "node:path";
import type * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { resolveSource } from "../models/registry/sources.js";
import { encodeModel, readModel, relocateExternalData } from "../onnx/io.js";
import { feeder, floatData } from "../probes/feeds.js";
import { addForks, forkFeeds, type Intervention } from "../probes/intervene.js";
import { locate } from "../probes/locate.js";
import type { Read } from "../probes/measures/measure.js";
import type { ProbePoint } from "../probes/points.js";
import { probedGraph, reductionOutput } from "../probes/probed-graph.js";
import { createSession } from "../probes/session.js";
import { relErr, TEST_CACHE } from "./helpers.js";

const FIXTURES = path.join(import.meta.dirname, "fixtures");
const CHECKPOINTS = process.env.PROBESPEC_CHECKPOINTS ?? path.join(PROJECT_ROOT, ".probespec-cache", "checkpoints");

interface Sums {
  resid_pre: number[][];
  resid_post: number[][];
  logits: number[];
}
interface Case extends Sums {
  name: string;
  point: ProbePoint;
  positions: Intervention["positions"];
  dims?: number[];
  edit: { op: string; by?: number; vector?: number[] };
  source: number[] | null;
}
interface Reference {
  ids: number[];
  plain: Sums;
  cases: Case[];
}

const MODELS: { name: string; what: string; source: object; missing?: string }[] = [
  {
    name: "llama-dynamo23",
    what: "a dynamo export from torch",
    source: { dir: path.join(FIXTURES, "exports", "llama-dynamo23") },
  },
  {
    name: "gguf-llama",
    what: "a GGUF kept as block codes",
    source: { gguf: path.join(FIXTURES, "gguf-llama", "model.gguf") },
  },
  {
    name: "llama-fp16",
    what: "a float16 HF checkpoint read in place",
    source: { dir: path.join(CHECKPOINTS, "llama-fp16") },
    missing: fs.existsSync(path.join(CHECKPOINTS, "llama-fp16"))
      ? undefined
      : `the checkpoint is generated into ${CHECKPOINTS} by tools/make_checkpoints.sh`,
  },
];

/**
 * A model's plain probed session (each site's point exposed whole, for a patch's value), and one with a fork at every
 * point the cases edit, each reading every layer's resid_pre and resid_post and the logits as sums of squares.
 */
async function open(name: string, source: object, sites: ProbePoint[]) {
  const dir = await resolveSource(ModelEntrySchema.parse({ id: name, family: "llama", source }), {
    modelsRoot: FIXTURES,
    hubCache: path.join(TEST_CACHE, "hub"),
    offline: true,
    cacheDir: TEST_CACHE,
  });
  const file = path.join(dir, "model.onnx");
  const { proto } = readModel(file, name);
  const located = locate(proto, { modelId: name });
  const reads: Read[] = [
    ...Array.from({ length: located.layers }, (_, L) =>
      (["resid_pre", "resid_post"] as const).map((k) => ({ point: `${k}.${L}` as ProbePoint, as: "sumsq" as const })),
    ).flat(),
    { point: "logits", as: "sumsq" },
  ];
  const forks = sites.map((point, k) => ({ tag: `site${k}`, point, lens: false, reductions: reads }));
  const session = async (g: ReturnType<typeof probedGraph>) => {
    const forOrt = relocateExternalData(g.proto, dir);
    const { session } = await createSession(encodeModel(forOrt.proto), { device: "cpu", externalDataDir: forOrt.dir });
    return { session, outputs: g.outputs, located: g.located };
  };
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  return {
    d: located.d,
    layers: located.layers,
    located,
    feeds: feeder(located, config, undefined, name),
    plain: await session(probedGraph(proto, located, name, { lens: false, reductions: reads, points: sites })),
    forked: await session(probedGraph(proto, located, name, { lens: false, reductions: reads }, forks)),
    reads,
    forks,
  };
}

/** Every fork's feeds: the one at the case's site with its intervention, the others off. */
function feedsOf(m: Opened, seq: number, c?: Intervention): Record<string, ort.Tensor> {
  return Object.assign(
    {},
    ...m.forks.map((f) => forkFeeds(f.tag, seq, m.d, c?.point === f.point ? c : undefined, "test")),
  );
}

type Opened = Awaited<ReturnType<typeof open>>;

/** Each read's per-position sums of squares, in float64 from the graph's chunked partial sums. */
function sums(m: Opened, out: ort.InferenceSession.OnnxValueMapType, seq: number, fork?: string): Sums {
  const read = (r: Read) => {
    const data = floatData(out[reductionOutput(r, fork)]);
    const parts = data.length / seq;
    return Array.from({ length: seq }, (_, q) => data.slice(q * parts, (q + 1) * parts).reduce((a, b) => a + b, 0));
  };
  const at = (k: string) => m.reads.filter((r) => r.point.startsWith(`${k}.`)).map(read);
  return { resid_pre: at("resid_pre"), resid_post: at("resid_post"), logits: read({ point: "logits", as: "sumsq" }) };
}

/** The worst relative error over every point's row (max |a − b| ÷ max |b| of the row), and where. */
function worst(a: Sums, b: Sums): { err: number; at: string } {
  const rows: [string, number[], number[]][] = [
    ...a.resid_pre.map((r, L) => [`resid_pre.${L}`, r, b.resid_pre[L]] as [string, number[], number[]]),
    ...a.resid_post.map((r, L) => [`resid_post.${L}`, r, b.resid_post[L]] as [string, number[], number[]]),
    ["logits", a.logits, b.logits],
  ];
  return rows
    .map(([at, x, y]) => ({ at, err: relErr(x, y) }))
    .reduce((w, r) => (r.err > w.err ? r : w), { err: 0, at: "" });
}

/** The intervention a reference case describes; a patch's value is its source prompt's plain pass at the point. */
async function interventionOf(m: Opened, c: Case): Promise<Intervention> {
  const base = { point: c.point, positions: c.positions, ...(c.dims && { dims: c.dims }) };
  if (c.edit.op !== "patch") return { ...base, edit: c.edit as Intervention["edit"] };
  const ids = c.source!;
  const out = await m.plain.session.run(m.feeds(ids), m.plain.outputs);
  const value = floatData(out[(m.located.points.get(c.point) as { tensor: string }).tensor]);
  return { ...base, edit: { op: "patch", value, seq: ids.length } };
}

for (const { name, what, source, missing } of MODELS) {
  const file = path.join(FIXTURES, "interventions", `${name}.json`);
  const ref: Reference = JSON.parse(fs.readFileSync(file, "utf8"));
  const sites = [...new Set(ref.cases.map((c) => c.point))];
  describe.skipIf(!!missing)(`interventions on ${what} (${name})${missing ? ` — skipped: ${missing}` : ""}`, () => {
    let opened: Promise<Opened> | undefined;
    const model = () => (opened ??= open(name, source, sites));

    it("a fork leaves the plain probed pass as it was, bit for bit, and with its site off computes it again; the plain pass is transformers' forward within 1e-5", async () => {
      const m = await model();
      const seq = ref.ids.length;
      const plain = await m.plain.session.run(m.feeds(ref.ids), m.plain.outputs);
      const off = await m.forked.session.run({ ...m.feeds(ref.ids), ...feedsOf(m, seq) }, m.forked.outputs);
      for (const r of m.reads) {
        const o = reductionOutput(r);
        expect(floatData(off[o]), o).toEqual(floatData(plain[o]));
      }
      for (const f of m.forks) expect(worst(sums(m, off, seq, f.tag), ref.plain).err).toBeLessThan(1e-5);
      expect(worst(sums(m, plain, seq), ref.plain).err).toBeLessThan(1e-5);
    });

    for (const c of ref.cases) {
      it(`${c.edit.op} at ${c.point} on positions ${JSON.stringify(c.positions)}${c.dims ? ` and dimensions ${c.dims[0]}–${c.dims.at(-1)}` : ""} matches torch hooks doing the same edit within 1e-5`, async () => {
        const m = await model();
        const seq = ref.ids.length;
        const feeds = feedsOf(m, seq, await interventionOf(m, c));
        const out = await m.forked.session.run({ ...m.feeds(ref.ids), ...feeds }, m.forked.outputs);
        const got = sums(m, out, seq, m.forks.find((f) => f.point === c.point)!.tag);
        const w = worst(got, c);
        expect(w.err, `worst at ${w.at}`).toBeLessThan(1e-5);
        // The edit changed the forward: a case that left it as it was could not tell a wrong edit from none.
        expect(worst(got, ref.plain).err).toBeGreaterThan(1e-3);
      });
    }
  });
}

describe("a fork clones only what lies between its site and what it reads", () => {
  it("an edit at the last layer's input, read at its output, clones that layer's nodes and no others", () => {
    const { proto } = readModel(path.join(FIXTURES, "exports", "llama-dynamo23", "model.onnx"));
    const located = locate(proto);
    const L = located.layers - 1;
    const reads: ProbePoint[] = [`resid_post.${L}`];
    const { proto: forkedProto } = addForks(proto, located, [{ tag: "t", point: `resid_pre.${L}`, reads }]);
    const clones = forkedProto.graph!.node.filter((n) => n.output.some((o) => o.endsWith("::t")));
    // The plain graph's nodes between the two points: those whose inputs reach back to resid_pre.L.
    const pre = (located.points.get(`resid_pre.${L}`) as { tensor: string }).tensor;
    const post = (located.points.get(`resid_post.${L}`) as { tensor: string }).tensor;
    const made = new Set([pre]);
    const between = proto.graph!.node.filter((n) => {
      if (!n.input.some((i) => made.has(i))) return false;
      n.output.forEach((o) => made.add(o));
      return true;
    });
    expect(clones.length).toBeGreaterThan(5);
    expect(clones.length).toBeLessThanOrEqual(between.length);
    expect(clones.some((n) => n.output.includes(`${post}::t`))).toBe(true);
    // Nothing upstream: no clone of any earlier layer's output.
    const first = (located.points.get("resid_post.0") as { tensor: string }).tensor;
    expect(forkedProto.graph!.node.some((n) => n.output.includes(`${first}::t`))).toBe(false);
  });
});

describe("an edit a graph cannot take is refused, saying why", () => {
  it("the residual sum inside a GenAI export's fused SkipSimplifiedLayerNormalization, which normalises it before any edit could", () => {
    const { proto } = readModel(path.join(FIXTURES, "exports", "llama-genai-fp32", "model.onnx"));
    const located = locate(proto);
    const fork = (point: ProbePoint) => addForks(proto, located, [{ tag: "t", point, reads: ["logits"] }], "genai");
    expect(() => fork("resid_pre.1")).toThrow(
      /cannot intervene at resid_pre\.1: it is the sum inside .*SkipLayerNorm.*normalises it before any edit could/,
    );
    expect(() => fork("pattern.0")).toThrow(/residual stream's width/);
  });
});
