/**
 * The GPU code path, on whatever WebGPU adapter this machine has: in CI, Mesa's
 * lavapipe (a Vulkan device on the CPU, .ci/run installs it). Every measure on the
 * analogs and on the real exporters' exports, probed by the WebGPU provider with CPU
 * compute nodes on the CPU refused (so all of it ran there), against the CPU provider:
 * float32 within 1e-4, float16 within 2e-2, each measure's worst element relative to its scale.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildAnalog } from "../models/analogs/build.js";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { webgpuAdapter } from "../probes/adapter.js";
import type { Value } from "../probes/measures/measure.js";
import { probeModel, type ProbeResult } from "../probes/probe.js";
import { runProbes } from "../probes/run.js";
import { createSession } from "../probes/session.js";
import { EXPORTS } from "./exports.js";
import { TEST_CACHE, tmpDir } from "./helpers.js";

const { adapter, reason } = webgpuAdapter();
const NO_ADAPTER = adapter ? "" : ` — skipped: no WebGPU adapter (${reason})`;
const PROMPTS = ["The capital of France is", "Once upon a time"];

/** Every number of a value, flattened in a fixed order. */
const numbers = (v: Value): number[] =>
  typeof v === "number"
    ? [v]
    : Array.isArray(v)
      ? v.flatMap((x) => numbers(x as Value))
      : Object.values(v).flatMap(numbers);

/** Each measure's worst element |gpu − cpu| relative to the largest |cpu| of that measure. */
function worstByMeasure(gpu: ProbeResult, cpu: ProbeResult): [string, number][] {
  return Object.entries(cpu.measures).flatMap(([name, m]) => {
    const g = gpu.measures[name];
    if (!("value" in m) || !g || !("value" in g)) return [];
    const [a, b] = [numbers(g.value), numbers(m.value)];
    expect(a.length, name).toBe(b.length);
    const scale = Math.max(...b.map(Math.abs), 1e-30);
    const diffs = a.map((x, i) => (Number.isNaN(x) && Number.isNaN(b[i]) ? 0 : Math.abs(x - b[i])));
    return [[name, Math.max(...diffs) / scale] as [string, number]];
  });
}

describe("the WebGPU provider", () => {
  it(`under auto is never a software adapter; named explicitly, it runs and is named${NO_ADAPTER}`, async ({
    skip,
  }) => {
    if (!adapter) return skip(reason);
    const file = path.join(await buildAnalog({ analog: "llama" }, TEST_CACHE), "model.onnx");
    const auto = await createSession(file, { device: "auto" });
    await auto.session.release();
    if (adapter.software) {
      expect(auto.record.provider).toBe("cpu");
      expect(auto.record.fallbacks.find((f) => f.provider === "webgpu")?.error).toMatch(/software/);
    } else expect(auto.record.provider).toBe("webgpu");
    const explicit = await createSession(file, { device: "webgpu" });
    await explicit.session.release();
    expect(explicit.record).toMatchObject({
      provider: "webgpu",
      adapter: expect.stringContaining(adapter.description),
    });
  });

  const models: { name: string; dir: () => Promise<string>; tolerance: number }[] = [
    ...["llama", "gemma", "pythia", "apertus", "mistral-small"].map((a) => ({
      name: `analog ${a}`,
      dir: () => buildAnalog({ analog: a }, TEST_CACHE),
      tolerance: 1e-4,
    })),
    {
      name: "analog llama (genai, int4)",
      dir: () => buildAnalog({ analog: "llama", dialect: "genai", int4: true }, TEST_CACHE),
      tolerance: 1e-4,
    },
    ...[...EXPORTS].map(([name, dir]) => ({
      name: `export ${name}`,
      dir: async () => dir,
      // The GenAI builder's int4 MatMulNBits carry accuracy_level 4: the CPU provider quantises their inputs to
      // int8 (3.5e-3–7.7e-3 off, measured in #25), WebGPU does not; the CPU is the less exact side there.
      tolerance: /fp16|q4f16/.test(name) ? 2e-2 : /genai-int4/.test(name) ? 1e-2 : 1e-4,
    })),
  ];

  it(
    `gives every measure as the CPU provider does, on ${models.length} models (float32 1e-4, float16 2e-2)${NO_ADAPTER}`,
    { timeout: 1_800_000 },
    async ({ skip }) => {
      if (!adapter) return skip(reason);
      const refused: string[] = [];
      const beyond: string[] = [];
      let compared = 0;
      for (const m of models) {
        const entry = ModelEntrySchema.parse({
          id: m.name.replace(/[^\w.-]+/g, "-"),
          family: "other",
          source: { dir: "." },
        });
        const dir = await m.dir();
        const cpu = await probeModel(entry, dir, PROMPTS, { device: "cpu" });
        let gpu: ProbeResult;
        try {
          gpu = await probeModel(entry, dir, PROMPTS, { device: "webgpu" });
        } catch (e) {
          // A graph with a node WebGPU cannot run is refused, never half-run on the CPU; which ones, is said.
          expect((e as Error).message, m.name).toMatch(
            /ran on the CPU, not on webgpu: .*explicit device never falls back/,
          );
          console.log(`${m.name}: ${(e as Error).message}`);
          refused.push(m.name);
          continue;
        }
        expect(gpu.execution).toMatchObject({ provider: "webgpu", adapter: expect.any(String) });
        for (const [name, worst] of worstByMeasure(gpu, cpu))
          if (!(worst < m.tolerance)) beyond.push(`${m.name}: ${name} ${worst.toExponential(2)}`);
        compared++;
      }
      console.log(
        `WebGPU vs CPU: ${compared} models compared; refused (a node WebGPU cannot run): ${refused.join(", ") || "none"}`,
      );
      expect(beyond).toEqual([]);
      expect(compared).toBeGreaterThanOrEqual(Math.ceil(models.length / 2));
    },
  );

  it(
    `a result probed on one provider is never served as another's${NO_ADAPTER}`,
    { timeout: 600_000 },
    async ({ skip }) => {
      if (!adapter) return skip(reason);
      const models = tmpDir();
      fs.writeFileSync(
        path.join(models, "a.json"),
        JSON.stringify({ id: "a", family: "llama", source: { analog: "llama" } }),
      );
      const env = { PROBESPEC_MODELS_DIR: models, PROBESPEC_CACHE_DIR: tmpDir() };
      const promptSet = { name: "t", file: "-", prompts: PROMPTS.slice(0, 1) };
      const onGpu = await runProbes({ env: { ...env, PROBESPEC_DEVICE: "webgpu" }, promptSet });
      expect(onGpu.results[0].execution.provider).toBe("webgpu");
      const onCpu = await runProbes({ env: { ...env, PROBESPEC_DEVICE: "cpu" }, promptSet });
      expect(onCpu).toMatchObject({ modelLoads: 1, cacheHits: [] });
      expect(onCpu.results[0].execution.provider).toBe("cpu");
      // auto on this machine resolves to what it would run on, and reads that provider's result.
      const auto = await runProbes({ env: { ...env, PROBESPEC_DEVICE: "auto" }, promptSet });
      expect(auto).toMatchObject({ modelLoads: 0, cacheHits: ["a"] });
      expect(auto.results[0].execution.provider).toBe(adapter.software ? "cpu" : "webgpu");
    },
  );
});
