/**
 * results.json: the notebook's schema at the top level (experiment, date,
 * models_tested, unembedding_analysis, residual_stream_analysis,
 * entropy_analysis, hypotheses), keyed by model id with the notebook's field
 * names inside, plus verdicts, extended metrics, provenance and skipped models.
 * Everything is copied from the probe run and the specs; nothing is recomputed.
 */
import type { z } from "zod";
import type { ProbeResult } from "../probes/probe.js";
import { LogitStatsSchema, MatrixStatsSchema, ResidualStatsSchema } from "../probes/result-schema.js";
import type { ProbeRun } from "../probes/run.js";
import type { HypothesisVerdict } from "./verdicts.js";
import type { HarnessCheck } from "./harness.js";
import type { Preregistration } from "../contract/run-file.js";

/**
 * The notebook's numbers of one model, each read from the measure that holds it and parsed by its
 * schema; null where the run did not take that measure or the graph could not give it. Its residual
 * and logit statistics are of the notebook's one prompt, the prompt set's first.
 */
export function notebookNumbers(r: ProbeResult) {
  const read = <S extends z.ZodType>(name: string, schema: S, first = false): z.output<S> | null => {
    const m = r.measures[name];
    if (!m || !("value" in m)) return null;
    return schema.parse(first ? m.perPrompt?.[0] : m.value);
  };
  return {
    unembedding: read("matrix.w_u", MatrixStatsSchema),
    unembedding_eff: read("matrix.w_u_eff", MatrixStatsSchema),
    embedding: read("matrix.w_e", MatrixStatsSchema),
    wu_we_ratio: (r.measures["matrix.wu_we_ratio"] as { value?: number } | undefined)?.value ?? null,
    residual: read("resid.stream", ResidualStatsSchema, true),
    residualEx0: read("resid.stream_ex0", ResidualStatsSchema, true),
    entropy: read("logits.stats", LogitStatsSchema, true),
  };
}

const byId = <T>(run: ProbeRun, f: (r: ProbeRun["results"][number]) => T) =>
  Object.fromEntries(run.results.map((r) => [r.id, f(r)]));

export function resultsJson(
  run: ProbeRun,
  verdicts: HypothesisVerdict[],
  meta: { gitCommit?: string; durationS: number; harness?: HarnessCheck; stamp?: Preregistration },
): Record<string, unknown> {
  return {
    experiment: "Mistral Paradox Investigation",
    date: run.startedAt.replace("T", " ").slice(0, 19),
    models_tested: run.results.map((r) => r.id),
    unembedding_analysis: byId(run, (r) => {
      const n = notebookNumbers(r);
      return {
        family: r.family,
        unembedding: n.unembedding,
        embedding: n.embedding,
        wu_we_ratio: n.wu_we_ratio,
        tied_embeddings: r.tied.value,
      };
    }),
    residual_stream_analysis: byId(run, (r) => {
      const { residual } = notebookNumbers(r);
      return {
        family: r.family,
        // The notebook's n_layers was len(gains), one less than the layer count: kept as it was.
        n_layers: residual?.gains.length ?? null,
        ...residual,
      };
    }),
    entropy_analysis: byId(run, (r) => ({ family: r.family, ...notebookNumbers(r).entropy })),
    // The notebook's map of hypotheses to what they check, from each spec's own claim.
    hypotheses: Object.fromEntries(verdicts.map((v) => [v.hypothesis.replace(/-/g, "_"), v.claim ?? v.hypothesis])),
    // What was fixed before the data was seen: compare two runs' stamps with PROBESPEC_COMPARE.
    preregistration: meta.stamp ?? null,
    // The synthetic cohort, checked against what its presets planted.
    harness_check: meta.harness && {
      passed: meta.harness.differences.length === 0,
      as_planted: meta.harness.asPlanted,
      total: meta.harness.total,
      differences: meta.harness.differences,
      // Each planted verdict and the one reached: a confirmation, a rejection and an effect at the bound per hypothesis.
      plants: meta.harness.plants.map(({ preset, hypothesis, planted, got }) => ({ preset, hypothesis, planted, got })),
      unplanted: meta.harness.unplanted,
      subjects: meta.harness.subjects,
    },
    // Each hypothesis' verdict is its real cohort's where the run has real models.
    verdicts: Object.fromEntries(
      verdicts.map((v) => [
        v.hypothesis,
        {
          verdict: v.verdict,
          // The cohort the verdict is of: the real models' wherever the run has any.
          cohort: v.cohort ?? null,
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
            cohorts: t.prediction?.cohorts,
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
      unembedding_eff: notebookNumbers(r).unembedding_eff,
      residual_without_position_0: notebookNumbers(r).residualEx0,
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
      adapters: byId(run, (r) => r.execution.adapter ?? null),
      cpu_fallback: byId(run, (r) => r.execution.cpuFallback ?? null),
      git_commit: meta.gitCommit,
      duration_s: meta.durationS,
      models: byId(run, (r) => ({
        ...r.provenance,
        family: r.family,
        dtype: r.dtype,
        weight_form: r.weightForm,
        ...(r.weightChoice && { weight_choice: r.weightChoice }),
        source: r.source,
        synthetic: r.synthetic,
        timings_s: r.timings,
      })),
      cache_hits: run.cacheHits,
      model_loads: run.modelLoads,
      prompts: run.promptSet,
      // How every interval and p-value was drawn: within each prompt's kind (a corpus sample's genre) where given.
      bootstrap: {
        interval:
          "BCa, its normal quantiles read as Student's t at n − strata degrees of freedom (expanded percentile)",
        stratified_by: run.promptSet.strata ? "prompts.strata (the sample's genres)" : null,
      },
    },
    skipped: [
      ...run.skipped.map((s) => ({ id: s.id, reason: s.reason })),
      ...run.failures.map((f) => ({ id: f.id, reason: f.error, error: true })),
      // A broken entry the run was asked to probe is among the failures; the others are here.
      ...run.registryProblems.map((p) => ({ id: p.id, file: p.file, reason: p.error, error: true })),
    ],
  };
}
