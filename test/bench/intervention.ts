/**
 * What an intervention costs against the probed pass: `npm run bench` measures it at 1.1B, and
 * `npx tsx test/bench/intervention.ts [model-id] [tokens]` on any model of the registry (TinyLlama-1.1B and 40 real
 * tokens, the default prompts' middle, by default). The probed pass is the graph a run builds for every measure; the
 * intervention pass is that graph with position-zero's fork (position 0 of the last layer's input replaced by the mean
 * of the others: probes/intervene.ts), which computes the plain measures and the intervened one in the same run. Also
 * the same fork with its site off: the price of the surgery alone. Timed in alternation (cost.ts timePair), median of
 * runs after a warm-up. Asserts nothing.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadRegistry } from "../../models/registry/registry.js";
import { resolveSource } from "../../models/registry/sources.js";
import { readConfig } from "../../probes/config.js";
import { encodeModel, readModel, relocateExternalData } from "../../onnx/io.js";
import { feeder } from "../../probes/feeds.js";
import { forkFeeds, type Intervention } from "../../probes/intervene.js";
import { locate } from "../../probes/locate.js";
import { loadMeasures } from "../../probes/measures/registry.js";
import { planReads, probedGraph } from "../../probes/probed-graph.js";
import { PARADOX_PROMPTS, promptTexts } from "../../probes/prompts.js";
import { createSession } from "../../probes/session.js";
import { idsOfLength, timePair, type Timing } from "./cost.js";

export interface InterventionCost {
  model: string;
  tokens: number;
  runs: number;
  probed_s: Timing;
  intervention_s: Timing;
  intervention_over_probed: number;
  site_off_over_probed: number;
}

/** The probed pass, and the same with position-zero's fork on and off, of the converted model in `dir`. */
export async function interventionCost(
  id: string,
  dir: string,
  { tokens = 40, runs = 10, threads }: { tokens?: number; runs?: number; threads?: number } = {},
): Promise<InterventionCost> {
  const { proto } = readModel(path.join(dir, "model.onnx"), id);
  const located = locate(proto, { modelId: id });
  const measures = await loadMeasures();
  const plan = planReads(
    measures.filter((m) => !("intervention" in m && m.intervention)),
    located,
  );
  const site: Intervention = { point: `resid_pre.${located.layers - 1}`, positions: "first", edit: { op: "mean" } };
  // The fork reads what position-zero's measure reads under it.
  const gain = planReads(
    measures.filter((m) => m.name === "resid.last_gain_pos0_mean"),
    located,
  ).graph;
  const fork = { tag: "bench", point: site.point, ...gain };
  const open = async (g: ReturnType<typeof probedGraph>) => {
    const forOrt = relocateExternalData(g.proto, dir);
    const { session } = await createSession(encodeModel(forOrt.proto), {
      device: "cpu",
      threads,
      externalDataDir: forOrt.dir,
    });
    return { session, outputs: g.outputs };
  };
  const probed = await open(probedGraph(proto, located, id, plan.graph));
  const forked = await open(probedGraph(proto, located, id, plan.graph, [fork]));
  const ids = idsOfLength(dir, promptTexts(PARADOX_PROMPTS).join(" "), tokens);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const feeds = feeder(located, cfg, undefined, id)(ids);
  const run =
    (s: typeof probed, extra = {}) =>
    () =>
      s.session.run({ ...feeds, ...extra }, s.outputs);
  const on = forkFeeds(fork.tag, ids.length, located.d, site, id);
  const off = forkFeeds(fork.tag, ids.length, located.d, undefined, id);
  try {
    const [p1, i1] = await timePair(run(probed), run(forked, on), runs);
    const [p2, o2] = await timePair(run(probed), run(forked, off), runs);
    return {
      model: id,
      tokens: ids.length,
      runs,
      probed_s: p1,
      intervention_s: i1,
      intervention_over_probed: i1.median / p1.median,
      site_off_over_probed: o2.median / p2.median,
    };
  } finally {
    await probed.session.release();
    await forked.session.release();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [id = "tinyllama-1.1b", tokens = "40"] = process.argv.slice(2);
  const config = readConfig();
  const entry = (await loadRegistry(config.modelsDir)).entries.find((e) => e.id === id);
  if (!entry) throw new Error(`no model "${id}" in ${config.modelsDir}`);
  const dir = await resolveSource(entry, config);
  const cost = await interventionCost(id, dir, {
    tokens: Number(tokens),
    runs: Number(process.env.BENCH_RUNS ?? 10),
    threads: config.threads,
  });
  console.log(JSON.stringify(cost));
}
