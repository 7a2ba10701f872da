/**
 * The weights the writer takes, in HuggingFace's layout ([out, in] matrices, as nn.Linear stores
 * them): what a generated analog, llama2.c, GGUF and safetensors checkpoints all become. Their own
 * file, so that the generator, the float64 reference and the converters share them without
 * importing one another.
 */

import type { HalfMatrix } from "./half.js";
import type { QuantizedLinear } from "./quantized.js";

/**
 * A matrix as the writer takes it, in one of its exact forms: float32 values; a checkpoint's 16 bits, kept so and
 * widened per run (half.ts); or a block format's integer codes, run by MatMulNBits (quantized.ts).
 */
export type Matrix = Float32Array | HalfMatrix | QuantizedLinear;

/** A matrix's float32 values, where it is held as such: a path that writes float32 initializers asks for them. */
export function dense(m: Matrix): Float32Array {
  if (m instanceof Float32Array) return m;
  throw new Error(
    `a ${m.rows} × ${m.cols} matrix in ${m.form === "half" ? "16 bits" : "block codes"} reached a path that writes float32 weights`,
  );
}

/** M: the form the matrices may take (a generated model's are all float32). */
export interface LayerWeights<M extends Matrix = Matrix> {
  /** The norms before attention and before the MLP; absent where the model has none there (OLMo 2). */
  norm1?: Float32Array;
  norm1Bias?: Float32Array;
  /** Absent also where one norm feeds both branches (traits' sharedNorm). */
  norm2?: Float32Array;
  norm2Bias?: Float32Array;
  q: M;
  k: M;
  v: M;
  /**
   * q, k and v as one matrix whose rows are per head, [heads][q|k|v][head dim] (GPT-NeoX's query_key_value), where the
   * source holds them so: the writer takes it as it is, and q, k and v are not read.
   */
  qkv?: M;
  qkvBias?: Float32Array;
  o: M;
  qBias?: Float32Array;
  kBias?: Float32Array;
  vBias?: Float32Array;
  oBias?: Float32Array;
  /**
   * QK-norm gains: over one head, shared by the heads (Qwen3's, Apertus', Gemma 3's, Phi's); over all of q's or k's
   * heads at once (OLMo 2's); or each head's own, one head's after another (StableLM's StableLmLayerNormPerHead, where
   * qkNormEach says so); biases where the norm has them (Phi's).
   */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  qNormBias?: Float32Array;
  kNormBias?: Float32Array;
  /** qNorm and kNorm hold each head's own gains, [heads × head dim], each head normalised alone (StableLM's). */
  qkNormEach?: boolean;
  /** Absent for non-gated MLPs (GPT-NeoX, Apertus). */
  gate?: M;
  /** The dense MLP's; a layer with `moe` has none, and reading them is an error. */
  up: M;
  down: M;
  gateBias?: Float32Array;
  upBias?: Float32Array;
  downBias?: Float32Array;
  /** Gemma 2's and OLMo 2's norms on the attention and MLP outputs, before each is added to the residual. */
  attnOutNorm?: Float32Array;
  mlpOutNorm?: Float32Array;
  /** Apertus' xIELU parameters, after softplus, as a folded export holds them. */
  xielu?: { alphaP: number; alphaN: number; beta: number; eps: number };
  /**
   * A sparse mixture of experts in place of the dense MLP (Mixtral's MixtralSparseMoeBlock): the router's
   * [experts, d] weight, and each expert, a gated MLP; config.experts says how many each token takes.
   */
  moe?: { router: M; experts: Expert<M>[] };
}

/** One expert of a mixture: a gated MLP, act(gate x) · up x then down (Mixtral's w1, w3, w2), [out, in] each. */
export interface Expert<M extends Matrix = Matrix> {
  gate: M;
  up: M;
  down: M;
}

export interface ModelWeights<M extends Matrix = Matrix> {
  embed: M; // [vocab, d]
  /** Learned absolute positions, [maxPositions, d], added to the embedding (GPT-2's wpe). */
  positions?: M;
  layers: LayerWeights<M>[];
  finalNorm: Float32Array;
  finalNormBias?: Float32Array;
  /** [vocab, d]; the same matrix as embed when tied. */
  lmHead: M;
  /** [vocab], added to the logits (PhiForCausalLM's lm_head has a bias). */
  lmHeadBias?: Float32Array;
}
