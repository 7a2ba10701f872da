/**
 * RoPE as a checkpoint's config.json gives it (transformers 5's rope_parameters, or the older rope_theta
 * and rope_scaling; GPT-NeoX's rotary_emb_base and rotary_pct), computed as transformers'
 * modeling_rope_utils.py computes it. A rope type that is not applied is refused by name.
 */

import type { CheckpointRules } from "../architectures/table.js";

type Fail = (m: string) => never;

export interface Rope {
  theta: number;
  /** The fraction of each head that is rotated. */
  fraction: number;
  /** Linear scaling: every frequency divided by it. */
  scale?: number;
  /** Each pair's frequency, where the rope type sets them one by one (llama3). */
  invFreq?: number[];
}

export function ropeOf(cfg: Record<string, any>, type: CheckpointRules, headDim: number, fail: Fail): Rope {
  const rules = type.rope ?? {};
  // Without rope parameters the class's defaults hold whole: transformers 5 then ignores a lone top-level rope_theta
  // (ApertusConfig.from_dict({"rope_theta": 5e5, …}).rope_parameters has theta 12e6).
  // A string or a list is no set of parameters: read as absent, it would be default RoPE without a word.
  for (const key of ["rope_parameters", "rope_scaling"]) {
    const v = cfg[key];
    if (v !== undefined && v !== null && (typeof v !== "object" || Array.isArray(v)))
      fail(`"${key}" is ${JSON.stringify(v)}, where an object such as {"rope_type": "linear", "factor": 2} is needed`);
  }
  const given = cfg.rope_parameters ?? cfg.rope_scaling;
  const p: Record<string, any> = given ?? rules.parameters ?? {};
  const theta =
    p.rope_theta ?? cfg.rope_theta ?? (rules.neoxKeys ? cfg.rotary_emb_base : undefined) ?? rules.theta ?? 10000;
  // Only the types whose modeling file reads partial_rotary_factor rotate part of the head (GPT-NeoX, Phi-3, Phi,
  // StableLM), each class's default where it is left out. GPT-NeoX's older configs call it rotary_pct, and
  // GPTNeoXConfig defaults it to 0.25.
  const fraction = rules.partial
    ? (p.partial_rotary_factor ??
      cfg.partial_rotary_factor ??
      (rules.neoxKeys ? (cfg.rotary_pct ?? 0.25) : undefined) ??
      (rules.partial === true ? 1 : rules.partial))
    : 1;
  const kind = p.rope_type ?? p.type ?? "default";
  if (typeof theta !== "number" || !(theta > 0)) fail(`rope theta ${JSON.stringify(theta)} is not a positive number`);
  if (typeof fraction !== "number" || !(fraction > 0 && fraction <= 1))
    fail(`partial rotary factor ${JSON.stringify(fraction)} is not in (0, 1]`);
  // transformers rotates int(head_dim × factor) dims, in pairs.
  const dims = headDim * fraction;
  if (!Number.isInteger(dims) || dims % 2)
    fail(`partial rotary factor ${fraction} rotates ${dims} of the head's ${headDim} dims, not an even whole number`);
  if (kind === "default") return { theta, fraction };
  if (kind !== "linear" && kind !== "llama3" && kind !== "dynamic")
    fail(
      `rope_scaling of type ${JSON.stringify(kind)} is not applied (probespec applies default, linear, dynamic and llama3 RoPE)`,
    );
  const factor = p.factor;
  if (typeof factor !== "number" || !(factor > 0))
    fail(`rope_scaling of type ${JSON.stringify(kind)} has factor ${JSON.stringify(factor)}, not a positive number`);
  // Dynamic NTK rescales only past max_position_embeddings (dynamic_rope_update; at or below it
  // _compute_dynamic_ntk_parameters gives theta × 1): within the context the converter caps at that, it is the default.
  if (kind === "dynamic") return { theta, fraction };
  if (kind === "llama3") {
    // standardize_rope_params: a top-level original_max_position_embeddings wins, else the rope's own, else the context.
    const original =
      cfg.original_max_position_embeddings ?? p.original_max_position_embeddings ?? cfg.max_position_embeddings;
    const low = p.low_freq_factor,
      high = p.high_freq_factor;
    for (const [k, v] of Object.entries({
      low_freq_factor: low,
      high_freq_factor: high,
      original_max_position_embeddings: original,
    }))
      if (typeof v !== "number" || !(v > 0)) fail(`llama3 rope "${k}" is ${JSON.stringify(v)}, not a positive number`);
    if (!(high > low)) fail(`llama3 rope "high_freq_factor" ${high} is not above "low_freq_factor" ${low}`);
    const dim = Math.trunc(headDim * fraction);
    return { theta, fraction, invFreq: llama3(theta, dim, factor, low, high, original) };
  }
  return { theta, fraction, scale: factor === 1 ? undefined : factor };
}

/**
 * The unscaled inverse frequencies 1 / theta^(2i / dim), one per rotary pair, in float32 as torch computes them
 * (transformers' _compute_default_rope_parameters, and llama.cpp's converter before it divides by rope_freqs).
 */
export function ropeInvFreq(theta: number, dim: number): number[] {
  const f = Math.fround;
  return Array.from({ length: dim / 2 }, (_, i) => f(1 / f(Math.pow(f(theta), f((2 * i) / dim)))));
}

/**
 * transformers' _compute_llama3_parameters, in float32 as torch computes it: wavelengths longer than
 * original / low_freq_factor are slowed by the factor, shorter than original / high_freq_factor kept,
 * and those between blended by the smooth factor.
 */
export function llama3(theta: number, dim: number, factor: number, low: number, high: number, original: number) {
  const f = Math.fround;
  const [lowWavelen, highWavelen] = [original / low, original / high];
  return ropeInvFreq(theta, dim).map((inv) => {
    const wavelen = f((2 * Math.PI) / inv);
    const scaled = wavelen > lowWavelen ? f(inv / factor) : inv;
    if (wavelen < highWavelen || wavelen > lowWavelen) return scaled;
    const smooth = f((f(original / wavelen) - low) / (high - low));
    return f(f(f((1 - smooth) * scaled) / factor) + f(smooth * scaled));
  });
}
