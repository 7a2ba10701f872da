#!/usr/bin/env -S npx tsx
/**
 * The probespec command (`npx probespec --help` lists its commands): doctor <id>, what the locator finds in a
 * model, checked at load time before anyone trusts a number; probe, the probe run alone; models and measure
 * (bin/commands.ts), the notebook user's first questions.
 */
import fs from "node:fs";
import path from "node:path";
import { loadRegistry } from "../models/registry/registry.js";
import { declaredLayers, declaredParallel, readModelFolder } from "../models/registry/layout.js";
import { resolveSource } from "../models/registry/sources.js";
import { locate, type Located } from "../probes/locate.js";
import { point, type ProbePoint } from "../probes/points.js";
import { readWeight } from "../probes/matrices.js";
import { allClose } from "../probes/metrics.js";
import { encodeModel, readModel, relocateExternalData } from "../onnx/io.js";
import { createSession } from "../probes/session.js";
import { runProbes } from "../probes/run.js";
import { ConfigError, printable } from "../onnx/errors.js";
import { readConfig } from "../probes/config.js";
import { measure, models, usage } from "./commands.js";

/** The located stream as a reader follows it: embed, then each layer's sub-blocks and the tensors between them. */
function drawStream(located: Located): string[] {
  const at = (p: ProbePoint) => {
    const s = located.points.get(p);
    return !s ? "?" : "tensor" in s ? s.tensor : `${s.minus[0]} − ${s.minus[1]}`;
  };
  const lines = [`  embed         ${at("embed")}`];
  for (let L = 0; L < located.layers; L++) {
    if (located.parallel)
      lines.push(`  layer ${L}  ──[attention ∥ MLP]──► resid_post.${L}  ${at(point("resid_post", L))}`);
    else {
      lines.push(`  layer ${L}  ──[attention]──► resid_mid.${L}   ${at(point("resid_mid", L))}`);
      lines.push(
        `  ${" ".repeat(7 + String(L).length)}──[MLP]────────► resid_post.${L}  ${at(point("resid_post", L))}`,
      );
    }
  }
  lines.push(
    `  final norm (${located.finalNorm.kind}) ──► ln_final ${at("ln_final")} ──[lm_head]──► logits ${at("logits")}`,
  );
  return lines;
}

async function doctor(id: string): Promise<number> {
  const config = readConfig();
  const registry = await loadRegistry(config.modelsDir);
  const entry = registry.entries.find((e) => e.id === id);
  if (!entry) {
    const problem = registry.problems.find((p) => p.id === id || p.file.includes(id));
    console.error(
      printable(
        problem ? problem.error : `no entry "${id}" in models/; known: ${registry.entries.map((e) => e.id).join(", ")}`,
      ),
    );
    return 1;
  }
  const dir = await resolveSource(entry, config);
  const folder = readModelFolder(dir, entry);
  const model = readModel(folder.onnxFile, id);
  const located = locate(model.proto, {
    modelId: id,
    declaredLayers: declaredLayers(folder),
    declaredParallel: declaredParallel(folder),
    overrides: entry.probePoints,
  });
  const modelDir = path.dirname(folder.onnxFile);
  const WE = readWeight(model.proto, located.W_E, modelDir, id),
    WU = readWeight(model.proto, located.W_U, modelDir, id);
  const tied =
    located.tiedInGraph ??
    (WU.rows === WE.rows && WU.cols === WE.cols && allClose(WU.data, WE.data)
      ? "W_U equals W_E within 1e-3"
      : "not tied");
  // As a probe hands it over: bytes, with the folder its external data (perhaps links to a checkpoint's files) resolves in.
  const forOrt = relocateExternalData(model.proto, modelDir);
  const { session, record } = await createSession(encodeModel(forOrt.proto), {
    device: config.device,
    modelId: id,
    externalDataDir: forOrt.dir,
  });
  await session.release();
  const out = [
    `model      ${id} (${entry.family}${entry.synthetic ? ", synthetic" : ""})`,
    `file       ${folder.onnxFile}${model.externalFiles.length ? ` + ${model.externalFiles.map((f) => path.basename(f)).join(", ")}` : ""}`,
    `layers     ${located.layers} ${located.parallel ? "parallel-residual" : "sequential"} (config declares ${declaredLayers(folder) ?? "nothing"})`,
    `W_E        ${located.W_E.initializer} → [${WE.rows}, ${WE.cols}]`,
    `W_U        ${located.W_U.initializer} (${located.W_U.layout}) → [${WU.rows}, ${WU.cols}]`,
    `tied       ${tied}`,
    `final norm ${located.finalNorm.kind}, eps ${located.finalNorm.eps}, gain ${located.finalNorm.gain}${located.finalNorm.bias ? `, bias ${located.finalNorm.bias}` : ""}`,
    `provider   ${record.provider} (ONNX Runtime ${record.ortVersion})${record.fallbacks.map((f) => `; ${f.provider} unavailable: ${f.error}`).join("")}`,
    "residual stream (the dominators from the embedding to the logits):",
    ...drawStream(located),
    "probe points:",
    ...[...located.points].map(
      ([p, s]) =>
        `  ${p.padEnd(14)} ${"tensor" in s ? s.tensor : `${s.minus[0]} − ${s.minus[1]} (a branch the fused norm never materialises)`}`,
    ),
    ...located.edits.map((e) => `  surgery: ${e.node} gets output ${e.index} "${e.name}"`),
    ...located.unavailable.map((u) => `  ${u.point.padEnd(14)} unavailable: ${u.reason}`),
  ];
  // The closing summary: what a reader checks first.
  const bytes = [folder.onnxFile, ...model.externalFiles].reduce((n, f) => n + fs.statSync(f).size, 0);
  const missing = located.unavailable.map((u) => u.point);
  out.push(
    `summary    ${located.points.size} probe points found${missing.length ? `, ${missing.length} unavailable (${missing.slice(0, 4).join(", ")}${missing.length > 4 ? ", …" : ""})` : ", none missing"}; runs on ${record.provider}; weights ${(bytes / 1e9).toFixed(2)} GB on disk${entry.memoryGb ? `, ${entry.memoryGb} GB to probe (its entry)` : ""}`,
  );
  console.log(out.map(printable).join("\n"));
  return 0;
}

/**
 * probespec probe [--shard i/n]: the probe run alone, its results into the store (PROBESPEC_CACHE_DIR);
 * with a shard, only that shard's share of the models (docs/slurm.md). Exit 1 when a model failed.
 */
async function probe(args: string[]): Promise<number> {
  const env = { ...process.env };
  // Only --shard i/n (or --shard=i/n) is understood: a typo must not probe every model unsharded.
  const [flag, inline] = args[0]?.startsWith("--shard=") ? ["--shard", args[0].slice(8)] : [args[0]];
  const value = inline ?? args[1];
  if (args.length && (flag !== "--shard" || !value || args.length > (inline === undefined ? 2 : 1)))
    throw new ConfigError(
      `probe: ${flag !== "--shard" ? `"${args[0]}" is not an option` : !value ? "--shard needs a value i/n, e.g. --shard 2/8" : `"${args[inline === undefined ? 2 : 1]}" is not understood`}\n${usage()}`,
    );
  if (args.length) env.PROBESPEC_SHARD = value;
  const run = await runProbes({ env, onProgress: (m) => process.stderr.write(`[probespec] ${printable(m)}\n`) });
  for (const r of run.results)
    console.log(`${r.id}: ${run.cacheHits.includes(r.id) ? "in the store" : `probed on ${r.execution.provider}`}`);
  for (const f of run.failures) console.log(printable(`${f.id}: FAILED: ${f.error}`));
  for (const k of run.skipped)
    if (k.reason !== "not in PROBESPEC_MODELS") console.log(printable(`${k.id}: skipped: ${k.reason}`));
  return run.failures.length ? 1 : 0;
}

const [command, ...args] = process.argv.slice(2);
const main =
  command === undefined || command === "--help" || command === "-h" || command === "help"
    ? Promise.resolve(console.log(usage())).then(() => (command === undefined ? 2 : 0))
    : command === "doctor" && args[0]
      ? doctor(args[0])
      : command === "probe"
        ? probe(args)
        : command === "models"
          ? models()
          : command === "measure"
            ? measure(args)
            : undefined;
if (!main) {
  const why =
    command === "doctor" ? "doctor needs a model id" : `${printable(`"${command}"`)} is not a probespec command`;
  console.error(`${why}; the commands are:\n${usage()}`);
  process.exit(2);
}
main.then(
  (code) => process.exit(code),
  (e) => {
    console.error(printable(e instanceof ConfigError ? `probespec: ${e.message}` : (e as Error).message));
    process.exit(e instanceof ConfigError ? 2 : 1);
  },
);
