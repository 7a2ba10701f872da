/**
 * Interventions (probes/intervene.ts) held to transformers' forward under the same edits, made by torch forward
 * hooks on the same weights (tools/intervention_reference.py): a dynamo export from torch, a GGUF kept as block
 * codes, and a float16 checkpoint read in place. One session serves every pass, and with every site off it is the
 * plain probed pass, bit for bit.
 */
import fs from "node:fs";
import path from "node:path";
import type * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { resolveSource } from "../models/registry/select.js";
import { encodeModel, readModel, relocateExternalData } from "../onnx/io.js";
import { feeder, floatData } from "../probes/feeds.js";
import { addInterventions, interventionFeeds, type Intervention } from "../probes/intervene.js";
import { locate, type Located } from "../probes/locate.js";
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

/** A model's session with a site at every point the cases edit, reading each layer's resid_pre and resid_post and the logits as sums of squares. */
async function open(name: string, source: object, sites: ProbePoint[]) {
  const dir = await resolveSource(ModelEntrySchema.parse({ id: name, family: "llama", source }), {
    modelsRoot: FIXTURES,
    hubCache: path.join(TEST_CACHE, "hub"),
    offline: true,
    cacheDir: TEST_CACHE,
  });
  const file = path.join(dir, "model.onnx");
  const { proto } = readModel(file, name);
  const plainLocated = locate(proto, { modelId: name });
  const reads: Read[] = [
    ...Array.from({ length: plainLocated.layers }, (_, L) =>
      (["resid_pre", "resid_post"] as const).map((k) => ({ point: `${k}.${L}` as ProbePoint, as: "sumsq" as const })),
    ).flat(),
    { point: "logits", as: "sumsq" },
  ];
  const session = async (graph: typeof proto, located: Located, whole: ProbePoint[] = []) => {
    const g = probedGraph(graph, located, name, { lens: false, reductions: reads, points: whole });
    const forOrt = relocateExternalData(g.proto, dir);
    const { session } = await createSession(encodeModel(forOrt.proto), { device: "cpu", externalDataDir: forOrt.dir });
    return { session, outputs: g.outputs, located };
  };
  const intervened = addInterventions(proto, plainLocated, sites, name);
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  return {
    d: plainLocated.d,
    layers: plainLocated.layers,
    feeds: feeder(plainLocated, config, undefined, name),
    plain: await session(proto, plainLocated),
    intervened: await session(intervened.proto, intervened.located, sites),
    reads,
    sites,
  };
}

type Opened = Awaited<ReturnType<typeof open>>;

/** Each read's per-position sums of squares, in float64 from the graph's chunked partial sums. */
function sums(m: Opened, out: ort.InferenceSession.OnnxValueMapType, seq: number): Sums {
  const read = (r: Read) => {
    const data = floatData(out[reductionOutput(r)]);
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
  const { session, located } = m.intervened;
  const out = await session.run({ ...m.feeds(ids), ...interventionFeeds(m.sites, ids.length, m.d) });
  const value = floatData(out[(located.points.get(c.point) as { tensor: string }).tensor]);
  return { ...base, edit: { op: "patch", value, seq: ids.length } };
}

for (const { name, what, source, missing } of MODELS) {
  const file = path.join(FIXTURES, "interventions", `${name}.json`);
  const ref: Reference = JSON.parse(fs.readFileSync(file, "utf8"));
  const sites = [...new Set(ref.cases.map((c) => c.point))];
  describe.skipIf(!!missing)(`interventions on ${what} (${name})${missing ? ` — skipped: ${missing}` : ""}`, () => {
    let opened: Promise<Opened> | undefined;
    const model = () => (opened ??= open(name, source, sites));

    it("with every site off, the intervened graph gives the plain probed pass bit for bit, and transformers' forward within 1e-5", async () => {
      const m = await model();
      const seq = ref.ids.length;
      const plain = await m.plain.session.run(m.feeds(ref.ids), m.plain.outputs);
      const off = await m.intervened.session.run(
        { ...m.feeds(ref.ids), ...interventionFeeds(sites, seq, m.d) },
        m.plain.outputs,
      );
      for (const o of m.plain.outputs) expect(floatData(off[o]), o).toEqual(floatData(plain[o]));
      expect(worst(sums(m, plain, seq), ref.plain).err).toBeLessThan(1e-5);
    });

    for (const c of ref.cases) {
      it(`${c.edit.op} at ${c.point} on positions ${JSON.stringify(c.positions)}${c.dims ? ` and dimensions ${c.dims[0]}–${c.dims.at(-1)}` : ""} matches torch hooks doing the same edit within 1e-5`, async () => {
        const m = await model();
        const seq = ref.ids.length;
        const feeds = interventionFeeds(sites, seq, m.d, await interventionOf(m, c), name);
        const out = await m.intervened.session.run({ ...m.feeds(ref.ids), ...feeds }, m.plain.outputs);
        const got = sums(m, out, seq);
        const w = worst(got, c);
        expect(w.err, `worst at ${w.at}`).toBeLessThan(1e-5);
        // The edit changed the forward: a case that left it as it was could not tell a wrong edit from none.
        expect(worst(got, ref.plain).err).toBeGreaterThan(1e-3);
      });
    }
  });
}

describe("an edit a graph cannot take is refused, saying why", () => {
  it("the residual sum inside a GenAI export's fused SkipSimplifiedLayerNormalization, which normalises it before any edit could", () => {
    const { proto } = readModel(path.join(FIXTURES, "exports", "llama-genai-fp32", "model.onnx"));
    const located = locate(proto);
    expect(() => addInterventions(proto, located, ["resid_pre.1"], "genai")).toThrow(
      /cannot intervene at resid_pre\.1: it is the sum inside .*SkipLayerNorm.*normalises it before any edit could/,
    );
    expect(() => addInterventions(proto, located, ["pattern.0"], "genai")).toThrow(/residual stream's width/);
  });
});
