import fs from "node:fs";
import path from "node:path";
import { checkModelIds, readConfig } from "../probes/config.js";
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { buildAnalog } from "../models/analogs/build.js";
import { loadRegistry, PROJECT_ROOT } from "../models/registry/registry.js";
import { selectModels } from "../models/registry/select.js";
import { createSession, hasVulkanLoader } from "../probes/session.js";
import { exposeOutputs } from "../onnx/surgery.js";
import { encodeModel } from "../onnx/io.js";
import * as ort from "onnxruntime-node";
import { analogConfig } from "../models/analogs/config.js";
import { generateWeights } from "../models/analogs/weights.js";
import { referenceForward } from "../models/analogs/reference.js";
import { emitModel } from "../models/writer/emit.js";
import { relErr, TEST_CACHE, tmpDir } from "./helpers.js";

describe("execution providers", () => {
  it("falls back from CUDA (and WebGPU) to the CPU under auto, recording why", async () => {
    const file = path.join(await buildAnalog({ analog: "llama" }, TEST_CACHE), "model.onnx");
    const { session, record } = await createSession(file, { device: "auto", modelId: "llama" });
    expect(record.provider).toBe("cpu");
    expect(record.fallbacks.map((f) => f.provider)).toContain("cuda");
    expect(record.fallbacks[0].error).toMatch(/cuda|shared library|providers/i);
    expect(record.ortVersion).toBe("1.30.0");
    await session.release();
  });

  it("fails clearly when CUDA is asked for explicitly and is not installed", async () => {
    const file = path.join(await buildAnalog({ analog: "llama" }, TEST_CACHE), "model.onnx");
    await expect(createSession(file, { device: "cuda", modelId: "llama" })).rejects.toThrow(
      /model "llama": execution provider "cuda" failed .*CUDA provider is not installed/,
    );
  });

  it("tries providers in the order auto promises, with a stand-in ONNX Runtime", async () => {
    const tried: string[] = [];
    const fake = async (_f: unknown, o: ort.InferenceSession.SessionOptions) => {
      const ep = String(o.executionProviders![0]);
      tried.push(ep);
      if (ep !== "webgpu") throw new Error(`${ep} missing`);
      return {} as ort.InferenceSession;
    };
    const saved = process.env.LD_LIBRARY_PATH;
    const vulkan = tmpDir();
    try {
      // Without a Vulkan loader, auto does not try WebGPU at all and says why.
      process.env.LD_LIBRARY_PATH = "";
      if (!hasVulkanLoader()) {
        const none = await createSession("x.onnx", { device: "auto" }, async (f, o) =>
          String(o.executionProviders![0]) === "cpu" ? ({} as ort.InferenceSession) : fake(f, o),
        );
        expect(none.record.fallbacks[1]).toEqual({
          provider: "webgpu",
          error: "no Vulkan loader (libvulkan.so.1) on this machine",
        });
      }
      fs.writeFileSync(path.join(vulkan, "libvulkan.so.1"), "");
      process.env.LD_LIBRARY_PATH = vulkan;
      tried.length = 0;
      const gpu = {
        vendor: "nvidia",
        architecture: "hopper",
        device: "H200",
        description: "NVIDIA H200",
        software: false,
      };
      const { record } = await createSession("x.onnx", { device: "auto" }, fake, () => ({ adapter: gpu }));
      expect(tried).toEqual(["cuda", "webgpu"]);
      expect(record).toMatchObject({
        provider: "webgpu",
        adapter: "NVIDIA H200 (vendor nvidia, device H200, hardware, hopper)",
        fallbacks: [{ provider: "cuda", error: "cuda missing" }],
      });
      // A software adapter (lavapipe) is passed over under auto, saying so; asked for by name, it is used.
      const lavapipe = {
        ...gpu,
        vendor: "mesa",
        architecture: "software",
        device: "llvmpipe",
        description: "llvmpipe: Mesa 25.0.7",
        software: true,
      };
      const withCpu = async (f: unknown, o: ort.InferenceSession.SessionOptions) =>
        String(o.executionProviders![0]) === "cpu" ? ({} as ort.InferenceSession) : fake(f, o);
      const auto = await createSession("x.onnx", { device: "auto" }, withCpu, () => ({ adapter: lavapipe }));
      expect(auto.record.provider).toBe("cpu");
      expect(auto.record.fallbacks[1]).toMatchObject({
        provider: "webgpu",
        error: expect.stringMatching(/software one, llvmpipe: Mesa 25.0.7 .*PROBESPEC_DEVICE=webgpu still uses it/),
      });
      const named = await createSession("x.onnx", { device: "webgpu" }, fake, () => ({ adapter: lavapipe }));
      expect(named.record).toMatchObject({
        provider: "webgpu",
        adapter: expect.stringContaining("software, on the CPU"),
      });
    } finally {
      if (saved === undefined) delete process.env.LD_LIBRARY_PATH;
      else process.env.LD_LIBRARY_PATH = saved;
    }
  });

  it("refuses an unknown PROBESPEC_DEVICE", () => {
    expect(() => readConfig({ PROBESPEC_DEVICE: "tpu" })).toThrow(/not one of auto, cuda, webgpu, cpu/);
  });

  it("installs offline and quietly: .npmrc runs no dependency's install script with a key npm knows, and the documented CUDA command reaches onnxruntime-node's installer", () => {
    expect(fs.readFileSync(path.join(PROJECT_ROOT, ".npmrc"), "utf8")).toMatch(/^ignore-scripts=true$/m);
    // npm reads the project's .npmrc on every call: a key it does not know is a warning on each one.
    const npm = spawnSync("npm", ["pkg", "get", "name"], { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 60_000 });
    expect(npm.status).toBe(0);
    expect(npm.stderr).not.toMatch(/warn/i);
    const command = "ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js";
    expect(fs.readFileSync(path.join(PROJECT_ROOT, "docs", "gpu.md"), "utf8")).toContain(command);
    // Offline, its request to NuGet fails, which is as far as this machine can take it. It runs from a shell, not
    // under npm: the installer treats a run whose npm_package_json is the project's own as a local build and stops.
    const script = createRequire(import.meta.url).resolve("onnxruntime-node/script/install.js");
    const shell = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
    const cuda = spawnSync(process.execPath, [script], {
      env: { ...shell, ONNXRUNTIME_NODE_INSTALL: "cuda12" },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(cuda.stderr + cuda.stdout).toMatch(/nuget/i);
  });
});

describe("graph surgery", () => {
  it("exposes an inner tensor whose value equals the float64 reference", async () => {
    const c = analogConfig("mistral", { layers: 3, calibrationIds: [1, 40, 50, 60] });
    const w = generateWeights(c);
    const proto = exposeOutputs(emitModel(c, w, { dialect: "torchscript" }), [
      "/model/layers.1/Add_output_0",
      "/model/layers.2/mlp/down_proj/MatMul_output_0",
    ]);
    const s = await ort.InferenceSession.create(encodeModel(proto));
    const ids = [1, 40, 50, 60];
    const t = (a: number[]) => new ort.Tensor("int64", BigInt64Array.from(a.map(BigInt)), [1, a.length]);
    const out = await s.run({ input_ids: t(ids), attention_mask: t([1, 1, 1, 1]), position_ids: t([0, 1, 2, 3]) });
    const ref = referenceForward(c, w, ids);
    expect(relErr(out["/model/layers.1/Add_output_0"].data as Float32Array, ref.residMid[1])).toBeLessThan(1e-5);
    expect(
      relErr(out["/model/layers.2/mlp/down_proj/MatMul_output_0"].data as Float32Array, ref.mlpOut[2]),
    ).toBeLessThan(1e-5);
  });
});

describe("model registry", () => {
  const write = (dir: string, name: string, v: unknown) =>
    fs.writeFileSync(path.join(dir, name), typeof v === "string" ? v : JSON.stringify(v));

  it("accepts the one-line contract entry as complete", async () => {
    const dir = tmpDir();
    write(dir, "foo.json", { id: "foo", family: "mistral", source: { dir: "/abs/path" } });
    const r = await loadRegistry(dir);
    expect(r.problems).toEqual([]);
    expect(r.entries[0]).toMatchObject({ id: "foo", family: "mistral", dtype: "fp32", synthetic: false });
  });

  it("names the file and the field of a typo, a wrong type, a duplicate id and broken JSON; the good entries still load", async () => {
    const dir = tmpDir();
    write(dir, "a-good.json", { id: "good", family: "llama", source: { dir: "/x" } });
    write(dir, "b-typo.json", { id: "typo", famly: "llama", source: { dir: "/x" } });
    write(dir, "c-type.json", { id: "type", family: "llama", source: { dir: 3 } });
    write(dir, "d-dup.json", { id: "good", family: "gemma", source: { dir: "/y" } });
    write(dir, "e-broken.json", '{ "id": ');
    const r = await loadRegistry(dir);
    expect(r.entries.map((e) => e.id)).toEqual(["good"]);
    const errors = r.problems.map((p) => p.error).join("\n");
    expect(errors).toMatch(/b-typo.json \(id "typo"\): .*unknown field "famly"/);
    expect(errors).toMatch(/c-type.json \(id "type"\): source.dir: .*expected string, received number/);
    expect(errors).toMatch(/d-dup.json: duplicate id "good", already declared by a-good.json/);
    expect(errors).toMatch(/e-broken.json: not valid JSON/);
  });

  it("selects by PROBESPEC_MODELS and says why each other entry was left out", async () => {
    const dir = tmpDir();
    write(dir, "a.json", { id: "a", family: "llama", source: { analog: "llama" }, synthetic: true });
    write(dir, "b.json", { id: "b", family: "llama", source: { dir: "/does/not/exist" } });
    write(dir, "c.json", { id: "c", family: "llama", source: { hub: "org/model" } });
    const env = { PROBESPEC_CACHE_DIR: TEST_CACHE, PROBESPEC_OFFLINE: "1", HF_HUB_CACHE: tmpDir() };
    const config = readConfig(env);
    const all = await selectModels(await loadRegistry(dir), config);
    expect(all.selected.map((s) => s.entry.id)).toEqual(["a"]);
    expect(all.skipped.find((s) => s.id === "b")?.reason).toMatch(/source.dir \/does\/not\/exist does not exist/);
    expect(all.skipped.find((s) => s.id === "c")?.reason).toMatch(/PROBESPEC_OFFLINE=1 forbids network use/);
    const some = await selectModels(await loadRegistry(dir), config, { wanted: ["b"] });
    expect(some.selected).toEqual([]);
    expect(some.skipped.find((s) => s.id === "a")?.reason).toBe("not in PROBESPEC_MODELS");
    // Asked for by name and absent: not a quiet skip, but a model that could not be loaded.
    expect(some.unloadable.map((u) => [u.entry.id, u.error.message])).toEqual([
      ["b", 'model "b": source.dir /does/not/exist does not exist'],
    ]);
    // An id no entry declares is a configuration error, with the closest ids, before anything is selected.
    const registry = await loadRegistry(dir);
    expect(() => checkModelIds(["b", "zz"], registry, dir)).toThrow(
      /PROBESPEC_MODELS names "zz", which no entry in .* declares; closest: /,
    );
  });

  it("leaves out a model that needs more memory than the device has", async () => {
    const dir = tmpDir();
    write(dir, "big.json", { id: "big", family: "llama", source: { analog: "llama" }, memoryGb: 64 });
    const { selected, skipped } = await selectModels(
      await loadRegistry(dir),
      readConfig({ PROBESPEC_CACHE_DIR: TEST_CACHE, PROBESPEC_DEVICE_MEMORY_GB: "24" }),
    );
    expect(selected).toEqual([]);
    expect(skipped[0].reason).toBe("needs 64.0 GB; the machine has 24.0 GB free");
  });

  it("ships entries for the seed's four models and the analogs, all valid", async () => {
    const r = await loadRegistry();
    expect(r.problems).toEqual([]);
    expect(r.entries.map((e) => e.id)).toEqual(
      expect.arrayContaining([
        "mistral-7b",
        "pythia-6.9b",
        "gemma-7b",
        "apertus-8b",
        "mistral-analog",
        "tinystories-260k",
      ]),
    );
    expect(r.entries.find((e) => e.id === "apertus-8b")?.notes).toMatch(/swiss-ai\/Apertus-8B-2509/);
    for (const e of r.entries) expect(e.synthetic).toBe("analog" in e.source);
  });

  it("finds the ONNX file by dtype in the Optimum layout", () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, "onnx"));
    fs.writeFileSync(path.join(dir, "onnx", "model_fp16.onnx"), "");
    return import("../models/registry/layout.js").then(({ findOnnxFile, readModelFolder }) => {
      expect(findOnnxFile(dir, "fp16")).toBe(path.join(dir, "onnx", "model_fp16.onnx"));
      expect(() => readModelFolder(dir, { id: "m", dtype: "q4" })).toThrow(
        /model "m": no model_q4.onnx for dtype q4 in .* \(found onnx\/model_fp16.onnx; choose one with "dtype"/,
      );
    });
  });
});
