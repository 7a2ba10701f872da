/**
 * One temporary folder for a whole harness run, removed at its end: tests leave nothing behind in /tmp.
 * The real exporters' fixtures that are not committed are generated first where pip's local wheel
 * mirror is (tools/make_exports.sh: cached, a no-op when up to date; test/exports.ts says when they are absent),
 * and the HF checkpoints with transformers' references (tools/make_checkpoints.sh, likewise).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "probespec-tests-"));
  process.env.PROBESPEC_TEST_TMP = dir;
  if (process.env.PROBESPEC_MAKE_EXPORTS !== "0") {
    // The exports' venv first: the HF checkpoints (test/checkpoints.test.ts) are made in it.
    for (const [script, what] of [
      ["make_exports.sh", "exports'"],
      ["make_checkpoints.sh", "checkpoints'"],
    ]) {
      const r = spawnSync("bash", [path.join(import.meta.dirname, "..", "tools", script)], {
        stdio: ["ignore", "inherit", "inherit"],
      });
      if (r.status !== 0) console.error(`tools/${script} failed (exit ${r.status}): the generated ${what} tests skip`);
    }
  }
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
