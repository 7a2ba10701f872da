/**
 * Probing one model: load → locate → expose → run → measure. One edited
 * session per model with every probe point as an output; each probed tensor is
 * reduced to its statistics as it arrives, in float64, and not kept past its prompt.
 */
import fs from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import type { ModelEntry } from "../models/registry/schema.js";
import { declaredLayers, declaredParallel, readModelFolder, type ModelFolder } from "../models/registry/layout.js";
import { readJsonFile } from "../models/registry/schema.js";
import { LoadError, ProbeError, ProbespecError } from "../onnx/errors.js";
import { locate, type Located } from "./locate.js";
import { foldGain, readFinalNorm, readWeight } from "./matrices.js";
import {
  allClose,
  entropy,
  frobenius,
  layerMeans,
  logitStats,
  matrixStats,
  mean,
  positionNorms,
  residualStreamStats,
  softmaxGain,
  type LogitStats,
  type MatrixStats,
  type ResidualStreamStats,
} from "./metrics.js";
import { DT, encodeModel, readModel, relocateExternalData, type OnnxModel } from "../onnx/io.js";
import { dimsOf } from "../onnx/tensor.js";
import type { ModelProto } from "onnx-buf";
import { parsePoint, point, type ProbePoint } from "./points.js";
import { createSession, type DeviceRequest, type ExecutionRecord } from "./session.js";
import { LENS_OUTPUT, probedGraph } from "./lens.js";
import { loadTokenizer, tokenize } from "./tokenizer.js";
import { PROBES_SOURCE } from "./cache.js";
import { feeder, floatData } from "./feeds.js";

export interface PromptResult {
  prompt: string;
  tokens: number;
  /** ‖resid_post.L‖ over the whole [1, seq, d] tensor. */
  residPostNorms: number[];
  /** The same without position 0. */
  residPostNormsEx0: number[];
  /** ‖resid_post.L[p]‖ per layer and position. */
  positionNorms: number[][];
  /** ‖embed‖, the residual before layer 0. */
  embedNorm: number;
  embedNormEx0: number;
  /** Residual gain of each layer: ‖resid_post.L‖ / ‖resid_pre.L‖. */
  residualGains: number[];
  residualGainsEx0: number[];
  /** Component gains: ‖attn_out.L‖ / ‖resid_pre.L‖ and ‖mlp_out.L‖ / ‖mlp_in.L‖. */
  attnGains: number[];
  mlpGains: number[];
  /** The last token's logit statistics. */
  logits: LogitStats;
  /** Logit-lens entropy of the last token after each layer: resid_post.L through the final norm and W_U. */
  lensEntropy: number[];
}

export interface ProbeResult {
  id: string;
  family: ModelEntry["family"];
  dtype: string;
  synthetic: boolean;
  role?: ModelEntry["role"];
  notes?: string;
  source: string;
  layers: number;
  d: number;
  vocab: number;
  /** Weights in the graph's initializers (int4 blocks counted two to a byte): the model's size, roughly. */
  parameters: number;
  parallel: boolean;
  tied: { value: boolean; via: string };
  execution: ExecutionRecord;
  provenance: {
    onnxFile: string;
    sha256: string;
    bytes: number;
    externalFiles: string[];
    located: string[];
    probesSource: string;
    unavailable: Located["unavailable"];
  };
  /** The readout's softmax-relevant gain (metrics.softmaxGain) of W_U_eff, and of W_U alone (without the final norm's gain). */
  softmaxGain: { W_U_eff: number; W_U: number };
  /** The notebook's numbers: matrices, and the residual and logit statistics on the notebook's prompt. */
  seed: {
    unembedding: MatrixStats;
    embedding: MatrixStats;
    unembedding_eff: MatrixStats;
    wu_we_ratio: number;
    tied_embeddings: boolean;
    residual: ResidualStreamStats;
    residualEx0: ResidualStreamStats;
    entropy: LogitStats;
  };
  prompts: PromptResult[];
  /** Per-prompt statistics averaged over the prompt set (per layer where they are per layer). */
  promptSet: {
    entropy: number;
    /** The mean entropy ÷ ln(vocab): on one scale across vocabularies (ln V bounds the raw value). */
    entropyNormalized: number;
    effective_vocab: number;
    residualGains: number[];
    residualGainsEx0: number[];
    attnGains: number[];
    mlpGains: number[];
    lensEntropy: number[];
  };
  /** Seconds spent loading, on matrices, and running prompts. */
  timings: { load: number; matrices: number; run: number };
}

export interface ProbeOptions {
  device?: DeviceRequest;
  /** The model, where the caller has already read it (for its cache key). */
  model?: OnnxModel;
  threads?: number;
  onProgress?: (message: string) => void;
}

function checkFinite(data: Float32Array, name: ProbePoint, width: number, modelId: string, prompt: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      const { kind, layer } = parsePoint(name);
      throw new ProbeError(
        modelId,
        `${Number.isNaN(data[i]) ? "NaN" : data[i] > 0 ? "+Inf" : "-Inf"} in ${name} (${kind}${layer === undefined ? "" : `, layer ${layer}`}) at position ${Math.floor(i / width)}, element ${i % width}, on prompt ${JSON.stringify(prompt.slice(0, 60))}; fp16 overflow is the usual cause`,
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

/** Float and 8-bit initializers' elements, MatMulNBits' packed 4-bit weights two to a byte; shapes and indices left out. */
function parameterCount(proto: ModelProto): number {
  const packed = new Set(proto.graph!.node.filter((n) => n.opType === "MatMulNBits").map((n) => n.input[1]));
  let n = 0;
  for (const t of proto.graph!.initializer) {
    const count = dimsOf(t).reduce((a, b) => a * b, 1);
    if ([DT.FLOAT, DT.FLOAT16, DT.BFLOAT16, DT.INT8].includes(t.dataType)) n += count;
    else if (t.dataType === DT.UINT8) n += packed.has(t.name) ? 2 * count : count;
  }
  return n;
}

export function describeSource(entry: ModelEntry): string {
  const s = entry.source as Record<string, unknown>;
  if ("dir" in s) return `dir ${s.dir}`;
  if ("hub" in s) return `hub ${s.hub}${s.revision ? `@${s.revision}` : ""}`;
  if ("analog" in s) return `analog ${s.analog}${s.dialect ? ` (${s.dialect})` : ""}`;
  if ("gguf" in s) return `GGUF ${([] as unknown[]).concat(s.gguf).join(" + ")}`;
  return `llama2.c ${s.llama2c}`;
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

  // Expose every probe point (and give fused final norms their residual sum) in one edited graph.
  const { proto: edited, outputs } = probedGraph(model.proto, located, id);
  const sha = model.sha256;
  // The edited graph goes to ORT as bytes; its external data still resolves against the user's folder, untouched.
  let session: ort.InferenceSession, execution: ExecutionRecord;
  try {
    const forOrt = relocateExternalData(edited, path.dirname(folder.onnxFile));
    ({ session, record: execution } = await createSession(encodeModel(forOrt.proto), {
      device: opts.device,
      modelId: id,
      threads: opts.threads,
      externalDataDir: forOrt.dir,
    }));
  } catch (e) {
    if (e instanceof ProbespecError) throw e;
    throw new LoadError(id, `ONNX Runtime could not create a session: ${(e as Error).message.split("\n")[0]}`, {
      cause: e,
    });
  }
  const tLoad = performance.now();

  // Matrices: W_E, W_U as [vocab, d], W_U_eff with the final norm's gain folded in.
  say(`${id}: matrix statistics (W_E, W_U, W_U_eff; Lanczos spectral norms)`);
  const modelDir = path.dirname(folder.onnxFile);
  // Two vocabulary-sized matrices at most at a time, released before the prompts run.
  const { unembedding, unembedding_eff, gains, embedding, tiedByValues } = (() => {
    const WU = readWeight(model.proto, located.W_U, modelDir, id);
    const { gain } = readFinalNorm(model.proto, located, modelDir, id);
    const unembedding = matrixStats(WU.data, WU.rows, WU.cols);
    const eff = foldGain(WU.data, WU.rows, WU.cols, gain);
    const unembedding_eff = matrixStats(eff, WU.rows, WU.cols);
    const gains = { W_U_eff: softmaxGain(eff, WU.rows, WU.cols), W_U: softmaxGain(WU.data, WU.rows, WU.cols) };
    const WE = readWeight(model.proto, located.W_E, modelDir, id);
    return {
      unembedding,
      unembedding_eff,
      gains,
      embedding: matrixStats(WE.data, WE.rows, WE.cols),
      tiedByValues: WU.rows === WE.rows && WU.cols === WE.cols && allClose(WU.data, WE.data),
    };
  })();
  const tied = {
    value: located.tiedInGraph !== undefined || tiedByValues,
    via: located.tiedInGraph ?? (tiedByValues ? "W_U equals W_E within 1e-3" : "not tied"),
  };
  const tMat = performance.now();

  const context = contextLength(folder, dir);
  const results: PromptResult[] = [];
  const feeds = feeder(located, folder.config, folder.genaiConfig, id);
  for (const [i, prompt] of prompts.entries()) {
    const ids = tokenize(tok, prompt, vocab, context, id);
    say(`${id}: prompt ${i + 1}/${prompts.length} (${ids.length} tokens)`);
    const out = await session.run(feeds(ids, prompt), outputs);
    const seq = ids.length;
    const tensor = (p: ProbePoint): Float32Array | undefined => {
      const src = located.points.get(p);
      if (!src) return undefined;
      if ("tensor" in src) {
        const data = floatData(out[src.tensor]);
        checkFinite(data, p, (data.length / seq) | 0, id, prompt);
        return data;
      }
      const [a, b] = src.minus.map((q) => tensor(q)!);
      return a.map((v, k) => v - b[k]);
    };
    const lens = floatData(out[LENS_OUTPUT]);
    const norm = (p: ProbePoint) => {
      const t = tensor(p);
      return t ? frobenius(t) : NaN;
    };
    const normEx0 = (p: ProbePoint) => {
      const t = tensor(p);
      return t ? frobenius(t.subarray(d)) : NaN;
    };
    const r: PromptResult = {
      prompt,
      tokens: seq,
      residPostNorms: [],
      residPostNormsEx0: [],
      positionNorms: [],
      embedNorm: norm("embed"),
      embedNormEx0: normEx0("embed"),
      residualGains: [],
      residualGainsEx0: [],
      attnGains: [],
      mlpGains: [],
      logits: logitStats((tensor("logits") as Float32Array).subarray((seq - 1) * vocab)),
      lensEntropy: [],
    };
    for (let L = 0; L < layers; L++) {
      const post = tensor(point("resid_post", L))!;
      r.residPostNorms.push(frobenius(post));
      r.residPostNormsEx0.push(frobenius(post.subarray(d)));
      r.positionNorms.push(positionNorms(post, d));
      r.residualGains.push(r.residPostNorms[L] / norm(point("resid_pre", L)));
      r.residualGainsEx0.push(r.residPostNormsEx0[L] / normEx0(point("resid_pre", L)));
      r.attnGains.push(norm(point("attn_out", L)) / norm(point("resid_pre", L)));
      r.mlpGains.push(norm(point("mlp_out", L)) / norm(point("mlp_in", L)));
      r.lensEntropy.push(entropy(lens.subarray(L * vocab, (L + 1) * vocab)));
    }
    results.push(r);
  }
  await session.release();
  const seedPrompt = results[0];
  return {
    id,
    family: entry.family,
    dtype: entry.dtype,
    synthetic: entry.synthetic,
    role: entry.role,
    notes: entry.notes,
    source: describeSource(entry),
    layers,
    d,
    vocab,
    parameters: parameterCount(model.proto),
    parallel: located.parallel,
    tied,
    execution,
    softmaxGain: gains,
    provenance: {
      onnxFile: folder.onnxFile,
      sha256: sha,
      bytes: fs.statSync(folder.onnxFile).size,
      externalFiles: model.externalFiles,
      located: located.summary,
      probesSource: PROBES_SOURCE,
      unavailable: located.unavailable,
    },
    seed: {
      unembedding,
      embedding,
      unembedding_eff,
      wu_we_ratio: unembedding.frobenius_norm / embedding.frobenius_norm,
      tied_embeddings: tied.value,
      residual: residualStreamStats(seedPrompt.residPostNorms),
      residualEx0: residualStreamStats(seedPrompt.residPostNormsEx0),
      entropy: seedPrompt.logits,
    },
    prompts: results,
    promptSet: {
      entropy: mean(results.map((p) => p.logits.entropy)),
      entropyNormalized: mean(results.map((p) => p.logits.entropy)) / Math.log(vocab),
      effective_vocab: mean(results.map((p) => p.logits.effective_vocab)),
      residualGains: layerMeans(results.map((p) => p.residualGains)),
      residualGainsEx0: layerMeans(results.map((p) => p.residualGainsEx0)),
      attnGains: layerMeans(results.map((p) => p.attnGains)),
      mlpGains: layerMeans(results.map((p) => p.mlpGains)),
      lensEntropy: layerMeans(results.map((p) => p.lensEntropy)),
    },
    timings: { load: (tLoad - t0) / 1000, matrices: (tMat - tLoad) / 1000, run: (performance.now() - tMat) / 1000 },
  };
}
