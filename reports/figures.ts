/**
 * Figures as vega-lite specs, rendered to SVG in Node (vega's SVG renderer,
 * no canvas): the notebook's four panels plus the per-position heatmaps,
 * component against residual gains, and logit-lens entropy.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { ProbeRun } from "../probes/run.js";

export interface Figure {
  id: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

const W = 320,
  H = 210;
/** A synthetic analog is marked with an asterisk in every figure; each caption says so. */
const label = (r: ProbeRun["results"][number]) => (r.synthetic ? `${r.id}*` : r.id);
const SYNTHETIC_NOTE = " * synthetic analog.";
/** Layers are integers: no "1.0" ticks. */
const LAYER_AXIS = { format: "d", tickMinStep: 1 };

export function figureSpecs(run: ProbeRun): Figure[] {
  const rs = run.results;
  const figs: Figure[] = [
    {
      id: "residual-gain",
      title: "Residual gain per layer",
      caption:
        "The notebook's gains on its prompt: whole-tensor ‖resid_post.L‖ / ‖resid_post.L−1‖, before the final norm.",
      spec: {
        width: W,
        height: H,
        data: {
          values: rs.flatMap((r) => r.seed.residual.gains.map((g, i) => ({ model: label(r), layer: i + 1, gain: g }))),
        },
        layer: [
          {
            mark: { type: "line", point: true },
            encoding: {
              x: { field: "layer", type: "quantitative", title: "layer", axis: LAYER_AXIS },
              y: { field: "gain", type: "quantitative", title: "residual gain", scale: { type: "log" } },
              color: { field: "model", type: "nominal" },
            },
          },
          { mark: { type: "rule", strokeDash: [4, 4] }, encoding: { y: { datum: 1 } } },
        ],
      } as TopLevelSpec,
    },
    {
      id: "residual-norm",
      title: "Residual norm per layer",
      caption: "Whole-tensor ‖resid_post.L‖ on the notebook's prompt, log scale.",
      spec: {
        width: W,
        height: H,
        data: {
          values: rs.flatMap((r) => r.seed.residual.norms.map((n, i) => ({ model: label(r), layer: i, norm: n }))),
        },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "layer", type: "quantitative", axis: LAYER_AXIS },
          y: { field: "norm", type: "quantitative", scale: { type: "log" }, title: "‖resid_post‖" },
          color: { field: "model", type: "nominal" },
        },
      } as TopLevelSpec,
    },
    {
      id: "spectral",
      title: "W_U vs W_E spectral norm",
      caption: "Largest singular value of each matrix (Lanczos); W_U_eff folds in the final norm's gain.",
      spec: {
        width: W,
        height: H,
        data: {
          values: rs.flatMap((r) =>
            [
              ["W_U", r.seed.unembedding],
              ["W_U_eff", r.seed.unembedding_eff],
              ["W_E", r.seed.embedding],
            ].map(([m, s]) => ({ model: label(r), matrix: m, spectral: (s as any).spectral_norm })),
          ),
        },
        mark: "bar",
        encoding: {
          x: { field: "model", type: "nominal", axis: { labelAngle: -20 } },
          xOffset: { field: "matrix" },
          y: { field: "spectral", type: "quantitative", title: "spectral norm" },
          color: { field: "matrix", type: "nominal" },
        },
      } as TopLevelSpec,
    },
    {
      id: "entropy",
      title: "Output entropy and effective vocabulary",
      caption: "Last-token entropy (nats) and exp(entropy), mean over the prompt set.",
      spec: {
        data: {
          values: rs.map((r) => ({
            model: label(r),
            entropy: r.promptSet.entropy,
            effective_vocab: r.promptSet.effective_vocab,
          })),
        },
        hconcat: [
          {
            width: W / 2 - 20,
            height: H,
            mark: "bar",
            encoding: {
              x: { field: "model", type: "nominal", axis: { labelAngle: -30 } },
              y: { field: "entropy", type: "quantitative", title: "entropy (nats)" },
              color: { value: "#2a9d8f" },
            },
          },
          {
            width: W / 2 - 20,
            height: H,
            mark: "bar",
            encoding: {
              x: { field: "model", type: "nominal", axis: { labelAngle: -30 } },
              y: { field: "effective_vocab", type: "quantitative", title: "effective vocab" },
              color: { value: "#e9a23b" },
            },
          },
        ],
      } as TopLevelSpec,
    },
    {
      id: "component-vs-residual",
      title: "Component gain against residual gain",
      caption:
        "Per layer on the notebook's prompt: residual gain ‖resid_post‖/‖resid_pre‖ (solid) and the MLP's component gain ‖mlp_out‖/‖mlp_in‖ (dashed), the kind of the published 0.58x.",
      spec: {
        width: W,
        height: H,
        data: {
          values: rs.flatMap((r) =>
            r.prompts[0].residualGains.flatMap((g, L) => [
              { model: label(r), layer: L, kind: "residual", gain: g },
              { model: label(r), layer: L, kind: "component (mlp)", gain: r.prompts[0].mlpGains[L] },
            ]),
          ),
        },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "layer", type: "quantitative", axis: LAYER_AXIS },
          y: { field: "gain", type: "quantitative", scale: { type: "log" } },
          color: { field: "model", type: "nominal" },
          strokeDash: {
            field: "kind",
            type: "nominal",
            scale: {
              domain: ["residual", "component (mlp)"],
              range: [
                [1, 0],
                [5, 3],
              ],
            },
          },
        },
      } as TopLevelSpec,
    },
    {
      id: "logit-lens",
      title: "Logit-lens entropy per layer",
      caption:
        "Entropy of the last token when resid_post.L is read out through the final norm and W_U, mean over the prompt set.",
      spec: {
        width: W,
        height: H,
        data: {
          values: rs.flatMap((r) => r.promptSet.lensEntropy.map((h, L) => ({ model: label(r), layer: L, entropy: h }))),
        },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "layer", type: "quantitative", axis: LAYER_AXIS },
          y: { field: "entropy", type: "quantitative", title: "entropy (nats)" },
          color: { field: "model", type: "nominal" },
        },
      } as TopLevelSpec,
    },
  ];
  for (const f of figs) f.caption += SYNTHETIC_NOTE;
  for (const r of rs) {
    figs.push({
      id: `heatmap-${r.id}`,
      title: `Per-position residual norm: ${label(r)}`,
      caption: "‖resid_post.L[p]‖ on the notebook's prompt; position 0 is the first token.",
      spec: {
        width: Math.min(W, 40 + 24 * r.prompts[0].tokens),
        height: Math.min(H, 20 + 16 * r.layers),
        data: {
          values: r.prompts[0].positionNorms.flatMap((row, L) =>
            row.map((n, p) => ({ layer: L, position: p, norm: n })),
          ),
        },
        mark: "rect",
        encoding: {
          x: { field: "position", type: "ordinal" },
          y: { field: "layer", type: "ordinal" },
          color: { field: "norm", type: "quantitative", scale: { type: "log", scheme: "viridis" } },
        },
      } as TopLevelSpec,
    });
  }
  return figs;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const config = { legend: { labelLimit: 240 }, axis: { labelLimit: 140 } };
  const view = new vega.View(vega.parse(compile({ ...spec, config } as TopLevelSpec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
