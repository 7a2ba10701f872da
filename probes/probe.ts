/**
 * Probing one model: load → locate → expose → run → measure. One edited session
 * per model, whose outputs are the selected measures' in-graph reductions (and any
 * point a measure reads whole); each prompt's outputs are finished in float64 as
 * they arrive and not kept past the prompt. A reduction that is not finite sends
 * the prompt through a session exposing every point read, to name the first point,
 * position and element where the value went wrong.
 */
import fs from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import type { ModelEntry } from "../models/registry/schema.js";
import { describeSource } from "../models/registry/sources.js";
import { declaredLayers, declaredParallel, readModelFolder, type ModelFolder } from "../models/registry/layout.js";
import { readJsonFile } from "../models/registry/schema.js";
import { LoadError, ProbespecError } from "../onnx/errors.js";
import { ProbeError } from "./errors.js";
import { locate, type Located } from "./locate.js";
import { weightView } from "./matrix-graphs.js";
import {
  isWeightMeasure,
  meanValue,
  type MeasureResult,
  type PromptMeasure,
  type PromptView,
  type Reduction,
  type Value,
} from "./measures/measure.js";
import { loadMeasures, pick } from "./measures/registry.js";
import { DT, encodeModel, indexGraph, readModel, relocateExternalData, type OnnxModel } from "../onnx/io.js";
import { through } from "./locate/weights.js";
import { dimsOf } from "../onnx/tensor.js";
import type { ModelProto } from "onnx-buf";
import { parsePoint, type ProbePoint } from "./points.js";
import {
  cpuComputeNodes,
  createSession,
  resolveProvider,
  removeProfiles,
  type DeviceRequest,
  type ExecutionRecord,
  type SessionOptions,
} from "./session.js";
import { LENS_OUTPUT, lensOutput } from "./lens.js";
import { planReads, probedGraph, reductionOutput, type ReadPlan } from "./probed-graph.js";
import { loadTokenizer, tokenize } from "./tokenizer.js";
import { PROBES_SOURCE } from "./cache.js";
import type { ProbeResult } from "./result-schema.js";
import { feeder, floatData } from "./feeds.js";
import { forkFeeds, interventionKey, siteProblem, type Intervention } from "./intervene.js";
import { weightForm, weightsAsRun, widenedWeights } from "./weight-form.js";

export interface PromptResult {
  prompt: string;
  tokens: number;
}

/** A model's result: its type is its schema's (result-schema.ts), the one every cached result is parsed by. */
export type { ProbeResult };

export interface ProbeOptions {
  device?: DeviceRequest;
  /** The model, where the caller has already read it (for its cache key). */
  model?: OnnxModel;
  threads?: number;
  onProgress?: (message: string) => void;
  /** ONNX Runtime options on top of probespec's (SessionOptions.ort). */
  ort?: SessionOptions["ort"];
  /** The measures to take, by name; every measure in probes/measures/ by default. */
  measures?: readonly string[];
}

/** Names the first non-finite element of a point's tensor; in a float16 graph, overflow is the usual cause and is said. */
/** The measures one pass serves: the plain forward's, or one intervention's, computed by a fork of the graph. */
interface Pass {
  intervention?: Intervention;
  measures: PromptMeasure[];
  /** The fork's name in the graph. */
  tag?: string;
  graph?: ReadPlan["graph"];
  located?: Located;
}

function checkFinite(
  data: Float32Array,
  name: ProbePoint,
  width: number,
  modelId: string,
  prompt: string,
  fp16: boolean,
): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      const { kind, layer } = parsePoint(name);
      throw new ProbeError(
        modelId,
        `${Number.isNaN(data[i]) ? "NaN" : data[i] > 0 ? "+Inf" : "-Inf"} in ${name} (${kind}${layer === undefined ? "" : `, layer ${layer}`}) at position ${Math.floor(i / width)}, element ${i % width}, on prompt ${JSON.stringify(prompt.slice(0, 60))}${fp16 ? "; fp16 overflow is the usual cause" : ""}`,
      );
    }
  }
}

/**
 * The longest prompt the model takes: config.json's max_position_embeddings (n_positions,
 * context_length), genai_config.json's context_length, else tokenizer_config.json's
 * model_max_length (where it is a real limit, not transformers' 1e30 placeholder).
 */
function contextLength(folder: ModelFolder, dir: string): number | undefined {
  const c = folder.config as Record<string, unknown>;
  const fromTokenizer = () => {
    const f = path.join(dir, "tokenizer_config.json");
    const v = fs.existsSync(f) ? (readJsonFile(f) as Record<string, unknown>).model_max_length : undefined;
    return typeof v === "number" && v < 1e9 ? v : undefined;
  };
  const v =
    c.max_position_embeddings ??
    c.n_positions ??
    c.context_length ??
    folder.genaiConfig?.model?.context_length ??
    fromTokenizer();
  return typeof v === "number" && v > 0 ? v : undefined;
}

/**
 * Float and 8-bit initializers' elements, 4-bit planes two to a byte: a weight's further planes on the same
 * scales (onnx/nbits.ts) hold no further parameters. Shapes and indices left out.
 */
function parameterCount(proto: ModelProto): number {
  const idx = indexGraph(proto.graph!);
  const scalesOf = new Map<string, string>(); // a 4-bit plane → its scales
  for (const n of proto.graph!.node) {
    if (n.opType === "MatMulNBits") scalesOf.set(n.input[1], n.input[2]);
    if (n.opType === "GatherBlockQuantized")
      scalesOf.set(through(idx, n.input[0], ["Reshape", "Identity"]), n.input[2]);
  }
  const counted = new Set<string>(); // scales whose weight is counted
  let n = 0;
  for (const t of proto.graph!.initializer) {
    const count = dimsOf(t).reduce((a, b) => a * b, 1);
    const scales = scalesOf.get(t.name);
    if ([DT.FLOAT, DT.FLOAT16, DT.BFLOAT16, DT.INT8].includes(t.dataType)) n += count;
    else if (t.dataType === DT.UINT8 && scales === undefined) n += count;
    else if (t.dataType === DT.UINT8 && !counted.has(scales!)) n += (counted.add(scales!), 2 * count);
  }
  return n;
}

export async function probeModel(
  entry: ModelEntry,
  dir: string,
  prompts: readonly string[],
  opts: ProbeOptions,
): Promise<ProbeResult> {
  const id = entry.id;
  const say = opts.onProgress ?? (() => {});
  const t0 = performance.now();
  const folder = readModelFolder(dir, entry);
  say(`${id}: reading ${path.relative(process.cwd(), folder.onnxFile) || folder.onnxFile}`);
  const model = opts.model ?? readModel(folder.onnxFile, id);
  const tok = loadTokenizer(dir, id);
  const located = locate(model.proto, {
    modelId: id,
    declaredLayers: declaredLayers(folder),
    declaredParallel: declaredParallel(folder),
    overrides: entry.probePoints,
  });
  const { layers, d, vocab } = located;

  // The measures asked for, and what they read: only those reductions (and points read whole) leave the session,
  // as with TransformerLens' names_filter.
  const all = await loadMeasures();
  const selected = pick(all, opts.measures ?? all.map((m) => m.name));
  const measures: Record<string, MeasureResult> = {};
  const plan = planReads(selected, located);
  for (const { measure: m, point: p, reason } of plan.unavailable) {
    measures[m.name] = { unit: m.unit, unavailable: `${p} is unavailable: ${reason}` };
  }
  const { taken, reads } = plan;
  const sessionOf = async (
    graph: ModelProto,
    placement = false,
  ): Promise<{ session: ort.InferenceSession; execution: ExecutionRecord; profileFilePrefix?: string }> => {
    // The edited graph goes to ORT as bytes; its external data still resolves against the user's folder, untouched.
    try {
      const forOrt = relocateExternalData(graph, path.dirname(folder.onnxFile));
      const { session, record, profileFilePrefix } = await createSession(encodeModel(forOrt.proto), {
        device: opts.device,
        modelId: id,
        threads: opts.threads,
        externalDataDir: forOrt.dir,
        ort: opts.ort,
        placement,
      });
      return { session, execution: record, profileFilePrefix };
    } catch (e) {
      if (e instanceof ProbespecError) throw e;
      throw new LoadError(id, `ONNX Runtime could not create a session: ${(e as Error).message.split("\n")[0]}`, {
        cause: e,
      });
    }
  };
  // The weight measures, reduced by ONNX Runtime over W_E and W_U as [vocab, d] (W_U_eff: the final norm's
  // gain folded in), before the model's session is made: the matrices and the model are never held together.
  say(`${id}: weight measures (W_E, W_U, W_U_eff; Lanczos spectral norms)`);
  const weights = weightView(model.proto, located, path.dirname(folder.onnxFile), {
    threads: opts.threads,
    modelId: id,
  });
  let tiedByValues: boolean;
  try {
    for (const m of selected.filter(isWeightMeasure))
      measures[m.name] = { unit: m.unit, value: await m.weights(weights.view) };
    tiedByValues = located.tiedInGraph === undefined && (await weights.tiedByValues());
  } finally {
    await weights.release();
  }
  const tied = {
    value: located.tiedInGraph !== undefined || tiedByValues,
    via: located.tiedInGraph ?? (tiedByValues ? "W_U equals W_E within 1e-3" : "not tied"),
  };
  const tMat = performance.now();

  // One pass a prompt: the plain measures, and each distinct intervention a measure asks for as a fork of the graph
  // downstream of its site (probes/intervene.ts), computed in the same run.
  const passes = new Map<string, Pass>([["", { measures: [] }]]);
  const index = indexGraph(model.proto.graph!);
  for (const m of [...taken]) {
    const intervention = m.intervention?.(located);
    // An edit the graph cannot take (a fused norm's inner sum) leaves that measure unavailable, not the model.
    const why = intervention && siteProblem(index, located, intervention.point);
    if (why) {
      measures[m.name] = {
        unit: m.unit,
        unavailable: `an intervention at ${intervention.point} is impossible: ${why}`,
      };
      taken.splice(taken.indexOf(m), 1);
      continue;
    }
    const key = intervention ? interventionKey(intervention) : "";
    if (!passes.has(key)) passes.set(key, { intervention, measures: [], tag: `intervene${passes.size - 1}` });
    passes.get(key)!.measures.push(m);
  }
  for (const pass of passes.values()) pass.graph = planReads(pass.measures, located).graph;
  const forkPasses = [...passes.values()].filter((p) => p.intervention);
  const plainPass = passes.get("")!;
  const {
    proto: edited,
    outputs,
    located: forkLocated,
  } = probedGraph(
    model.proto,
    located,
    id,
    plainPass.graph,
    forkPasses.map((p) => ({ ...p.graph!, tag: p.tag!, point: p.intervention!.point })),
    // The reductions use only kernels the session's provider has (resolved once a process, as createSession would).
    await resolveProvider(opts.device ?? "auto"),
  );
  plainPass.located = located;
  forkPasses.forEach((p, k) => (p.located = forkLocated[k]));
  const sha = model.sha256;
  const { session, execution, profileFilePrefix } = await sessionOf(edited, true);
  const tLoad = performance.now();

  let released = false;
  const release = async () => {
    if (!released) {
      released = true;
      await session.release();
      if (profileFilePrefix) removeProfiles(profileFilePrefix);
    }
  };
  const body = await (async () => {
    try {
      const context = contextLength(folder, dir);
      // A float16 graph computes in float16; float16 weights widened on each run (weight-form.ts) compute in float32.
      const widened = widenedWeights(model.proto);
      const fp16 = model.proto.graph!.initializer.some((t) => t.dataType === DT.FLOAT16 && !widened.has(t.name));
      const results: PromptResult[] = [];
      const perPrompt = new Map<string, Value[]>(taken.map((m) => [m.name, []]));
      const plainFeeds = feeder(located, folder.config, folder.genaiConfig, id);
      /** A point's whole tensor from a session's outputs, decoded and checked finite once; a fused branch is the difference of its two sums. */
      const wholeTensors = (
        out: ort.InferenceSession.OnnxValueMapType,
        seq: number,
        prompt: string,
        points: Located["points"],
      ) => {
        const seen = new Map<ProbePoint, Float32Array>();
        const tensor = (p: ProbePoint): Float32Array => {
          let t = seen.get(p);
          if (t) return t;
          const src = points.get(p);
          if (!src) throw new ProbeError(id, `${p} is not located`);
          if ("tensor" in src) {
            t = floatData(out[src.tensor]);
            checkFinite(t, p, (t.length / seq) | 0, id, prompt, fp16);
          } else {
            const [a, b] = src.minus.map(tensor);
            t = a.map((v, k) => v - b[k]);
          }
          seen.set(p, t);
          return t;
        };
        return tensor;
      };
      /**
       * A reduction was not finite: the prompt runs again with every point the measures read (and the embedding)
       * exposed whole, to name the first, in stream order, where a NaN or Inf appears. The probing session is
       * released first, so that two copies of the model are never held at once.
       */
      const diagnose = async (ids: number[], prompt: string, output: string): Promise<never> => {
        await release();
        const read = new Set(plainPass.graph!.reductions.map((r) => r.point));
        const whole = plainPass.graph!.points;
        const points = [...located.points.keys()].filter((p) => p === "embed" || read.has(p) || whole.includes(p));
        const what = output === LENS_OUTPUT ? "the logit lens" : `${output.replace(/^probespec::(\w+)::/, "$1 of ")}`;
        const where = `on prompt ${JSON.stringify(prompt.slice(0, 60))}`;
        let full;
        try {
          full = await sessionOf(probedGraph(model.proto, located, id, { points, lens: false }).proto);
        } catch (e) {
          throw new ProbeError(
            id,
            `${what} is not a finite number ${where}; the session that would name the point could not be created: ${(e as Error).message}`,
          );
        }
        try {
          const tensor = wholeTensors(
            await full.session.run(plainFeeds(ids, prompt), undefined),
            ids.length,
            prompt,
            located.points,
          );
          for (const p of points) tensor(p);
        } finally {
          await full.session.release();
        }
        throw new ProbeError(
          id,
          `${what} is not a finite number ${where}, though every tensor it reads is: ${output === LENS_OUTPUT ? "the lens overflowed float32" : "a float32 overflow of the reduction"}`,
        );
      };
      let returnedBytes = 0;
      for (const [i, prompt] of prompts.entries()) {
        const ids = tokenize(tok, prompt, vocab, context, id);
        say(`${id}: prompt ${i + 1}/${prompts.length} (${ids.length} tokens)`);
        const seq = ids.length;
        const feeds = { ...plainFeeds(ids, prompt) };
        for (const p of forkPasses) Object.assign(feeds, forkFeeds(p.tag!, seq, d, p.intervention, id));
        const out = await session.run(feeds, outputs);
        if (i === 0 && profileFilePrefix) {
          // Nothing falls back to the CPU silently: an explicit device refuses it, auto records it.
          const onCpu = await cpuComputeNodes(session, profileFilePrefix, d);
          const what = `${onCpu.length} node${onCpu.length > 1 ? "s" : ""} of the model's compute ran on the CPU, not on ${execution.provider}: ${onCpu.slice(0, 8).join(", ")}${onCpu.length > 8 ? ", …" : ""}`;
          if (onCpu.length && execution.requested !== "auto")
            throw new LoadError(
              id,
              `${what}; an explicit device never falls back silently (PROBESPEC_DEVICE=auto lets them run there and records it)`,
            );
          if (onCpu.length) execution.cpuFallback = what;
        }
        returnedBytes = Math.max(
          returnedBytes,
          outputs.reduce((n, o) => n + ((out[o]?.data as ArrayBufferView | undefined)?.byteLength ?? 0), 0),
        );
        for (const pass of passes.values()) {
          const { reductions, points: whole, lens: lensNeeded } = pass.graph!;
          const notFinite = async (output: string) => {
            if (!pass.intervention) return diagnose(ids, prompt, output);
            const what = `${output.replace(/^probespec::(\w+)::([^:]+).*/, "$1 of $2")}`;
            throw new ProbeError(
              id,
              `${what} under the intervention at ${pass.intervention.point} (${pass.intervention.edit.op}) is not a finite number on prompt ${JSON.stringify(prompt.slice(0, 60))}`,
            );
          };
          // Every reduction is checked finite and finished (sums of squares in float64) before a measure reads it.
          const reduced = new Map<string, Float32Array | Float64Array>();
          for (const r of reductions) {
            const name = reductionOutput(r, pass.tag);
            const data = floatData(out[name]);
            if (!data.every(Number.isFinite)) await notFinite(name);
            if (r.as !== "sumsq") reduced.set(reductionOutput(r), data);
            else {
              const parts = data.length / seq;
              reduced.set(
                reductionOutput(r),
                Float64Array.from({ length: seq }, (_, q) => {
                  let sum = 0;
                  for (let k = q * parts; k < (q + 1) * parts; k++) sum += data[k];
                  return sum;
                }),
              );
            }
          }
          const tensor = wholeTensors(out, seq, prompt, pass.located!.points);
          const lensOut = lensNeeded ? floatData(out[lensOutput(pass.tag)]) : undefined;
          if (lensOut && !lensOut.every(Number.isFinite)) await notFinite(lensOutput(pass.tag));
          const view = {
            layers,
            d,
            vocab,
            seq,
            read: (p: ProbePoint, as: Reduction) => {
              const name = reductionOutput({ point: p, as });
              if (!reads.has(name))
                throw new ProbeError(id, `a measure read ${p} as ${as}, which its points() did not name`);
              return as === "whole" ? tensor(p) : reduced.get(name)!;
            },
            lens: (L: number) => {
              if (!lensOut) throw new ProbeError(id, `a measure read the logit lens, which its points() did not name`);
              return lensOut.subarray(L * vocab, (L + 1) * vocab);
            },
          } as PromptView;
          for (const p of whole) tensor(p);
          for (const m of pass.measures) perPrompt.get(m.name)!.push(m.reduce(view));
        }
        results.push({ prompt, tokens: seq });
      }
      // 16-bit weights widened per run: said, and their logits held to the float32 forward of the same weights on
      // the first prompt, the probing session released first so that two copies of the model are never held at once.
      await release();
      const logitsName = (model.proto.graph!.output.find((o) => o.name === "logits") ?? model.proto.graph!.output[0])
        .name;
      const form = prompts.length
        ? await weightForm(model.proto, async (graph) => {
            const ids = tokenize(tok, prompts[0], vocab, context, id);
            const s = await sessionOf(graph);
            try {
              const out = await s.session.run(plainFeeds(ids, prompts[0]), [logitsName]);
              return { logits: floatData(out[logitsName]), tokens: ids.length };
            } finally {
              await s.session.release();
            }
          })
        : undefined;
      return { results, perPrompt, returnedBytes, form };
    } finally {
      // Whatever failed, the session (on a GPU, the model's device memory) is released before the next model.
      await release();
    }
  })();
  const { results, perPrompt, returnedBytes, form } = body;
  for (const m of taken) {
    const values = perPrompt.get(m.name)!;
    measures[m.name] = { unit: m.unit, value: (m.aggregate ?? meanValue)(values), perPrompt: values };
  }
  return {
    id,
    family: entry.family,
    dtype: entry.dtype,
    weightForm: weightsAsRun(model.proto, folder.config, form),
    synthetic: entry.synthetic,
    role: entry.role,
    notes: entry.notes,
    ...(entry.training && { training: entry.training }),
    source: describeSource(entry),
    layers,
    d,
    vocab,
    parameters: parameterCount(model.proto),
    parallel: located.parallel,
    tied,
    execution,
    provenance: {
      onnxFile: folder.onnxFile,
      sha256: sha,
      bytes: fs.statSync(folder.onnxFile).size,
      externalFiles: model.externalFiles,
      located: located.summary,
      probesSource: PROBES_SOURCE,
      unavailable: located.unavailable,
      ...(form && { weights: form }),
    },
    measures,
    prompts: results,
    timings: { matrices: (tMat - t0) / 1000, load: (tLoad - tMat) / 1000, run: (performance.now() - tLoad) / 1000 },
    returnedBytes,
  };
}
