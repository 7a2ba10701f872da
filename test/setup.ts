/**
 * One temporary folder for a whole harness run, removed at its end: tests leave nothing behind in /tmp.
 * The real exporters' fixtures that are not committed are generated first where pip's local wheel
 * mirror is (tools/make_exports.sh: cached, a no-op when up to date; test/exports.ts says when they are absent).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "probespec-tests-"));
  process.env.PROBESPEC_TEST_TMP = dir;
  if (process.env.PROBESPEC_MAKE_EXPORTS !== "0") {
    const r = spawnSync("bash", [path.join(import.meta.dirname, "..", "tools", "make_exports.sh")], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    if (r.status !== 0)
      console.error(`tools/make_exports.sh failed (exit ${r.status}): the generated exports' tests skip`);
  }
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
