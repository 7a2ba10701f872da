/** The graph's inputs: the token ids, and every other input the session must be fed, by what it is. */
import type { ModelProto } from "onnx-buf";
import type { GraphIndex } from "../../onnx/io.js";
import type { Located } from "../locate.js";

/** Every graph input but the ids, fed as its exporter expects: a mask of ones, positions 0..n-1, token types 0, an empty past. */
export interface ExtraInput {
  name: string;
  role: "mask" | "positions" | "segments" | "past";
  elemType: number;
  /** Declared dims; symbolic ones by name (batch, past length, or a size the config gives, such as kv_cache_dim). */
  dims: (number | string)[];
}

export function inputsOf(proto: ModelProto, idx: GraphIndex): Located["inputs"] {
  const g = proto.graph!;
  const real = g.input.filter((i) => !idx.initializer.has(i.name));
  const ids =
    real.find((i) => i.name === "input_ids") ??
    real.find((i) => /ids/.test(i.name) && !/position|type/.test(i.name)) ??
    real[0];
  const tensorType = (i: (typeof real)[number]) =>
    i.type?.value.case === "tensorType" ? i.type.value.value : undefined;
  const extra = real
    .filter((i) => i !== ids)
    .map((i): ExtraInput => ({
      name: i.name,
      role: /mask/i.test(i.name)
        ? "mask"
        : /position|cache_position/i.test(i.name)
          ? "positions"
          : /token_type/i.test(i.name)
            ? "segments"
            : "past",
      elemType: tensorType(i)?.elemType ?? 1,
      dims: (tensorType(i)?.shape?.dim ?? []).map((d) =>
        d.value.case === "dimValue" ? Number(d.value.value) : String(d.value.value ?? ""),
      ),
    }));
  const idsDims = (tensorType(ids)?.shape?.dim ?? []).map((d) =>
    d.value.case === "dimValue" ? Number(d.value.value) : String(d.value.value ?? ""),
  );
  return { ids: ids.name, idsType: tensorType(ids)?.elemType === 6 ? "int32" : "int64", idsDims, extra };
}
