/**
 * The measures: every other .ts file of this folder, each exporting one measure
 * as its default. Adding a measure is adding a file; a file that does not hold a
 * measure is named with what is wrong.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../../onnx/errors.js";
import type { Measure } from "./measure.js";

const NOT_MEASURES = new Set(["measure.ts", "registry.ts"]);
const NAME = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/;

let loaded: Promise<Measure[]> | undefined;

export function loadMeasures(dir = import.meta.dirname): Promise<Measure[]> {
  if (dir !== import.meta.dirname) return read(dir);
  return (loaded ??= read(dir));
}

async function read(dir: string): Promise<Measure[]> {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !NOT_MEASURES.has(f))
    .sort();
  const out: Measure[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    let m: Partial<Measure> | undefined;
    try {
      m = (await import(pathToFileURL(file).href)).default;
    } catch (e) {
      // Its own error, first line only: a measure file is the user's code, and this is its one line.
      throw new ConfigError(
        `measure file ${file} cannot be loaded: ${String((e as Error)?.message ?? e).split("\n")[0]}`,
      );
    }
    const bad =
      !m || typeof m !== "object"
        ? "has no default export"
        : typeof m.name !== "string" || !NAME.test(m.name)
          ? `names its measure ${JSON.stringify(m.name)}: expected a dotted name such as "resid.gain"`
          : typeof m.unit !== "string" || typeof m.description !== "string"
            ? "gives no unit or description"
            : !("weights" in m) && !("reduce" in m && "points" in m)
              ? "has neither points and reduce (a prompt measure) nor weights (a weight measure)"
              : out.some((o) => o.name === m.name)
                ? `repeats the measure name "${m.name}"`
                : undefined;
    if (bad) throw new ConfigError(`measure file ${file} ${bad}`);
    out.push(m as Measure);
  }
  return out;
}

/** The measures by name, in the order asked; an unknown name is a configuration error that lists the known ones. */
export function pick(all: Measure[], names: readonly string[]): Measure[] {
  return names.map((n) => {
    const m = all.find((x) => x.name === n);
    if (!m) throw new ConfigError(`no measure is named "${n}"; the measures are ${all.map((x) => x.name).join(", ")}`);
    return m;
  });
}
