/**
 * Probe-point names, TransformerLens' vocabulary indexed by layer: produced by
 * `point` and parsed by `parsePoint`, and nowhere else.
 */
export const LAYER_POINTS = [
  "resid_pre",
  "attn_out",
  "resid_mid",
  "mlp_in",
  "mlp_out",
  "resid_post",
  // The attention probabilities, [batch, heads, query, key]: TransformerLens' hook_pattern.
  "pattern",
] as const;
export const GLOBAL_POINTS = ["embed", "ln_final", "logits"] as const;
export type LayerPointKind = (typeof LAYER_POINTS)[number];
export type GlobalPointKind = (typeof GLOBAL_POINTS)[number];
export type ProbePoint = GlobalPointKind | `${LayerPointKind}.${number}`;

export function point(kind: GlobalPointKind): ProbePoint;
export function point(kind: LayerPointKind, layer: number): ProbePoint;
export function point(kind: string, layer?: number): ProbePoint {
  return (layer === undefined ? kind : `${kind}.${layer}`) as ProbePoint;
}

export function parsePoint(name: string): { kind: LayerPointKind | GlobalPointKind; layer?: number } {
  const m = /^([a-z_]+)(?:\.(\d+))?$/.exec(name);
  if (m && m[2] !== undefined && (LAYER_POINTS as readonly string[]).includes(m[1]))
    return { kind: m[1] as LayerPointKind, layer: Number(m[2]) };
  if (m && m[2] === undefined && (GLOBAL_POINTS as readonly string[]).includes(m[1]))
    return { kind: m[1] as GlobalPointKind };
  throw new Error(`"${name}" is not a probe point (expected e.g. resid_post.3, embed, ln_final, logits)`);
}

/** Where a point lies in the forward pass: of two points on one tensor, the later sees an edit at the earlier. */
export function streamOrder(p: ProbePoint): number {
  const { kind, layer } = parsePoint(p);
  if (layer === undefined) return kind === "embed" ? -1 : 1e9 + GLOBAL_POINTS.indexOf(kind as GlobalPointKind);
  return layer * LAYER_POINTS.length + LAYER_POINTS.indexOf(kind as LayerPointKind);
}
