/**
 * The weight matrices the probes measure, read from initializers and handed on
 * as [vocab, d] Float32Array whatever the graph stores: folded [d, vocab],
 * Gemm transB, a Transpose of a tied embedding, or MatMulNBits int4 planes.
 */
import type { ModelProto, TensorProto } from "onnx-buf";
import { dequantizeNbits, transpose } from "../onnx/int4.js";
import { LocateError } from "./errors.js";
import type { Located, WeightRef } from "./locate.js";
import { indexGraph, type GraphIndex } from "../onnx/io.js";
import { dimsOf, toFloat32, toInts } from "../onnx/tensor.js";

export function readWeight(
  proto: ModelProto,
  ref: WeightRef,
  modelDir: string,
  modelId?: string,
): { data: Float32Array; rows: number; cols: number } {
  const idx = indexGraph(proto.graph!);
  const t = idx.initializer.get(ref.initializer);
  if (!t) throw new LocateError(modelId, `initializer "${ref.initializer}" is not in the graph`);
  if (ref.layout === "matmulnbits") {
    const scalesT = idx.initializer.get(ref.scales!);
    if (!scalesT || !ref.K || !ref.N || !ref.blockSize)
      throw new LocateError(
        modelId,
        `MatMulNBits weight "${ref.initializer}" lacks its scales or K/N/block_size attributes`,
      );
    const ints = (name: string) => {
      const c = idx.initializer.get(name);
      if (!c)
        throw new LocateError(modelId, `the MatMulNBits parameter "${name}" of "${t.name}" is not an initializer`);
      return toInts(c, modelDir, modelId);
    };
    const planes = (ref.planes ?? [{ initializer: ref.initializer, factor: 1 }]).map((p) => ({
      packed: ints(p.initializer),
      factor: p.factor,
    }));
    const data = dequantizeNbits(planes, toFloat32(scalesT, modelDir, modelId), ref.N, ref.K, ref.blockSize, {
      zeroPoints: ref.zeroPoints ? ints(ref.zeroPoints) : undefined,
      offsets: ref.offsets ? toFloat32(idx.initializer.get(ref.offsets)!, modelDir, modelId) : undefined,
      offsetsT: ref.offsetsT ? toFloat32(idx.initializer.get(ref.offsetsT)!, modelDir, modelId) : undefined,
    });
    return { data, rows: ref.N, cols: ref.K };
  }
  const [a, b] = dimsOf(t);
  const data = ref.dequantize ? dequantize(idx, t, ref.dequantize, modelDir, modelId) : toFloat32(t, modelDir, modelId);
  return ref.layout === "vocab_d" ? { data, rows: a, cols: b } : { data: transpose(data, a, b), rows: b, cols: a };
}

/** quantize_dynamic's tables: (q − zero point) × scale, one scale per tensor or per column. */
function dequantize(
  idx: GraphIndex,
  t: TensorProto,
  dq: NonNullable<WeightRef["dequantize"]>,
  modelDir: string,
  modelId?: string,
): Float32Array {
  const cols = dimsOf(t)[1];
  const get = (name: string) => {
    const c = idx.initializer.get(name);
    if (!c)
      throw new LocateError(modelId, `the dequantisation parameter "${name}" of "${t.name}" is not an initializer`);
    return c;
  };
  const q = toInts(t, modelDir, modelId),
    scale = toFloat32(get(dq.scale), modelDir, modelId);
  const zp = dq.zeroPoint ? toInts(get(dq.zeroPoint), modelDir, modelId) : [0];
  const data = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) {
    const c = scale.length === 1 ? 0 : i % cols;
    data[i] = (q[i] - zp[zp.length === 1 ? 0 : c]) * scale[c];
  }
  return data;
}

/** The final norm's gain (and bias) as the graph applies them. */
export function readFinalNorm(
  proto: ModelProto,
  located: Located,
  modelDir: string,
  modelId?: string,
): { gain: Float32Array; bias?: Float32Array } {
  const idx = indexGraph(proto.graph!);
  const get = (name: string) => {
    const t = idx.initializer.get(name);
    if (!t) throw new LocateError(modelId, `final-norm parameter "${name}" is not an initializer`);
    return toFloat32(t, modelDir, modelId);
  };
  return { gain: get(located.finalNorm.gain), bias: located.finalNorm.bias ? get(located.finalNorm.bias) : undefined };
}
