/**
 * Graph surgery: expose named tensors as graph outputs, give a node an optional
 * output it left empty. Edits make shallow copies: the user's files are never
 * written, and the edited graph reaches ONNX Runtime as bytes (see session.ts).
 */
import { create } from "@bufbuild/protobuf";
import {
  TensorProto_DataType as DT,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type ModelProto,
  type NodeProto,
} from "onnx-buf";
import { attr, indexGraph, type GraphIndex } from "./io.js";

/** Ops whose output element type is not their first input's. */
const FIXED_OUTPUT_TYPE: Record<string, DT | ((n: NodeProto, i: number) => DT | undefined)> = {
  Shape: DT.INT64,
  Size: DT.INT64,
  ArgMax: DT.INT64,
  ArgMin: DT.INT64,
  NonZero: DT.INT64,
  Equal: DT.BOOL,
  Less: DT.BOOL,
  Greater: DT.BOOL,
  LessOrEqual: DT.BOOL,
  GreaterOrEqual: DT.BOOL,
  Not: DT.BOOL,
  And: DT.BOOL,
  Or: DT.BOOL,
  IsNaN: DT.BOOL,
  IsInf: DT.BOOL,
  Cast: (n) => attr(n, "to") as DT,
  ConstantOfShape: (n) => n.attribute.find((a) => a.name === "value")?.t?.dataType ?? DT.FLOAT,
  Constant: (n) => n.attribute.find((a) => a.name === "value")?.t?.dataType,
  // Output 1 is the mask index; the others are float like the word embedding (input 2).
  EmbedLayerNormalization: (_n, i) => (i === 1 ? DT.INT32 : undefined),
};

/** The input whose element type an op passes on, where it is not input 0 (GatherBlockQuantized: its scales', input 0 being integer codes). */
const DATA_INPUT: Record<string, number> = { Where: 1, EmbedLayerNormalization: 2, GatherBlockQuantized: 2 };

function typeOfValueInfo(idx: GraphIndex, name: string): DT | undefined {
  const v = idx.valueInfo.get(name);
  if (v?.type?.value.case === "tensorType") return v.type.value.value.elemType as DT;
  return idx.initializer.get(name)?.dataType as DT | undefined;
}

/** The element type of a tensor: from value_info, or inferred through its producers. */
export function elementType(idx: GraphIndex, name: string, seen = new Set<string>()): DT | undefined {
  const known = typeOfValueInfo(idx, name);
  if (known) return known;
  if (seen.has(name)) return undefined;
  seen.add(name);
  const node = idx.producer.get(name);
  if (!node) return undefined;
  const fixed = FIXED_OUTPUT_TYPE[node.opType];
  if (typeof fixed === "number") return fixed;
  if (typeof fixed === "function") {
    const t = fixed(node, node.output.indexOf(name));
    if (t !== undefined) return t;
  }
  // Other ops carry the element type of their data input through.
  const data = node.input[DATA_INPUT[node.opType] ?? 0];
  return data ? elementType(idx, data, seen) : undefined;
}

function tensorValueInfo(name: string, elemType: DT) {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: { case: "tensorType", value: create(TypeProto_TensorSchema, { elemType }) },
    }),
  });
}

/**
 * A shallow copy of the model with `names` added as graph outputs. Copies share
 * initializer data with the original: nothing large is duplicated.
 */
export function exposeOutputs(proto: ModelProto, names: readonly string[], modelId?: string): ModelProto {
  const g = proto.graph!;
  const idx = indexGraph(g);
  const present = new Set(g.output.map((o) => o.name));
  const added = [];
  for (const name of names) {
    if (present.has(name)) continue;
    if (!idx.producer.has(name) && !idx.initializer.has(name) && !g.input.some((i) => i.name === name)) {
      throw new Error(`${modelId ? `model "${modelId}": ` : ""}cannot expose "${name}": no node produces it`);
    }
    const t = elementType(idx, name);
    if (t === undefined)
      throw new Error(`${modelId ? `model "${modelId}": ` : ""}cannot expose "${name}": its element type is unknown`);
    added.push(tensorValueInfo(name, t));
    present.add(name);
  }
  return { ...proto, graph: { ...g, output: [...g.output, ...added] } };
}

/**
 * Gives `node` output number `index` (an optional output it left empty, such as
 * the residual sum of a fused SkipSimplifiedLayerNormalization) under `name`.
 */
export function setOptionalOutput(proto: ModelProto, nodeName: string, index: number, name: string): ModelProto {
  const g = proto.graph!;
  const node = g.node.find((n) => n.name === nodeName);
  if (!node) throw new Error(`no node named "${nodeName}"`);
  const outputs = [...node.output];
  while (outputs.length <= index) outputs.push("");
  if (outputs[index] && outputs[index] !== name) return proto; // already produced under another name
  outputs[index] = name;
  const edited = { ...node, output: outputs };
  return { ...proto, graph: { ...g, node: g.node.map((n) => (n === node ? edited : n)) } };
}
