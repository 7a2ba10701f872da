/**
 * One error type per failure domain, each carrying the model id, so that a
 * message always says whose model failed, what was wrong and what to do.
 */
export type FailureDomain = "registry" | "loading" | "locating" | "probing" | "shard";

export class ProbespecError extends Error {
  constructor(
    readonly domain: FailureDomain,
    readonly modelId: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(modelId === undefined ? detail : `model "${modelId}": ${detail}`, options);
    this.name = `${domain[0].toUpperCase()}${domain.slice(1)}Error`;
  }
}

export class LoadError extends ProbespecError {
  constructor(modelId: string | undefined, detail: string, options?: { cause?: unknown }) {
    super("loading", modelId, detail, options);
  }
}

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

/** A model a judge run found no result for: its shard failed, never ran or never finished. */
export class ShardError extends ProbespecError {
  constructor(modelId: string | undefined, detail: string) {
    super("shard", modelId, detail);
  }
}

/**
 * A configuration error (an environment variable, the prompt set, the report folder): the run stops
 * before anything is probed, with one line that names the variable or file and what is wrong.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Text from a file or a user (a GGUF's architecture, a file name, a shard record) as it may be printed on a
 * terminal: control and format characters written as \u escapes, so no escape sequence reaches the terminal.
 */
export const printable = (s: string) => s.replace(/\p{C}/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

export function formatBytes(n: number): string {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
}
