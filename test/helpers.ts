/** Shared test helpers: temp folders, the conformance inputs, relative error. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PROJECT_ROOT } from "../models/registry/registry.js";

export const CONFORMANCE = path.resolve(PROJECT_ROOT, "../shared/conformance");
export const HAS_CONFORMANCE = fs.existsSync(CONFORMANCE);
export const NO_CONFORMANCE = "../shared/conformance is absent (a user's clone has no ../shared): skipped";

export function tmpDir(prefix = "probespec-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A cache shared by the tests of one process: analogs are built once. */
export const TEST_CACHE = path.join(os.tmpdir(), `probespec-test-cache-${process.pid}`);

/** max |a − b| / max |b|: relative to the tensor's scale, so near-zero elements do not dominate. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

export const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
