/**
 * Figures as vega-lite specs, rendered to SVG in Node (vega's SVG renderer,
 * no canvas): the notebook's panels (its prompt's residual gains and norms, the
 * matrices' spectral norms), then every measure the run took that declares a figure.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { Drawing } from "../probes/measures/measure.js";
import type { MeasureInfo, ProbeRun } from "../probes/run.js";
import { notebookNumbers } from "./results.js";

export interface Figure {
  id: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

const W = 320,
  H = 210;
/** A synthetic analog is marked with an asterisk in every figure; the caption of a figure that shows one says so. */
const label = (r: ProbeRun["results"][number]) => (r.synthetic ? `${r.id}*` : r.id);
const syntheticNote = (rs: readonly ProbeRun["results"][number][]) =>
  rs.some((r) => r.synthetic) ? " An asterisk (*) marks a synthetic analog." : "";
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
          values: rs.flatMap((r) =>
            (notebookNumbers(r).residual?.gains ?? []).map((g, i) => ({ model: label(r), layer: i + 1, gain: g })),
          ),
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
          values: rs.flatMap((r) =>
            (notebookNumbers(r).residual?.norms ?? []).map((n, i) => ({ model: label(r), layer: i, norm: n })),
          ),
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
      caption:
        "Largest singular value of each matrix (Lanczos); W_U_eff folds in the final norm's gain. A spectral norm grows with the vocabulary (as √V for random rows): compare models of one vocabulary only; V is in each label.",
      spec: {
        width: W,
        height: H,
        data: {
          values: rs.flatMap((r) => {
            const n = notebookNumbers(r);
            return (
              [
                ["W_U", n.unembedding],
                ["W_U_eff", n.unembedding_eff],
                ["W_E", n.embedding],
              ] as const
            ).flatMap(([m, s]) =>
              s ? [{ model: `${label(r)} (V ${r.vocab})`, matrix: m, spectral: s.spectral_norm }] : [],
            );
          }),
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
  ];
  for (const f of figs) f.caption += syntheticNote(rs);
  for (const m of run.measures) if (m.figure) figs.push(...measureFigures(run, m, m.figure));
  return figs;
}

/** The value of a measure for a model, where it has one. */
function valueOf(r: ProbeRun["results"][number], name: string) {
  const m = r.measures[name];
  return m && "value" in m ? m : undefined;
}

/** A measure drawn as it declares: a line per model over layers, a bar per model, or a heatmap per model. */
function measureFigures(run: ProbeRun, m: MeasureInfo, f: Drawing): Figure[] {
  const rs = run.results.filter((r) => valueOf(r, m.name));
  if (!rs.length || f.kind === "table") return [];
  const id = `measure-${m.name.replace(/[^a-z0-9]+/gi, "-")}`;
  const caption = `${f.caption} Measure ${m.name} (${m.unit}).`;
  const y = { field: "value", type: "quantitative", title: m.unit, ...(f.log ? { scale: { type: "log" } } : {}) };
  const rule =
    f.rule === undefined ? [] : [{ mark: { type: "rule", strokeDash: [4, 4] }, encoding: { y: { datum: f.rule } } }];
  if (f.kind === "positions")
    return rs.map((r) => {
      const rows = valueOf(r, m.name)!.value as number[][];
      return {
        id: `${id}-${r.id}`,
        title: `${f.title}: ${label(r)}`,
        caption: caption + syntheticNote([r]),
        spec: {
          width: Math.min(W, 40 + 24 * (rows[0]?.length ?? 1)),
          height: Math.min(H, 20 + 16 * rows.length),
          data: { values: rows.flatMap((row, L) => row.map((v, p) => ({ layer: L, position: p, value: v }))) },
          mark: "rect",
          encoding: {
            x: { field: "position", type: "ordinal" },
            y: { field: "layer", type: "ordinal" },
            color: {
              field: "value",
              type: "quantitative",
              scale: { type: f.log ? "log" : "linear", scheme: "viridis" },
            },
          },
        } as TopLevelSpec,
      };
    });
  const values =
    f.kind === "layers"
      ? rs.flatMap((r) =>
          (valueOf(r, m.name)!.value as number[]).map((v, L) => ({ model: label(r), layer: L, value: v })),
        )
      : rs.map((r) => ({ model: label(r), value: valueOf(r, m.name)!.value as number }));
  const encoding =
    f.kind === "layers"
      ? {
          x: { field: "layer", type: "quantitative", title: "layer", axis: LAYER_AXIS },
          y,
          color: { field: "model", type: "nominal" },
        }
      : {
          x: { field: "model", type: "nominal", axis: { labelAngle: -20 } },
          y,
          color: { field: "model", type: "nominal" },
        };
  return [
    {
      id,
      title: f.title,
      caption: caption + syntheticNote(rs),
      spec: {
        width: W,
        height: H,
        data: { values },
        layer: [{ mark: f.kind === "layers" ? { type: "line", point: true } : "bar", encoding }, ...rule],
      } as TopLevelSpec,
    },
  ];
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
