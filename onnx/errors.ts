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

/**
 * A configuration error (an environment variable, the prompt set, the report folder): the run stops
 * before anything is probed, with one line that names the variable or file and what is wrong. It lies here, on
 * the ground floor, because the probes, the contract and the CLI all raise it.
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
