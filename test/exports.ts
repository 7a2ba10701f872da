/**
 * Where the real exporters' fixtures are: the committed few in
 * test/fixtures/exports/, and the rest that tools/make_exports.sh generates
 * into .probespec-cache/exports/ where the wheel mirror is (CI runs it).
 */
import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "../models/registry/registry.js";

const COMMITTED = path.join(import.meta.dirname, "fixtures", "exports");
export const GENERATED = process.env.PROBESPEC_EXPORTS ?? path.join(PROJECT_ROOT, ".probespec-cache", "exports");

const folders = (root: string) =>
  fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((f) => fs.existsSync(path.join(root, f, "reference.json")))
        .map((f) => [f, path.join(root, f)] as const)
    : [];

/** name → folder, the committed ones first. */
export const EXPORTS = new Map([...folders(GENERATED), ...folders(COMMITTED)].sort(([a], [b]) => a.localeCompare(b)));

export const EXPORTS_MISSING = fs.existsSync(path.join(GENERATED, "COMPLETE"))
  ? undefined
  : `only the ${EXPORTS.size} committed exports run: the others are generated into ${GENERATED} by tools/make_exports.sh, which needs pip's local wheel mirror`;
