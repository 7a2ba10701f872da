/**
 * What a single forward pass over a prompt is fed, whatever the exporter named
 * its inputs: the ids, a mask of ones, positions 0..n-1, an empty past of the
 * model's own dtype; and what it returns, decoded by element type (fp16 outputs
 * read exactly, widened to float32).
 */
import * as ort from "onnxruntime-node";
import { TensorProto_DataType as DT } from "onnx-buf";
import { LoadError } from "../onnx/errors.js";
import { ProbeError } from "./errors.js";
import type { ExtraInput, Located } from "./locate.js";
import { halfToFloat } from "../onnx/tensor.js";

/** The config's head size: what the GenAI builder's kv_cache_dim and similar symbolic past dims stand for. */
function headSize(config: Record<string, any>, genai?: Record<string, any>): number | undefined {
  const v =
    config.head_dim ??
    genai?.model?.decoder?.head_size ??
    (config.hidden_size && config.num_attention_heads ? config.hidden_size / config.num_attention_heads : undefined);
  return typeof v === "number" && Number.isInteger(v) ? v : undefined;
}

function tensorOf(input: ExtraInput, values: ArrayLike<number>, dims: number[], modelId: string): ort.Tensor {
  switch (input.elemType) {
    case DT.INT64:
      return new ort.Tensor("int64", BigInt64Array.from(Array.from(values, BigInt)), dims);
    case DT.INT32:
      return new ort.Tensor("int32", Int32Array.from(values), dims);
    case DT.BOOL:
      return new ort.Tensor("bool", Uint8Array.from(values), dims);
    case DT.FLOAT:
      return new ort.Tensor("float32", Float32Array.from(values), dims);
    // fp16 bit patterns: only 0 (an empty past) and 1.0 (a mask), 0x3c00, are ever fed.
    case DT.FLOAT16:
      return new ort.Tensor(
        "float16",
        Uint16Array.from(values, (v) => (v === 0 ? 0 : 0x3c00)),
        dims,
      );
    default:
      throw new LoadError(
        modelId,
        `input "${input.name}" has element type ${DT[input.elemType] ?? input.elemType}; probespec feeds ${input.role} inputs as int64, int32, bool or float`,
      );
  }
}

/** A feed builder for one located model; throws up front for an input it cannot fill. */
export function feeder(
  located: Located,
  config: Record<string, any>,
  genai: Record<string, any> | undefined,
  modelId: string,
) {
  const head = headSize(config, genai);
  const pastDims = (input: ExtraInput) =>
    input.dims.map((d, k) => {
      if (typeof d === "number") return d;
      if (/batch/i.test(d) || (k === 0 && d === "")) return 1;
      if (/seq|len|past|total|cache_pos/i.test(d)) return 0;
      if (head !== undefined) return head;
      throw new LoadError(
        modelId,
        `input "${input.name}" has a symbolic dim "${d}" that is neither batch nor a length, and config.json gives no head size to fill it with`,
      );
    });
  for (const input of located.inputs.extra) {
    if (input.role === "past") pastDims(input);
    else if (input.role === "positions" && ![DT.INT64, DT.INT32].includes(input.elemType)) {
      throw new LoadError(
        modelId,
        `input "${input.name}" looks like positions but has element type ${DT[input.elemType] ?? input.elemType}; name the ids in "probePoints" or re-export with integer positions`,
      );
    }
  }
  // A static-shape export takes exactly its declared number of tokens.
  const fixed = located.inputs.idsDims[1];
  return (ids: number[], prompt = ""): Record<string, ort.Tensor> => {
    const n = ids.length;
    if (typeof fixed === "number" && fixed !== n) {
      throw new ProbeError(
        modelId,
        `input "${located.inputs.ids}" has a fixed sequence length of ${fixed} (a static-shape export), but prompt ${JSON.stringify(prompt.slice(0, 60))} is ${n} tokens; re-export with a dynamic sequence axis (torch.onnx.export's dynamic_axes or dynamic_shapes)`,
      );
    }
    const idsInput: ExtraInput = {
      name: located.inputs.ids,
      role: "positions",
      elemType: located.inputs.idsType === "int32" ? DT.INT32 : DT.INT64,
      dims: [],
    };
    const f: Record<string, ort.Tensor> = { [located.inputs.ids]: tensorOf(idsInput, ids, [1, n], modelId) };
    for (const input of located.inputs.extra) {
      // Positions and masks are [batch, seq]; a 1-D cache_position is [seq].
      const dims = input.dims.length === 1 ? [n] : [1, n];
      if (input.role === "mask")
        f[input.name] = tensorOf(
          input,
          ids.map(() => 1),
          dims,
          modelId,
        );
      else if (input.role === "positions")
        f[input.name] = tensorOf(
          input,
          ids.map((_, i) => i),
          dims,
          modelId,
        );
      else if (input.role === "segments")
        f[input.name] = tensorOf(
          input,
          ids.map(() => 0),
          dims,
          modelId,
        );
      else {
        const d = pastDims(input);
        f[input.name] = tensorOf(input, new Uint8Array(d.reduce((a, b) => a * b, 1)), d, modelId);
      }
    }
    return f;
  };
}

/** An output as float32, decoded by its element type: fp16 widened exactly. */
export function floatData(t: ort.Tensor): Float32Array {
  if (t.type === "float32") return t.data as Float32Array;
  if (t.type === "float16") {
    // onnxruntime-node hands fp16 out as Uint16Array bit patterns (or a Float16Array where the runtime has one).
    const raw = t.data as unknown;
    return raw instanceof Uint16Array
      ? Float32Array.from(raw, halfToFloat)
      : Float32Array.from(raw as ArrayLike<number>);
  }
  if (t.type === "float64") return Float32Array.from(t.data as Float64Array);
  throw new Error(`output of element type ${t.type} is not a float tensor`);
}
