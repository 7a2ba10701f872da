/** The registry's failures: an entry that is wrong, or a source that is not there. */
import { ProbespecError } from "../../onnx/errors.js";

export class RegistryError extends ProbespecError {
  constructor(modelId: string | undefined, detail: string, options?: { cause?: unknown }) {
    super("registry", modelId, detail, options);
  }
}

/**
 * A source that is simply not there (an export not made, a checkpoint not downloaded, an optional
 * package not installed): the entry is skipped, saying how to get it, unless the run asked for it by
 * name. A source that is there and broken is a RegistryError, and an error verdict.
 */
export class AbsentError extends RegistryError {}
