/**
 * What the setup hands the reporter besides the probe run: the preregistration
 * stamp of this folder (every spec file and criteria.ts, hashed before any
 * verdict is drawn) and the synthetic subjects whose plants the run must
 * reproduce.
 */
import fs from "node:fs";
import path from "node:path";
import { PRESETS } from "../models/analogs/presets.js";
import type { ModelEntry } from "../models/registry/schema.js";
import { sha } from "../probes/cache.js";
import { isSubject } from "../contract/prediction.js";
import type { PlantedSubject, SetupExtras } from "../contract/run-file.js";

/** sha256 of each spec file and of criteria.ts in `dir`, and of the prompt set as run. */
export function preregistration(
  dir: string,
  promptSet: { name: string; prompts: string[] },
): SetupExtras["preregistration"] {
  const hash = (f: string) => sha(fs.readFileSync(path.join(dir, f)));
  const specs = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".spec.ts"))
    .sort();
  return {
    specs: Object.fromEntries(specs.map((f) => [f, hash(f)])),
    criteria: hash("criteria.ts"),
    prompts: sha(JSON.stringify({ name: promptSet.name, prompts: promptSet.prompts })),
  };
}

/**
 * The synthetic subjects built from a preset as it is (no knob, seed or dialect
 * of their own: anything else plants something the preset did not declare),
 * with the verdicts the preset says its plants must produce; on a prompt set
 * other than the one its at-bound effects were solved on, a preset is left out.
 */
export function plantedSubjects(
  entries: readonly ModelEntry[],
  probed: readonly string[],
  promptSet?: string,
): PlantedSubject[] {
  return entries.flatMap((e) => {
    const source = e.source as Record<string, unknown>;
    const preset = typeof source.analog === "string" ? PRESETS[source.analog] : undefined;
    const asIs = Object.keys(source).length === 1;
    if (!preset?.expects || !Object.keys(preset.expects).length || !asIs) return [];
    // An effect solved onto its bound for other prompts is no plant on these.
    if (preset.solvedOn && promptSet !== undefined && preset.solvedOn !== promptSet) return [];
    if (!e.synthetic || !isSubject(e) || !probed.includes(e.id)) return [];
    return [{ id: e.id, preset: source.analog as string, planted: preset.planted ?? "", expects: preset.expects }];
  });
}
