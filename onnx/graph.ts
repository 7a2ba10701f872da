/**
 * A small ONNX graph builder that names nodes the way the TorchScript exporter
 * does (`/model/layers.3/Add_1`, outputs `<node>_output_0`).
 */
import { create } from "@bufbuild/protobuf";
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AT,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType as DT,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "onnx-buf";

export type AttrValue = number | number[] | { float: number } | { string: string } | TensorProto;

function attribute(name: string, v: AttrValue): AttributeProto {
  if (typeof v === "number") return create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(v) });
  if (Array.isArray(v)) return create(AttributeProtoSchema, { name, type: AT.INTS, ints: v.map(BigInt) });
  if ("float" in v) return create(AttributeProtoSchema, { name, type: AT.FLOAT, f: v.float });
  if ("string" in v)
    return create(AttributeProtoSchema, { name, type: AT.STRING, s: new TextEncoder().encode(v.string) });
  return create(AttributeProtoSchema, { name, type: AT.TENSOR, t: v });
}

export function floatTensor(name: string, dims: number[], data: ArrayLike<number>): TensorProto {
  const f = Float32Array.from(data);
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: DT.FLOAT,
    rawData: new Uint8Array(f.buffer),
  });
}

/** A tensor's data in a file: ONNX's external_data entries (location relative to the model's folder). */
export const externalEntries = (location: string, offset: number, length: number) =>
  (
    [
      ["location", location],
      ["offset", String(offset)],
      ["length", String(length)],
    ] as const
  ).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));

export function int64Tensor(name: string, dims: number[], data: number[]): TensorProto {
  const a = BigInt64Array.from(data.map(BigInt));
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: DT.INT64,
    rawData: new Uint8Array(a.buffer),
  });
}

export function uint8Tensor(name: string, dims: number[], data: Uint8Array): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: DT.UINT8,
    rawData: data as Uint8Array<ArrayBuffer>,
  });
}

/** A float16 or bfloat16 tensor from its 16-bit patterns, little-endian as ONNX's raw_data holds them. */
export function halfTensor(
  name: string,
  dims: number[],
  bits: Uint16Array,
  type: DT.FLOAT16 | DT.BFLOAT16,
): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: type,
    rawData: new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength) as Uint8Array<ArrayBuffer>,
  });
}

/** The shape input of a weight's Reshape that castPerRun derives from an activation; its surgery (foldCasts) finds it by this name. */
export const PER_RUN = "probespec::per_run_zeros";

/**
 * A weight initializer widened to float32 where it is used, on every run. ONNX Runtime 1.30 folds a Cast of an
 * initializer at load (a bf16 8192² weight, 128 MB on disk, became 256 MB of float32 in memory), and a Cast that is
 * not folded but depends on nothing runs before every other node, all of them live at once (eight 64 MB casts held
 * 576 MB). A Reshape of the weight to its own shape (zeros with allowzero 0 keep every dimension) by a shape computed
 * from the activation `after` defers both: it is not constant, so never folded, and it runs once `after` exists, so
 * each float32 copy lives for its one consumer (measured: 166 MB at the peak for the eight). `after` must have a
 * dimension not known before the run (the batch): a static shape would be folded, and the Cast with it.
 */
export function castPerRun(
  g: GraphBuilder,
  scope: string,
  weight: string,
  rank: number,
  after: string,
  zerosName = PER_RUN,
): string {
  const name = rank === 2 ? zerosName : `${zerosName}_${rank}`;
  const zeros = g.constant(name, () => int64Tensor(name, [rank], Array(rank).fill(0)));
  // [dim 0 of `after`] × rank, times zero: zeros the graph cannot know before the run.
  const shape = g.o(scope, "Mul", [g.o(scope, "Gather", [g.o(scope, "Shape", [after]), zeros], { axis: 0 }), zeros]);
  return g.o(scope, "Cast", [g.o(scope, "Reshape", [weight, shape])], { to: DT.FLOAT });
}

/** The zeros initializer of castPerRun's Reshape, where `reshape` is one (its shape input the per-run Mul); else undefined. */
export function perRunZeros(producer: ReadonlyMap<string, NodeProto>, reshape: NodeProto): string | undefined {
  if (reshape.opType !== "Reshape") return undefined;
  const mul = producer.get(reshape.input[1]);
  return mul?.opType === "Mul" ? mul.input.find((i) => i.startsWith(PER_RUN)) : undefined;
}

export function valueInfo(name: string, elemType: DT, dims: (number | string)[]): ValueInfoProto {
  const shape = create(TensorShapeProtoSchema, {
    dim: dims.map((d) =>
      create(TensorShapeProto_DimensionSchema, {
        value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : { case: "dimParam", value: d },
      }),
    ),
  });
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: { case: "tensorType", value: create(TypeProto_TensorSchema, { elemType, shape }) },
    }),
  });
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private used = new Map<string, number>();
  private folded = 0;
  private constants = new Map<string, string>();

  /** `place`, where given, takes each initializer as it is made (a converter streams weights to disk that way). */
  constructor(private readonly place?: (t: TensorProto) => TensorProto) {}

  /** `/scope/Op`, then `/scope/Op_1`, … as the TorchScript exporter numbers them. */
  nodeName(scope: string, op: string): string {
    const key = `${scope}/${op}`;
    const n = this.used.get(key) ?? 0;
    this.used.set(key, n + 1);
    return n === 0 ? key : `${key}_${n}`;
  }

  op(
    scope: string,
    opType: string,
    inputs: string[],
    opts: { attrs?: Record<string, AttrValue>; domain?: string; outputs?: number | string[]; name?: string } = {},
  ): string[] {
    const name = opts.name ?? this.nodeName(scope, opType);
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => `${name}_output_${i}`);
    this.nodes.push(
      create(NodeProtoSchema, {
        name,
        opType,
        input: inputs,
        output: outputs,
        domain: opts.domain ?? "",
        attribute: Object.entries(opts.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      }),
    );
    return outputs;
  }

  /** One-output op. */
  o(scope: string, opType: string, inputs: string[], attrs?: Record<string, AttrValue>, domain?: string): string {
    return this.op(scope, opType, inputs, { attrs, domain })[0];
  }

  init(t: TensorProto): string {
    this.initializers.push(this.place ? this.place(t) : t);
    return t.name;
  }

  /** A constant folded by the exporter: named `onnx::<Consumer>_<n>`. */
  folded_(consumer: string, dims: number[], data: ArrayLike<number>): string {
    return this.init(floatTensor(`onnx::${consumer}_${++this.folded + 1000}`, dims, data));
  }

  /** Shared scalar / vector constants, deduplicated by value. */
  scalar(v: number): string {
    return this.constOf(`f:${v}`, () => floatTensor(`const_f_${this.constants.size}`, [], [v]));
  }

  ints(v: number[]): string {
    return this.constOf(`i:${v.join(",")}`, () => int64Tensor(`const_i_${this.constants.size}`, [v.length], v));
  }

  /** A named constant made once, whoever asks for it first. */
  constant(name: string, make: () => TensorProto): string {
    return this.constOf(`n:${name}`, make);
  }

  private constOf(key: string, make: () => TensorProto): string {
    let name = this.constants.get(key);
    if (!name) {
      name = this.init(make());
      this.constants.set(key, name);
    }
    return name;
  }

  model(opsets: Record<string, number>, producer = "probespec-analog"): ModelProto {
    return create(ModelProtoSchema, {
      irVersion: 8n,
      producerName: producer,
      producerVersion: "1",
      opsetImport: Object.entries(opsets).map(([domain, version]) =>
        create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }),
      ),
      graph: create(GraphProtoSchema, {
        name: "main_graph",
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
  }
}

export { DT };
