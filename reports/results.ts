/**
 * results.json: the notebook's schema at the top level (experiment, date,
 * models_tested, unembedding_analysis, residual_stream_analysis,
 * entropy_analysis, hypotheses), keyed by model id with the notebook's field
 * names inside, plus verdicts, extended metrics, provenance and skipped models.
 * Everything is copied from the probe run and the specs; nothing is recomputed.
 */
import type { ProbeRun } from "../probes/run.js";
import type { HypothesisVerdict } from "./verdicts.js";

const byId = <T>(run: ProbeRun, f: (r: ProbeRun["results"][number]) => T) =>
  Object.fromEntries(run.results.map((r) => [r.id, f(r)]));

export function resultsJson(
  run: ProbeRun,
  verdicts: HypothesisVerdict[],
  meta: { gitCommit?: string; durationS: number },
): Record<string, unknown> {
  return {
    experiment: "Mistral Paradox Investigation",
    date: run.startedAt.replace("T", " ").slice(0, 19),
    models_tested: run.results.map((r) => r.id),
    unembedding_analysis: byId(run, (r) => ({
      family: r.family,
      unembedding: r.seed.unembedding,
      embedding: r.seed.embedding,
      wu_we_ratio: r.seed.wu_we_ratio,
      tied_embeddings: r.seed.tied_embeddings,
    })),
    residual_stream_analysis: byId(run, (r) => ({
      family: r.family,
      // The notebook's n_layers was len(gains), one less than the layer count: kept as it was.
      n_layers: r.seed.residual.gains.length,
      gains: r.seed.residual.gains,
      norms: r.seed.residual.norms,
      contracting_pct: r.seed.residual.contracting_pct,
      last_gain: r.seed.residual.last_gain,
      max_gain: r.seed.residual.max_gain,
      max_gain_layer: r.seed.residual.max_gain_layer,
      expansion_layers: r.seed.residual.expansion_layers,
    })),
    entropy_analysis: byId(run, (r) => ({ family: r.family, ...r.seed.entropy })),
    // The notebook's map of hypotheses to what they check, from each spec's own claim.
    hypotheses: Object.fromEntries(verdicts.map((v) => [v.hypothesis.replace(/-/g, "_"), v.claim ?? v.hypothesis])),
    verdicts: Object.fromEntries(
      verdicts.map((v) => [
        v.hypothesis,
        {
          verdict: v.verdict,
          reason: v.reason,
          by_cohort: Object.fromEntries(
            (v.cohorts ?? []).map((c) => [c.cohort, { verdict: c.verdict, reason: c.reason }]),
          ),
          predictions: v.predictions.map((t) => ({
            name: t.name,
            state: t.state,
            criterion: t.prediction?.criterion,
            threshold: t.prediction?.threshold,
            passed: t.prediction?.passed ?? (t.state === "passed" ? true : t.state === "failed" ? false : null),
            value: t.prediction?.rows.map((r) => r.value),
            ci: t.prediction?.rows.map((r) => r.ci ?? null),
            rows: t.prediction?.rows,
            skipped: t.skipNote,
            error: t.error && t.error.name !== "AssertionError" ? t.error.message : undefined,
          })),
        },
      ]),
    ),
    extended: byId(run, (r) => ({
      layers: r.layers,
      d: r.d,
      vocab: r.vocab,
      parallel_residual: r.parallel,
      tied: r.tied,
      unembedding_eff: r.seed.unembedding_eff,
      residual_without_position_0: r.seed.residualEx0,
      // Every measure over the prompt set, and per prompt; a measure the graph cannot give says why.
      measures: Object.fromEntries(
        Object.entries(r.measures).map(([k, m]) => [
          k,
          "value" in m ? { unit: m.unit, value: m.value } : { unit: m.unit, unavailable: m.unavailable },
        ]),
      ),
      prompt_set: r.prompts.map((p, i) => ({
        prompt: p.prompt,
        tokens: p.tokens,
        measures: Object.fromEntries(
          Object.entries(r.measures).flatMap(([k, m]) =>
            "perPrompt" in m && m.perPrompt ? [[k, m.perPrompt[i]]] : [],
          ),
        ),
      })),
    })),
    provenance: {
      execution_provider: [...new Set(run.results.map((r) => r.execution.provider))],
      device_requested: run.device,
      ort_version: run.ortVersion,
      fallbacks: byId(run, (r) => r.execution.fallbacks),
      git_commit: meta.gitCommit,
      duration_s: meta.durationS,
      models: byId(run, (r) => ({
        ...r.provenance,
        family: r.family,
        dtype: r.dtype,
        source: r.source,
        synthetic: r.synthetic,
        timings_s: r.timings,
      })),
      cache_hits: run.cacheHits,
      model_loads: run.modelLoads,
      prompts: run.promptSet,
    },
    skipped: [
      ...run.skipped.map((s) => ({ id: s.id, reason: s.reason })),
      ...run.failures.map((f) => ({ id: f.id, reason: f.error, error: true })),
      // A broken entry the run was to probe is among the failures already.
      ...run.registryProblems
        .filter((p) => !run.failures.some((f) => f.id === p.id))
        .map((p) => ({ id: p.id, reason: p.error, error: true })),
    ],
  };
}
