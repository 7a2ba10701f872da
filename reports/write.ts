/**
 * Writing a report without ever leaving a half-written one where the previous
 * one stood: the run's folder is filled under a temporary name and renamed into
 * reports/runs/<timestamp>/, then reports/latest (a symlink) is swapped to it in
 * one rename. With PROBESPEC_REPORT_DIR each file is written to a temp name and
 * renamed. A write that fails leaves no temporary file or folder behind.
 */
import fs from "node:fs";
import path from "node:path";
import { makeDir } from "../onnx/io.js";

export const REPORTS_DIR = import.meta.dirname;

export function writeReport(
  files: Record<string, string>,
  { reportDir, stamp, root = REPORTS_DIR }: { reportDir?: string; stamp: string; root?: string },
): string {
  if (reportDir) {
    const dir = path.resolve(reportDir);
    makeDir(dir);
    for (const [name, content] of Object.entries(files)) {
      const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
      try {
        fs.writeFileSync(tmp, content);
        fs.renameSync(tmp, path.join(dir, name));
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    }
    return dir;
  }
  const runs = path.join(root, "runs");
  makeDir(runs);
  let name = stamp;
  for (let i = 1; fs.existsSync(path.join(runs, name)); i++) name = `${stamp}-${i}`;
  const tmp = path.join(runs, `.${name}.${process.pid}.tmp`);
  const final = path.join(runs, name);
  try {
    fs.mkdirSync(tmp);
    for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(tmp, file), content);
    fs.renameSync(tmp, final);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const latest = path.join(root, "latest");
  const link = `${latest}.${process.pid}.tmp`;
  fs.rmSync(link, { force: true });
  fs.symlinkSync(path.join("runs", name), link);
  // A real folder left at reports/latest by hand would block the swap; move it aside first.
  if (fs.existsSync(latest) && !fs.lstatSync(latest).isSymbolicLink())
    fs.renameSync(latest, `${latest}.old-${Date.now()}`);
  fs.renameSync(link, latest);
  return final;
}
