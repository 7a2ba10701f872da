/**
 * npx tsx test/bench/intervention.ts [model-id] [tokens]: what an intervention pass costs against the probed pass,
 * on one model (TinyLlama-1.1B by default) and a prompt of `tokens` real tokens (40, the default prompts' middle). The
 * probed pass is the graph a run builds for every measure; the intervention pass is the same graph with a site at
 * the last layer's input (position-zero's: position 0 replaced by the mean of the others), run with the site on.
 * Also the same session with the site off, against the probed pass: the price of the surgery alone. Timed in
 * alternation (cost.ts timePair), median of runs after a warm-up. Prints one JSON line; asserts nothing.
 */
import fs from "node:fs";
import path from "node:path";
import { loadRegistry } from "../../models/registry/registry.js";
import { resolveSource } from "../../models/registry/select.js";
import { readConfig } from "../../probes/config.js";
import { encodeModel, readModel, relocateExternalData } from "../../onnx/io.js";
import { feeder } from "../../probes/feeds.js";
import { addInterventions, interventionFeeds, type Intervention } from "../../probes/intervene.js";
import { locate } from "../../probes/locate.js";
import { loadMeasures } from "../../probes/measures/registry.js";
import { planReads, probedGraph } from "../../probes/probed-graph.js";
import { PARADOX_PROMPTS, promptTexts } from "../../probes/prompts.js";
import { createSession } from "../../probes/session.js";
import { idsOfLength, timePair } from "./cost.js";

const [id = "tinyllama-1.1b", tokens = "40"] = process.argv.slice(2);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const config = readConfig();
const entry = (await loadRegistry(config.modelsDir)).entries.find((e) => e.id === id);
if (!entry) throw new Error(`no model "${id}" in ${config.modelsDir}`);
const dir = await resolveSource(entry, config);
const file = path.join(dir, "model.onnx");
const { proto } = readModel(file, id);
const located = locate(proto, { modelId: id });
const plan = planReads(await loadMeasures(), located);
const site: Intervention = { point: `resid_pre.${located.layers - 1}`, positions: "first", edit: { op: "mean" } };
const intervened = addInterventions(proto, located, [site.point], id);
const open = async (graph: typeof proto, at: typeof located) => {
  const g = probedGraph(graph, at, id, plan.graph);
  const forOrt = relocateExternalData(g.proto, dir);
  const { session } = await createSession(encodeModel(forOrt.proto), {
    device: "cpu",
    threads: config.threads,
    externalDataDir: forOrt.dir,
  });
  return { session, outputs: g.outputs };
};
const probed = await open(proto, located);
const withSite = await open(intervened.proto, intervened.located);
const ids = idsOfLength(dir, promptTexts(PARADOX_PROMPTS).join(" "), Number(tokens));
const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
const feeds = feeder(located, cfg, undefined, id)(ids);
const run =
  (s: typeof probed, extra = {}) =>
  () =>
    s.session.run({ ...feeds, ...extra }, s.outputs);
const on = interventionFeeds([site.point], ids.length, located.d, site, id);
const off = interventionFeeds([site.point], ids.length, located.d, undefined, id);
const [p1, i1] = await timePair(run(probed), run(withSite, on), RUNS);
const [p2, o2] = await timePair(run(probed), run(withSite, off), RUNS);
console.log(
  JSON.stringify({
    model: id,
    tokens: ids.length,
    runs: RUNS,
    probed_s: p1,
    intervention_s: i1,
    intervention_over_probed: i1.median / p1.median,
    sites_off_over_probed: o2.median / p2.median,
  }),
);
await probed.session.release();
await withSite.session.release();
