/**
 * ONNX Runtime sessions and execution providers. `auto` tries CUDA, then WebGPU
 * (Dawn over Vulkan), then the CPU; whichever ran is recorded for the report.
 */
import fs from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { LoadError } from "../onnx/errors.js";
import { libraryPath, ortLogLevel, type DeviceRequest } from "./config.js";

// ONNX Runtime logs a missing GPU provider at error level before it throws; probespec catches that
// error and records it (ExecutionRecord.fallbacks), so the native log stays at fatal unless asked for.
ort.env.logLevel = (ortLogLevel() as typeof ort.env.logLevel) ?? "fatal";

export { DEVICES, type DeviceRequest } from "./config.js";
export type Provider = Exclude<DeviceRequest, "auto">;

export interface ExecutionRecord {
  requested: DeviceRequest;
  /** The execution provider the session was created with. */
  provider: Provider;
  ortVersion: string;
  /** Providers tried before it, with the reason each failed. */
  fallbacks: { provider: Provider; error: string }[];
}

export function ortVersion(): string {
  return ort.env.versions?.node ?? ort.env.versions?.common ?? "unknown";
}

export function providerOrder(device: DeviceRequest): Provider[] {
  return device === "auto" ? ["cuda", "webgpu", "cpu"] : [device];
}

/** WebGPU (Dawn) drives the GPU through Vulkan: without the loader it cannot start, and says so noisily. */
export function hasVulkanLoader(searchPath = libraryPath()): boolean {
  const dirs = [
    ...searchPath.split(":").filter(Boolean),
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
  ];
  return dirs.some((d) => fs.existsSync(path.join(d, "libvulkan.so.1")));
}

export interface SessionOptions {
  device?: DeviceRequest;
  modelId?: string;
  threads?: number;
  /**
   * For a model handed over as bytes: the folder its external data locations are
   * relative to (the original model's folder; ORT still refuses paths that escape it).
   */
  externalDataDir?: string;
  /** ONNX Runtime's own options on top (the bench compares memory settings with them); config entries merge. */
  ort?: { enableCpuMemArena?: boolean; enableMemPattern?: boolean; config?: Record<string, string> };
}

export type SessionFactory = (
  file: string | Uint8Array,
  options: ort.InferenceSession.SessionOptions,
) => Promise<ort.InferenceSession>;

const defaultFactory: SessionFactory = (file, options) => ort.InferenceSession.create(file as string, options);

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split("\n")[0]
    .replace(/\x1b\[[0-9;]*m/g, "")
    .trim();
}

/**
 * Creates a session on the first provider that loads. An explicit provider that
 * fails is an error; under `auto` the failure is recorded and the next is tried.
 */
export async function createSession(
  file: string | Uint8Array,
  { device = "auto", modelId, threads, externalDataDir, ort: extra }: SessionOptions = {},
  factory: SessionFactory = defaultFactory,
): Promise<{ session: ort.InferenceSession; record: ExecutionRecord }> {
  const fallbacks: ExecutionRecord["fallbacks"] = [];
  for (const provider of providerOrder(device)) {
    if (device === "auto" && provider === "webgpu" && !hasVulkanLoader()) {
      fallbacks.push({ provider, error: "no Vulkan loader (libvulkan.so.1) on this machine" });
      continue;
    }
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [provider],
      graphOptimizationLevel: "all",
      ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
      ...(extra?.enableCpuMemArena === undefined ? {} : { enableCpuMemArena: extra.enableCpuMemArena }),
      ...(extra?.enableMemPattern === undefined ? {} : { enableMemPattern: extra.enableMemPattern }),
      extra: {
        session: {
          ...extra?.config,
          ...(externalDataDir ? { model_external_initializers_file_folder_path: externalDataDir } : {}),
        },
      },
    };
    try {
      const session = await factory(file, options);
      return { session, record: { requested: device, provider, ortVersion: ortVersion(), fallbacks } };
    } catch (e) {
      if (device !== "auto" || provider === "cpu") {
        const hint =
          provider === "cuda"
            ? '; the CUDA provider is not installed (see README, "GPU") or no CUDA device is present'
            : provider === "webgpu"
              ? "; WebGPU needs the Vulkan loader (Debian: libvulkan1) and a GPU driver"
              : "";
        throw new LoadError(
          modelId,
          `execution provider "${provider}" failed to create a session: ${firstLine(e)}${hint}`,
          { cause: e },
        );
      }
      fallbacks.push({ provider, error: firstLine(e) });
    }
  }
  throw new LoadError(modelId, "no execution provider could be tried");
}
