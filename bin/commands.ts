/**
 * The notebook user's first questions, without a spec: which models there are
 * (`probespec models`), and one measure of one model on one prompt
 * (`probespec measure`), through the same probe run the hypotheses use, so its
 * numbers are results.json's.
 */
import fs from "node:fs";
import { loadRegistry } from "../models/registry/registry.js";
import { describeSource, fetchCommand, isGenerated, sourceFolders } from "../models/registry/sources.js";
import { readConfig } from "../probes/config.js";
import { runProbes } from "../probes/run.js";
import { ConfigError, printable } from "../onnx/errors.js";
import type { Value } from "../probes/measures/measure.js";

/** Every command, with one line each: `--help` prints them, an unknown command names them. */
export const COMMANDS: [string, string][] = [
  ["npx vitest hypotheses", "the main job: probe every model, judge every hypothesis, write the report"],
  ["probespec models", "the model entries: their source, whether it is here, and what each needs"],
  [
    'probespec measure <id> <measure> ["<prompt>"] [--json]',
    "one measure of one model, on one prompt or the prompt set",
  ],
  ["probespec doctor <id>", "what the locator finds in a model: its layers, W_U, W_E, probe points, provider"],
  ["probespec probe [--shard i/n]", "probe into the results store, only shard i of n where given (docs: Slurm)"],
  ["probespec --help", "this list"],
];

export const usage = () => {
  const width = Math.max(...COMMANDS.map(([c]) => c.length));
  return ["usage:", ...COMMANDS.map(([c, what]) => `  ${c.padEnd(width)}  ${what}`)].join("\n");
};

/** `probespec models`: each entry, its source, and whether its files are here (without converting anything). */
export async function models(): Promise<number> {
  const config = readConfig();
  const registry = await loadRegistry(config.modelsDir);
  const rows = registry.entries.map((e) => {
    const folders = sourceFolders(e, config);
    const here = isGenerated(e) ? "generated on demand" : folders.every((f) => fs.existsSync(f)) ? "here" : "absent";
    const fetch = fetchCommand(e);
    const needs = [
      e.memoryGb !== undefined && `${e.memoryGb} GB`,
      here === "absent" && (fetch ?? (e.notes && e.notes.split(". ")[0])),
    ].filter(Boolean);
    return [e.id, e.synthetic ? "synthetic" : "real", describeSource(e), here, needs.join("; ")];
  });
  const head = ["id", "kind", "source", "status", "needs"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  console.log(
    [line(head), ...rows.map(line), ...registry.problems.map((p) => `entry error: ${p.error}`)]
      .map(printable)
      .join("\n"),
  );
  return registry.problems.length ? 1 : 0;
}

/** A value as a terminal shows it: a per-layer list as a table, named values one a line. */
function show(v: Value, indent = ""): string[] {
  if (typeof v === "number") return [`${indent}${v}`];
  if (Array.isArray(v) && v.every((x) => typeof x === "number"))
    return (v as number[]).map((x, L) => `${indent}layer ${String(L).padStart(3)}  ${x}`);
  if (Array.isArray(v)) return v.flatMap((x, i) => [`${indent}${i}:`, ...show(x as Value, `${indent}  `)]);
  return Object.entries(v as Record<string, Value>).flatMap(([k, x]) =>
    typeof x === "number" ? [`${indent}${k}  ${x}`] : [`${indent}${k}:`, ...show(x, `${indent}  `)],
  );
}

/** `probespec measure <id> <measure> ["<prompt>"] [--json]`: the measure as a probe run takes it. */
export async function measure(args: string[]): Promise<number> {
  const json = args.includes("--json");
  const [id, name, prompt, ...rest] = args.filter((a) => a !== "--json");
  if (!id || !name || rest.length)
    throw new ConfigError(`measure: expected <id> <measure> ["<prompt>"] [--json]\n${usage()}`);
  const env = { ...process.env, PROBESPEC_MODELS: id, PROBESPEC_MEASURES: name };
  const config = readConfig(env);
  const promptSet = prompt === undefined ? config.promptSet : { name: "command line", file: "-", prompts: [prompt] };
  const run = await runProbes({
    config,
    promptSet,
    onProgress: (m) => process.stderr.write(`[probespec] ${printable(m)}\n`),
  });
  const r = run.results.find((x) => x.id === id);
  if (!r) {
    const skipped = run.skipped.find((s) => s.id === id);
    console.error(printable(run.failures[0]?.error ?? `${id}: skipped: ${skipped?.reason ?? "not probed"}`));
    return 1;
  }
  const m = r.measures[name];
  if (!m || !("value" in m)) {
    console.error(
      printable(`${id}: ${name} is unavailable: ${m && "unavailable" in m ? m.unavailable : "not measured"}`),
    );
    return 1;
  }
  const one = prompt !== undefined && m.perPrompt ? m.perPrompt[0] : m.value;
  if (json) {
    console.log(
      JSON.stringify({ model: id, measure: name, unit: m.unit, prompt: prompt ?? promptSet.name, value: one }),
    );
    return 0;
  }
  const over = prompt !== undefined ? `on ${JSON.stringify(prompt)}` : `over the prompt set "${promptSet.name}"`;
  console.log([`${id}  ${name} (${m.unit}) ${over}`, ...show(one as Value, "  ")].map(printable).join("\n"));
  return 0;
}
