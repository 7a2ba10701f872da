/**
 * The model as the writer takes it, whatever it came from (an analog, llama2.c, a GGUF, an HF checkpoint): its shape
 * and the numbers its forward pass reads. What varies by architecture beyond these is in its traits (models/architectures/table.ts).
 */
import { type Family, traitsOf } from "../architectures/table.js";

/** The ONNX layout written: Optimum's TorchScript export, or onnxruntime-genai's builder (fused ops). */
export type Dialect = "torchscript" | "genai";

export interface ModelConfig {
  /** config.json's model_type: its entry in the architecture table (models/architectures/table.ts) holds its traits. */
  family: Family;
  layers: number;
  d: number;
  heads: number;
  /** Width of one head where it is not d / heads (Gemma-7B's 256, Qwen3's 128): config.json's head_dim. */
  headDim?: number;
  /** Key/value heads: fewer than heads means grouped-query attention. */
  kvHeads: number;
  hidden: number;
  vocab: number;
  maxPositions: number;
  ropeTheta: number;
  /** Linear RoPE scaling (transformers' rope_type "linear", llama.cpp's rope.scaling.factor): positions divided by it. */
  ropeScale?: number;
  /** Each rotary pair's frequency where a rope scaling sets them one by one (transformers' "llama3"): used in place of ropeTheta and ropeScale. */
  ropeInvFreq?: number[];
  /**
   * RoPE of another base on some layers (Gemma 3's sliding layers, rope_local_base_freq): those layers rotate by these
   * frequencies, the others by ropeTheta's. Its own scaling, or frequencies set one by one, as above.
   */
  localRope?: { layers: number[]; theta: number; scale?: number; invFreq?: number[] };
  /** What attention scores are multiplied by where it is not 1 / √head dim (Gemma 2's query_pre_attn_scalar^-½). */
  attnScale?: number;
  /** Gemma 2's soft-capping, cap × tanh(x / cap): of the scaled attention scores, and of the logits. */
  attnSoftcap?: number;
  finalSoftcap?: number;
  /**
   * A sparse mixture of experts in place of every layer's MLP (Mixtral): `count` experts, of which the router picks
   * `topK` per token (the layers' weights hold them: LayerWeights.moe).
   */
  experts?: { count: number; topK: number };
  /** Parallel layers or not, where the config chooses (StableLM's use_parallel_residual); else the traits' (parallelOf). */
  parallel?: boolean;
  /** Fraction of each head that RoPE rotates (GPT-NeoX: 0.25). */
  rotaryPct: number;
  /** RoPE pairs: HF's rotate-half halves, or llama2.c's interleaved (2i, 2i+1). */
  ropeStyle: "half" | "interleaved";
  eps: number;
  tied: boolean;
}

/**
 * The rotary tables are [positions, head dim] initializers: a context_length a file may claim (16 million)
 * would make gigabytes of them. Longer contexts are probed up to this many positions (32 MB a table at head
 * dim 128); config.json says so, and a longer prompt is refused as longer than the model's context.
 */
export const MAX_POSITIONS = 65536;

export function headDim(c: ModelConfig): number {
  return c.headDim ?? c.d / c.heads;
}

export function rotaryDim(c: ModelConfig): number {
  return Math.round(headDim(c) * c.rotaryPct);
}

/** A config whose shape the writer can build: every converter's and generator's config passes through here. */
export function modelConfig<C extends ModelConfig>(c: C): C {
  const fail = (m: string) => {
    throw new Error(`${c.family} config: ${m}`);
  };
  if (c.headDim === undefined ? c.d % c.heads : !Number.isInteger(c.headDim) || c.headDim < 1)
    fail(
      c.headDim === undefined
        ? `d=${c.d} is not divisible by heads=${c.heads}`
        : `head dim ${c.headDim} is not a whole number`,
    );
  if (traitsOf(c).fusedQkv && headDim(c) * c.heads !== c.d) fail("a fused per-head qkv needs heads × head dim = d");
  if (c.heads % c.kvHeads) fail(`heads=${c.heads} is not a multiple of kvHeads=${c.kvHeads}`);
  if (rotaryDim(c) % 2) fail(`rotary dimension ${rotaryDim(c)} is odd`);
  if (c.ropeInvFreq && c.ropeInvFreq.length !== rotaryDim(c) / 2)
    fail(`${c.ropeInvFreq.length} rotary frequencies for ${rotaryDim(c) / 2} pairs`);
  const local = c.localRope;
  if (local?.invFreq && local.invFreq.length !== rotaryDim(c) / 2)
    fail(`${local.invFreq.length} local rotary frequencies for ${rotaryDim(c) / 2} pairs`);
  if (local?.layers.some((l) => !Number.isInteger(l) || l < 0 || l >= c.layers))
    fail(`localRope.layers ${JSON.stringify(local.layers)} must name layers in 0..${c.layers - 1}`);
  if (c.layers < 1) fail("needs at least one layer");
  return c;
}
