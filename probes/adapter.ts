/**
 * The WebGPU adapter on this machine, as Dawn (the WebGPU implementation inside
 * ONNX Runtime's WebGPU provider) would be handed it: asked of Dawn itself through
 * the `webgpu` package, its Node binding, in a child process (so that a second
 * Dawn never shares a process with ONNX Runtime's) once per run. Mesa's lavapipe
 * (llvmpipe), SwiftShader and any adapter of type CPU are software: a GPU code
 * path on the CPU, many times slower than ONNX Runtime's CPU provider.
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

export interface Adapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasteriser (lavapipe, SwiftShader) or any adapter Dawn marks as a fallback (CPU) adapter. */
  software: boolean;
}

/** Printed by the child: the adapter Dawn's default request returns, or why there is none. */
const QUERY = `
const { create, globals } = await import(process.argv[1]);
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter({ powerPreference: "high-performance" });
const i = adapter?.info;
console.log(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, fallback: !!i.isFallbackAdapter } : null));
process.exit(0);
`;

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/i;

let asked: { adapter?: Adapter; reason?: string } | undefined;

/** The adapter, or the reason there is none; asked once a process. */
export function webgpuAdapter(): { adapter?: Adapter; reason?: string } {
  if (asked) return asked;
  let module: string;
  try {
    module = pathToFileURL(createRequire(import.meta.url).resolve("webgpu")).href;
  } catch {
    return (asked = {
      reason: "the webgpu package (Dawn's Node binding) is not installed, so no adapter can be named",
    });
  }
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", QUERY, module], {
    encoding: "utf8",
    timeout: 60_000,
  });
  const line = out.stdout?.trim().split("\n").pop();
  try {
    const info = JSON.parse(line ?? "") as (Omit<Adapter, "software"> & { fallback: boolean }) | null;
    if (!info) return (asked = { reason: "Dawn found no WebGPU adapter (no Vulkan driver for any device)" });
    const { fallback, ...named } = info;
    return (asked = {
      adapter: {
        ...named,
        software: fallback || SOFTWARE.test(`${info.architecture} ${info.device} ${info.description}`),
      },
    });
  } catch {
    const why = out.error?.message ?? (out.stderr || out.stdout || "no output").trim().split("\n").pop();
    return (asked = { reason: `Dawn could not be asked for an adapter: ${why}` });
  }
}

/** One line for the report: what Dawn calls it (its driver, for Mesa), vendor, device and type. */
export const describeAdapter = (a: Adapter) =>
  `${a.description || a.device || "unnamed adapter"} (vendor ${a.vendor || "unknown"}, device ${a.device || "unknown"}, ${a.software ? "software, on the CPU" : `hardware${a.architecture ? `, ${a.architecture}` : ""}`})`;
