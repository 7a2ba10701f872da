/**
 * ONNX Runtime sessions and execution providers. `auto` tries CUDA, then WebGPU
 * (Dawn over Vulkan), then the CPU; whichever ran is recorded for the report.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { LoadError } from "../onnx/errors.js";
import { DT, GraphBuilder, valueInfo } from "../onnx/graph.js";
import { encodeModel } from "../onnx/io.js";
import { describeAdapter, webgpuAdapter } from "./adapter.js";
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
  /** WebGPU's adapter: vendor, device, type, driver (probes/adapter.ts). */
  adapter?: string;
  /** Under auto on a device: nodes the device could not run went to the CPU provider; ONNX Runtime's account of it. */
  cpuFallback?: string;
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
  /** On a device, profile the first pass, so that cpuComputeNodes can say what ran on the CPU. */
  placement?: boolean;
  /** ONNX Runtime's own options on top (the bench compares memory settings with them); config entries merge. */
  ort?: { enableCpuMemArena?: boolean; enableMemPattern?: boolean; config?: Record<string, string> };
}

export type SessionFactory = (
  file: string | Uint8Array,
  options: ort.InferenceSession.SessionOptions,
) => Promise<ort.InferenceSession>;

const defaultFactory: SessionFactory = (file, options) => ort.InferenceSession.create(file as string, options);

let profiles = 0;

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split("\n")[0]
    .replace(/\x1b\[[0-9;]*m/g, "")
    .trim();
}

/**
 * Creates a session on the first provider that loads. An explicit provider that
 * fails is an error; under `auto` the failure is recorded and the next is tried,
 * and a software WebGPU adapter (lavapipe, SwiftShader) is never taken. On a
 * device, the first pass may be profiled (`placement`), so that what ran on
 * the CPU can be found (cpuComputeNodes).
 */
export async function createSession(
  file: string | Uint8Array,
  { device = "auto", modelId, threads, externalDataDir, ort: extra, placement }: SessionOptions = {},
  factory: SessionFactory = defaultFactory,
  adapterOf: () => ReturnType<typeof webgpuAdapter> = webgpuAdapter,
): Promise<{ session: ort.InferenceSession; record: ExecutionRecord; profileFilePrefix?: string }> {
  const fallbacks: ExecutionRecord["fallbacks"] = [];
  for (const provider of providerOrder(device)) {
    if (device === "auto" && provider === "webgpu" && !hasVulkanLoader()) {
      fallbacks.push({ provider, error: "no Vulkan loader (libvulkan.so.1) on this machine" });
      continue;
    }
    let adapter: string | undefined;
    if (provider === "webgpu") {
      const found = adapterOf();
      if (device === "auto" && (!found.adapter || found.adapter.software)) {
        fallbacks.push({
          provider,
          error: found.adapter
            ? `the only adapter is a software one, ${describeAdapter(found.adapter)}, slower than the CPU provider (PROBESPEC_DEVICE=webgpu still uses it)`
            : found.reason!,
        });
        continue;
      }
      adapter = found.adapter ? describeAdapter(found.adapter) : `unknown (${found.reason})`;
    }
    // On a device, the first pass may be profiled: where each node ran (cpuComputeNodes).
    const profileFilePrefix =
      provider === "cpu" || !placement
        ? undefined
        : path.join(os.tmpdir(), `probespec-placement-${process.pid}-${++profiles}`);
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [provider],
      graphOptimizationLevel: "all",
      ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
      ...(extra?.enableCpuMemArena === undefined ? {} : { enableCpuMemArena: extra.enableCpuMemArena }),
      ...(extra?.enableMemPattern === undefined ? {} : { enableMemPattern: extra.enableMemPattern }),
      ...(profileFilePrefix ? { enableProfiling: true, profileFilePrefix } : {}),
      extra: {
        session: {
          ...extra?.config,
          ...(externalDataDir ? { model_external_initializers_file_folder_path: externalDataDir } : {}),
        },
      },
    };
    const record = { requested: device, provider, ortVersion: ortVersion(), fallbacks, ...(adapter && { adapter }) };
    try {
      return { session: await factory(file, options), record, profileFilePrefix };
    } catch (e) {
      if (device !== "auto" || provider === "cpu") {
        const hint =
          provider === "cuda"
            ? "; the CUDA provider is not installed (see docs/gpu.md) or no CUDA device is present"
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

const resolved = new Map<DeviceRequest, Promise<Provider>>();

/**
 * The provider a request runs on here: `auto` resolved as createSession would resolve it, on a one-node
 * graph, once a process. The results cache is keyed on it, so that a result probed on one provider is
 * never served as another's.
 */
export function resolveProvider(device: DeviceRequest): Promise<Provider> {
  if (device !== "auto") return Promise.resolve(device);
  let p = resolved.get(device);
  if (!p) {
    const g = new GraphBuilder();
    g.inputs.push(valueInfo("x", DT.FLOAT, [1]));
    g.op("/probespec", "Identity", ["x"], { outputs: ["y"] });
    g.outputs.push(valueInfo("y", DT.FLOAT, [1]));
    p = createSession(encodeModel(g.model({ "": 13 }, "probespec")), { device }).then(async ({ session, record }) => {
      await session.release();
      return record.provider;
    });
    resolved.set(device, p);
  }
  return p;
}

/**
 * The nodes of a profiled first pass that ran on the CPU although the session is on a device, as
 * "op (node)". ONNX Runtime places index and mask arithmetic there by design (Shape, Range, the int64 →
 * float Cast of the mask; disable_cpu_ep_fallback refuses every real model for them, measured): only an op
 * that computes (not PLUMBING) with a float output of `width` elements or more counts. The profile is removed.
 */
/** Ops that move, shape or select data, or build masks: never the model's compute, wherever they run. */
const PLUMBING = new Set([
  "Cast",
  "Shape",
  "Size",
  "ConstantOfShape",
  "Range",
  "Gather",
  "GatherElements",
  "GatherND",
  "Unsqueeze",
  "Squeeze",
  "Reshape",
  "Flatten",
  "Concat",
  "Slice",
  "Split",
  "Expand",
  "Tile",
  "Transpose",
  "Identity",
  "Where",
  "Equal",
  "Greater",
  "GreaterOrEqual",
  "Less",
  "LessOrEqual",
  "Not",
  "And",
  "Or",
  "Trilu",
  "CumSum",
  "MemcpyFromHost",
  "MemcpyToHost",
]);

/** The profile files a session with `placement` left, removed (a first pass that threw never read them). */
export function removeProfiles(prefix: string): void {
  const dir = path.dirname(prefix);
  for (const f of fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(prefix))))
    fs.rmSync(path.join(dir, f), { force: true });
}

export async function cpuComputeNodes(session: ort.InferenceSession, prefix: string, width: number): Promise<string[]> {
  await session.endProfiling();
  const dir = path.dirname(prefix);
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(prefix)));
  const nodes: string[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    try {
      const events = JSON.parse(fs.readFileSync(file, "utf8")) as {
        cat?: string;
        name?: string;
        args?: { provider?: string; op_name?: string; output_type_shape?: Record<string, number[]>[] };
      }[];
      for (const e of events) {
        if (e.cat !== "Node" || !e.name?.endsWith("_kernel_time") || e.args?.provider !== "CPUExecutionProvider")
          continue;
        const compute =
          !PLUMBING.has(e.args.op_name ?? "") &&
          (e.args.output_type_shape ?? []).some((o) =>
            Object.entries(o).some(
              ([type, dims]) => /float|half/.test(type) && dims.reduce((a, b) => a * b, 1) >= width,
            ),
          );
        const name = `${e.args.op_name} (${e.name.replace(/_kernel_time$/, "")})`;
        if (compute && !nodes.includes(name)) nodes.push(name);
      }
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
  return nodes;
}
