/** Shared test helpers: temp folders, the conformance inputs, relative error. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { runProbes } from "../probes/run.js";
import { PARADOX_PROMPTS } from "../probes/prompts.js";
import type { ProbeResult } from "../probes/probe.js";
import { measure } from "../hypotheses/measures.js";

export const CONFORMANCE = path.resolve(PROJECT_ROOT, "../shared/conformance");
export const HAS_CONFORMANCE = fs.existsSync(CONFORMANCE);
const NO_CONFORMANCE = "skipped: ../shared/conformance is absent (a user's clone has no ../shared)";

/** A test title that says why it skips where the conformance inputs are absent. */
export const conformance = (title: string) => (HAS_CONFORMANCE ? title : `${title} — ${NO_CONFORMANCE}`);

/** The harness run's temporary folder (test/setup.ts removes it at the end). */
const TMP = process.env.PROBESPEC_TEST_TMP ?? os.tmpdir();

export function tmpDir(prefix = "probespec-test-"): string {
  return fs.mkdtempSync(path.join(TMP, prefix));
}

/** A cache shared by the tests of one run: analogs are built once. */
export const TEST_CACHE = path.join(TMP, "cache");

/** max |a − b| / max |b|: relative to the tensor's scale, so near-zero elements do not dominate. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

export const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

/** The environment for a child vitest run: this worker's own VITEST variables left out. */
export function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("VITEST") && k !== "NODE_OPTIONS" && k !== "TEST") env[k] = v;
  // The 33 hand-written prompts, not the default's 211 corpus contexts: a test runs the harness, not the population.
  return { ...env, PROBESPEC_DEVICE: "cpu", NO_COLOR: "1", PROBESPEC_PROMPTS: PARADOX_PROMPTS, ...extra };
}

export type Entry = { id: string; family: string; source: Record<string, unknown>; synthetic?: boolean; role?: string };

/** Runs `vitest run --project hypotheses` on these entries; returns results.json and the output. */
export function runHypotheses(entries: Entry[] | undefined, extraEnv: Record<string, string> = {}) {
  const reportDir = extraEnv.PROBESPEC_REPORT_DIR ?? tmpDir("probespec-report-");
  const env = childEnv({ PROBESPEC_REPORT_DIR: reportDir, PROBESPEC_CACHE_DIR: TEST_CACHE, ...extraEnv });
  if (entries) {
    const dir = tmpDir("probespec-models-");
    for (const e of entries)
      fs.writeFileSync(path.join(dir, `${e.id}.json`), JSON.stringify({ synthetic: true, ...e }));
    env.PROBESPEC_MODELS_DIR = dir;
  }
  const out = spawnSync(
    process.execPath,
    [path.join(PROJECT_ROOT, "node_modules/vitest/vitest.mjs"), "run", "--project", "hypotheses"],
    { cwd: PROJECT_ROOT, env, encoding: "utf8", timeout: 600_000 },
  );
  const file = path.join(reportDir, "results.json");
  if (!fs.existsSync(file)) throw new Error(`no results.json; vitest said:\n${out.stdout}\n${out.stderr}`);
  return {
    results: JSON.parse(fs.readFileSync(file, "utf8")),
    output: out.stdout + out.stderr,
    reportDir,
    status: out.status,
  };
}

/** The probe run over these entries, written as files into a models folder of their own; uncached unless env says. */
export function probeEntries(
  entries: object[],
  env: Record<string, string> = {},
  prompts: string[] = ["The capital of France is"],
) {
  const modelsDir = tmpDir();
  for (const e of entries)
    fs.writeFileSync(path.join(modelsDir, `${(e as { id: string }).id}.json`), JSON.stringify(e));
  return runProbes({
    env: {
      PROBESPEC_MODELS_DIR: modelsDir,
      PROBESPEC_CACHE_DIR: TEST_CACHE,
      PROBESPEC_DEVICE: "cpu",
      PROBESPEC_NO_CACHE: "1",
      ...env,
    },
    promptSet: { name: "t", file: "-", prompts },
  });
}

/** The smallest analog that still has every part (GQA heads, an MLP, a vocabulary), for properties run hundreds of times. */
export const TINY_ANALOG = { d: 16, heads: 2, hidden: 32, vocab: 64, calibrationIds: [1, 2] };

/** A measure's value on prompt i of a model's result (a per-layer list, unless V says otherwise). */
export const at = <V = number[]>(r: ProbeResult, name: string, i = 0): V =>
  measure(r, name).perPrompt![i] as unknown as V;

/**
 * The last position's logits of an ONNX file on one prompt's ids, as a plain ONNX Runtime session gives them (the
 * attention mask and positions fed where the graph takes them): what a reference's logits_last_token is held to.
 */
export async function lastTokenLogits(onnxFile: string, ids: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(onnxFile);
  const t = (a: number[]) => new ort.Tensor("int64", BigInt64Array.from(a.map(BigInt)), [1, a.length]);
  const feeds: Record<string, ort.Tensor> = { input_ids: t(ids) };
  if (s.inputNames.includes("attention_mask")) feeds.attention_mask = t(ids.map(() => 1));
  if (s.inputNames.includes("position_ids")) feeds.position_ids = t(ids.map((_, i) => i));
  const out = await s.run(feeds);
  const logits = (out.logits ?? out[s.outputNames[0]]).data as Float32Array;
  const vocab = logits.length / ids.length;
  return logits.subarray((ids.length - 1) * vocab);
}
