/** The probes' failure domains: locating probe points, probing, a shard's missing results. */
import { ProbespecError } from "../onnx/errors.js";

export class LocateError extends ProbespecError {
  constructor(modelId: string | undefined, detail: string, options?: { cause?: unknown }) {
    super("locating", modelId, detail, options);
  }
}

export class ProbeError extends ProbespecError {
  constructor(modelId: string | undefined, detail: string, options?: { cause?: unknown }) {
    super("probing", modelId, detail, options);
  }
}

/** A model a judge run found no result for: its shard failed, never ran or never finished. */
export class ShardError extends ProbespecError {
  constructor(modelId: string | undefined, detail: string) {
    super("shard", modelId, detail);
  }
}
