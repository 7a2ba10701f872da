/**
 * The GPU check: probes analogs on the GPU (WebGPU through Vulkan, and CUDA where
 * its provider is installed) and on the CPU of the same machine, compares logits
 * and residual norms (relative error ≤ 1e-4 in fp32), times the probed forward
 * pass, prints a table and writes gpu.json. Bundled with esbuild by
 * scripts/gpu-bundle.sh; run by scripts/gpu-check.sh on a bare machine.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { locate } from "../probes/locate.js";
import { frobenius } from "../probes/metrics.js";
import { encodeModel, readModel } from "../onnx/io.js";
import { point } from "../probes/points.js";
import { createSession, type Provider } from "../probes/session.js";
import { probedGraph } from "../probes/probed-graph.js";

// The bundle's folder, and where gpu.json goes (the device tool's $OUT; the bundle's folder by default).
const [root, out = root] = process.argv.slice(2);
const manifest: { models: { id: string; dir: string; prompts: number[][] }[] } = JSON.parse(
  fs.readFileSync(path.join(root, "manifest.json"), "utf8"),
);
const int64 = (a: number[]) => new ort.Tensor("int64", BigInt64Array.from(a.map(BigInt)), [1, a.length]);

interface Row {
  model: string;
  provider: Provider | string;
  ok: boolean;
  error?: string;
  ms?: number;
  /** WebGPU's adapter, as the report names it. */
  adapter?: string;
  logitsRelErr?: number;
  normsRelErr?: number;
}
const rows: Row[] = [];

for (const m of manifest.models) {
  const dir = path.join(root, m.dir);
  const model = readModel(path.join(dir, "model.onnx"), m.id);
  const located = locate(model.proto, { modelId: m.id });
  const { proto: edited, outputs: names } = probedGraph(model.proto, located, m.id);
  const bytes = encodeModel(edited);
  const post = Array.from(
    { length: located.layers },
    (_, L) => (located.points.get(point("resid_post", L)) as { tensor: string }).tensor,
  );
  const results: Record<string, { logits: Float32Array[]; norms: number[][]; ms: number; adapter?: string }> = {};
  for (const provider of ["cpu", "webgpu", "cuda"] as Provider[]) {
    try {
      const { session, record } = await createSession(bytes, { device: provider, modelId: m.id, externalDataDir: dir });
      const run = async () => {
        const logits: Float32Array[] = [],
          norms: number[][] = [];
        for (const ids of m.prompts) {
          const o = await session.run(
            {
              input_ids: int64(ids),
              attention_mask: int64(ids.map(() => 1)),
              position_ids: int64(ids.map((_, i) => i)),
            },
            names,
          );
          logits.push(Float32Array.from(o.logits.data as Float32Array));
          norms.push(post.map((t) => frobenius(o[t].data as Float32Array)));
        }
        return { logits, norms };
      };
      await run(); // warm-up: shader compilation, allocations
      const ts: number[] = [];
      let last = await run();
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        last = await run();
        ts.push(performance.now() - t);
      }
      ts.sort((a, b) => a - b);
      results[provider] = { ...last, ms: ts[2] / m.prompts.length, adapter: record.adapter };
      await session.release();
    } catch (e) {
      rows.push({
        model: m.id,
        provider,
        ok: false,
        error: String((e as Error).message)
          .split("\n")[0]
          .slice(0, 300),
      });
    }
  }
  const cpu = results.cpu;
  for (const [provider, r] of Object.entries(results)) {
    let le = 0,
      ne = 0;
    r.logits.forEach((l, i) => {
      let num = 0,
        den = 0;
      for (let k = 0; k < l.length; k++) {
        num = Math.max(num, Math.abs(l[k] - cpu.logits[i][k]));
        den = Math.max(den, Math.abs(cpu.logits[i][k]));
      }
      le = Math.max(le, num / den);
      r.norms[i].forEach((n, L) => {
        ne = Math.max(ne, Math.abs(n - cpu.norms[i][L]) / cpu.norms[i][L]);
      });
    });
    // The bar test/webgpu.test.ts holds WebGPU to on lavapipe: float32 within 1e-4 of the CPU provider.
    rows.push({
      model: m.id,
      provider,
      ok: le <= 1e-4 && ne <= 1e-4,
      ms: r.ms,
      adapter: r.adapter,
      logitsRelErr: le,
      normsRelErr: ne,
    });
  }
}

const table = rows.map(
  (r) =>
    `${r.model.padEnd(16)} ${String(r.provider).padEnd(7)} ${r.error ? `FAILED: ${r.error}` : `${r.ms!.toFixed(2).padStart(9)} ms/prompt  logits rel.err ${r.logitsRelErr!.toExponential(2)}  norms rel.err ${r.normsRelErr!.toExponential(2)}  ${r.ok ? "parity" : "MISMATCH"}${r.adapter ? `  on ${r.adapter}` : ""}`}`,
);
console.log(["model            provider  probed forward   parity against the CPU (≤ 1e-4)", ...table].join("\n"));
fs.writeFileSync(
  path.join(out, "gpu.json"),
  JSON.stringify({ date: new Date().toISOString(), host: os.hostname(), ort: ort.env.versions?.node, rows }, null, 2),
);
