/**
 * Where a report may be written, checked before anything is probed: by the run's
 * setup (hypotheses/setup.ts), for the reporter (reports/write.ts) to write there.
 */
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "../onnx/errors.js";
import { makeDir, modelFolderHolding } from "../onnx/io.js";

/**
 * PROBESPEC_REPORT_DIR must be a folder probespec may write: never inside a
 * model's folder (a user's export has its own results.json, config.json…), and
 * creatable. Checked before anything is probed; ConfigError otherwise.
 */
export function checkReportDir(dir: string, models: readonly { id: string; dir: string }[]): void {
  const m = modelFolderHolding(dir, models);
  if (m)
    throw new ConfigError(
      `PROBESPEC_REPORT_DIR=${dir} lies inside the folder of model "${m.id}" (${m.dir}); probespec never writes into a model's folder, so choose another`,
    );
  try {
    makeDir(dir);
    const probe = path.join(dir, `.probespec-write-check.${process.pid}`);
    fs.writeFileSync(probe, "");
    fs.rmSync(probe);
  } catch (e) {
    throw new ConfigError(`PROBESPEC_REPORT_DIR=${dir} cannot be written: ${(e as Error).message}`);
  }
}
