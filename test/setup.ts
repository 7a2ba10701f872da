/** One temporary folder for a whole harness run, removed at its end: tests leave nothing behind in /tmp. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "probespec-tests-"));
  process.env.PROBESPEC_TEST_TMP = dir;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
