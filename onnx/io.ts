/**
 * Reading and writing ModelProto. onnx-buf (protobuf-es over onnx.proto3) keeps
 * fields it does not know and re-encodes real exports byte for byte (DESIGN.md,
 * "Real exports we must read"); onnx-proto 8 drops NodeProto.metadata_props.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ModelProtoSchema,
  TensorProto_DataType as DT,
  type ModelProto,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "onnx-buf";
import { LoadError, formatBytes } from "./errors.js";
import { checkExternalData, externalRef } from "./tensor.js";

export interface OnnxModel {
  proto: ModelProto;
  /** The .onnx file it came from. */
  file: string;
  /** External data files the model references, already checked for size. */
  externalFiles: string[];
  /** sha256 of the .onnx file's bytes. */
  sha256: string;
}

export function decodeModel(bytes: Uint8Array, modelId?: string, file = "model"): ModelProto {
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new LoadError(
      modelId,
      `${path.basename(file)} (${formatBytes(bytes.byteLength)}) is not a readable ONNX model: ${(e as Error).message}; the file looks truncated or is not ONNX`,
      { cause: e },
    );
  }
  const g = proto.graph;
  if (!g || g.node.length === 0 || proto.irVersion === 0n) {
    throw new LoadError(
      modelId,
      `${path.basename(file)} (${formatBytes(bytes.byteLength)}) decodes to no ONNX graph (ir_version ${proto.irVersion}, ${g?.node.length ?? 0} nodes); the file looks truncated or is not ONNX`,
    );
  }
  return proto;
}

export function encodeModel(proto: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, proto);
}

/** Reads an .onnx file and checks its external data before anything else touches it. */
export function readModel(file: string, modelId?: string): OnnxModel {
  let bytes: Uint8Array;
  try {
    if (fs.statSync(file).isDirectory()) throw new LoadError(modelId, `${file} is a folder, not an ONNX file`);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof LoadError) throw e;
    throw new LoadError(modelId, `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  const proto = decodeModel(bytes, modelId, file);
  const externalFiles = checkExternalData(proto.graph!.initializer, path.dirname(file), modelId);
  return { proto, file, externalFiles, sha256: crypto.createHash("sha256").update(bytes).digest("hex") };
}

export function opsetVersion(proto: ModelProto, domain = ""): number {
  const o = proto.opsetImport.find((x) => (x.domain ?? "") === domain || (domain === "" && x.domain === "ai.onnx"));
  return o ? Number(o.version) : 0;
}

/** Name → node that produces it, name → nodes that consume it, name → initializer. */
export interface GraphIndex {
  producer: Map<string, NodeProto>;
  consumers: Map<string, NodeProto[]>;
  initializer: Map<string, TensorProto>;
  valueInfo: Map<string, ValueInfoProto>;
}

export function indexGraph(g: GraphProto): GraphIndex {
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const n of g.node) {
    for (const o of n.output) if (o) producer.set(o, n);
    for (const i of n.input) {
      if (!i) continue;
      const list = consumers.get(i);
      if (list) list.push(n);
      else consumers.set(i, [n]);
    }
  }
  const valueInfo = new Map<string, ValueInfoProto>();
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) valueInfo.set(v.name, v);
  return { producer, consumers, initializer: new Map(g.initializer.map((t) => [t.name, t])), valueInfo };
}

export function attr(node: NodeProto, name: string): number | undefined {
  const a = node.attribute.find((x) => x.name === name);
  if (!a) return undefined;
  if (a.type === 1 /* FLOAT */) return a.f;
  return Number(a.i);
}

export { DT };

/**
 * The edited graph goes to ONNX Runtime as bytes, with a folder its external data
 * resolves against. ORT refuses data whose real path leaves that folder, and the
 * HuggingFace cache keeps every file as a symlink into ../../blobs/: so where a
 * data file's real path lies outside the model's folder, the copy handed to ORT
 * names it relative to the nearest folder holding both. Only that in-memory copy
 * changes; the links' own locations were already checked to stay in the folder.
 */
export function relocateExternalData(proto: ModelProto, modelDir: string): { proto: ModelProto; dir: string } {
  const real = new Map<string, string>();
  for (const t of proto.graph!.initializer) {
    const ref = externalRef(t);
    if (ref && !real.has(ref.location)) real.set(ref.location, fs.realpathSync(path.resolve(modelDir, ref.location)));
  }
  const home = fs.realpathSync(modelDir);
  const inside = (f: string) => !path.relative(home, f).startsWith("..");
  if ([...real.values()].every(inside)) return { proto, dir: modelDir };
  let base = home;
  while (![...real.values()].every((f) => !path.relative(base, f).startsWith(".."))) base = path.dirname(base);
  const initializer = proto.graph!.initializer.map((t) => {
    const ref = externalRef(t);
    if (!ref) return t;
    const location = path.relative(base, real.get(ref.location)!);
    return { ...t, externalData: t.externalData.map((e) => (e.key === "location" ? { ...e, value: location } : e)) };
  });
  return { proto: { ...proto, graph: { ...proto.graph!, initializer } }, dir: base };
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir spins forever under /proc. Another process
 * (a shard beside this one, on a shared store) may make a level between the look and the mkdir: a
 * folder that is there by then is what was asked for.
 */
export function makeDir(dir: string): void {
  const missing: string[] = [];
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && path.dirname(d) !== d) {
    missing.push(d);
    d = path.dirname(d);
  }
  for (const m of missing.reverse())
    try {
      fs.mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !fs.statSync(m).isDirectory()) throw e;
    }
}

/** The path with its existing part's symlinks resolved: where a write would really land. */
function realTarget(p: string): string {
  const abs = path.resolve(p);
  return fs.existsSync(abs) ? fs.realpathSync(abs) : path.join(realTarget(path.dirname(abs)), path.basename(abs));
}

/**
 * The first of `models` whose folder holds `dir` (or is it), links resolved: where probespec may not write. A user's
 * model folder holds their own files (results.json, runs/, config.json…) that a write there could replace or prune.
 */
export function modelFolderHolding<M extends { id: string; dir: string }>(
  dir: string,
  models: readonly M[],
): M | undefined {
  const target = realTarget(dir);
  return models.find((m) => {
    if (!fs.existsSync(m.dir)) return false;
    const rel = path.relative(fs.realpathSync(m.dir), target);
    return rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
  });
}
