/**
 * Emits an analog as ONNX in one of two dialects:
 * - torchscript: what torch.onnx.export / Optimum produce (decomposed RMSNorm,
 *   residual Adds named `/model/layers.N/Add` and `Add_1`, lm_head as a MatMul on
 *   a folded `onnx::MatMul_NNN` initializer of shape [d, vocab]);
 * - genai: what onnxruntime-genai's builder produces (SimplifiedLayerNormalization
 *   then SkipSimplifiedLayerNormalization, whose 4th output is the residual sum,
 *   left unproduced on the final norm; optionally lm_head as MatMulNBits int4).
 */
import type { ModelProto, TensorProto } from "onnx-buf";
import { type Dialect, headDim, type ModelConfig, rotaryDim } from "./config.js";
import { dense, type LayerWeights, type Matrix, type ModelWeights } from "./types.js";
import { parallelOf, traitsOf } from "../architectures/table.js";
import { DT, GraphBuilder, castPerRun, floatTensor, int64Tensor, uint8Tensor, valueInfo } from "../../onnx/graph.js";
import { quantizeQ4, transpose } from "../../onnx/int4.js";
import {
  emitQuantizedEmbedding,
  emitQuantizedLinear,
  gatherRows,
  quantizedInits,
  quantizedOf,
  type QuantizedLinear,
  stackRows,
} from "./quantized.js";
import { nbitsMatMul } from "../../onnx/nbits.js";
import { emitHalfEmbedding, halfOf, halfWeight } from "./half.js";

export interface EmitOptions {
  dialect: Dialect;
  /** GenAI only: store lm_head as MatMulNBits (int4, block 32). */
  int4?: boolean;
  /** Takes each initializer as it is made: a converter writes it to external data at once. */
  place?: (t: TensorProto) => TensorProto;
}

const NEG = -1e9;

export function emitModel(c: ModelConfig, W: ModelWeights, opts: EmitOptions): ModelProto {
  const g = new GraphBuilder(opts.place);
  const genai = opts.dialect === "genai";
  const traits = traitsOf(c),
    names = traits.names;
  const layerNorm = traits.norm === "layer";
  const parallel = parallelOf(c);
  // Phi's one norm feeds both branches of a parallel layer.
  const shared = parallel && !!traits.sharedNorm;
  const root = `/${names.root}`;
  const hf = names.root;
  const { d, heads, kvHeads, hidden, vocab } = c;
  const hd = headDim(c),
    rot = rotaryDim(c);

  g.inputs.push(valueInfo("input_ids", DT.INT64, ["batch_size", "sequence_length"]));
  g.inputs.push(valueInfo("attention_mask", DT.INT64, ["batch_size", "sequence_length"]));
  g.inputs.push(valueInfo("position_ids", DT.INT64, ["batch_size", "sequence_length"]));
  g.outputs.push(valueInfo("logits", DT.FLOAT, ["batch_size", "sequence_length", vocab]));

  let nbits = false; // a quantised linear was emitted: the model imports com.microsoft
  /**
   * A Linear: MatMul on the transposed weight, as the exporter folds it (GenAI names it by module). A 16-bit weight is
   * widened once `after` exists (x by default): a mixture's experts are widened one expert after another.
   */
  const linear = (
    scope: string,
    x: string,
    Wt: Matrix,
    outDim: number,
    inDim: number,
    module: string,
    bias?: Float32Array,
    after = x,
  ) => {
    // A converter's block-format weight, kept as its codes (quantized.ts).
    const q = quantizedOf(Wt);
    if (q) nbits = true;
    // A checkpoint's 16-bit weight stays at 16 bits, cast to float32 on each run (half.ts).
    const h16 = halfOf(Wt);
    const w = q
      ? ""
      : h16
        ? halfWeight(g, scope, after, h16, `${module}.weight`)
        : genai
          ? g.init(floatTensor(`${module}.MatMul.weight`, [inDim, outDim], transpose(dense(Wt), outDim, inDim)))
          : g.folded_("MatMul", [inDim, outDim], transpose(dense(Wt), outDim, inDim));
    let y = q ? emitQuantizedLinear(g, scope, x, q, module) : g.o(scope, "MatMul", [x, w]);
    if (bias) y = g.o(scope, "Add", [g.init(floatTensor(`${module}.bias`, [outDim], bias)), y]);
    return y;
  };

  /** The gain a norm multiplies by: Gemma's stored w is applied as 1 + w, which export folds. */
  const gainOf = (w: Float32Array) => (traits.gainPlusOne ? w.map((v) => 1 + v) : w);

  /**
   * Decomposed RMSNorm (Pow, ReduceMean, Add, Sqrt, Div, Mul), or LayerNormalization (opset 17), whose bias is
   * optional (StableLM's per-head norms have none).
   */
  const norm = (scope: string, x: string, w: Float32Array, name: string, b?: Float32Array) => {
    const gain = traits.gainPlusOne
      ? g.folded_("Mul", [w.length], gainOf(w))
      : g.init(floatTensor(`${name}.weight`, [w.length], w));
    if (layerNorm) {
      const bias = b ? [g.init(floatTensor(`${name}.bias`, [b.length], b))] : [];
      return g.op(scope, "LayerNormalization", [x, gain, ...bias], {
        attrs: { axis: -1, epsilon: { float: c.eps } },
      })[0];
    }
    const sq = g.o(scope, "Pow", [x, g.scalar(2)]);
    const mean = g.o(scope, "ReduceMean", [sq], { axes: [-1], keepdims: 1 });
    const root_ = g.o(scope, "Sqrt", [g.o(scope, "Add", [mean, g.scalar(c.eps)])]);
    const inv = g.o(scope, "Div", [g.scalar(1), root_]);
    return g.o(scope, "Mul", [gain, g.o(scope, "Mul", [x, inv])]);
  };

  // --- embedding, mask, rotary tables
  const embedName = `${hf}.${names.embed}.weight`;
  const embedScope = `${root}/${names.embed}`;
  // A converter's block-format embedding stays as its codes (quantized.ts); a tied lm_head reads the same blocks.
  const embed = W.embed; // read once
  const qE = quantizedOf(embed);
  const embedQ = qE && emitQuantizedEmbedding(g, embedScope, "input_ids", qE, embedName);
  if (embedQ) nbits = true;
  const hE = qE ? undefined : halfOf(embed);
  const embedH = hE && emitHalfEmbedding(g, embedScope, "input_ids", hE, embedName);
  const E = embedQ
    ? embedQ.weight.planes[0].B
    : embedH
      ? embedH.weight
      : g.init(floatTensor(embedName, [vocab, d], dense(embed)));
  let h = embedQ ? embedQ.out : embedH ? embedH.out : g.o(embedScope, "Gather", [E, "input_ids"]);
  if (traits.embedScale === "sqrt-d") h = g.o(root, "Mul", [h, g.scalar(Math.fround(Math.sqrt(d)))]);
  // GPT-2's learned positions: the table's rows at position_ids, added to the token embedding (GPT2Model.forward).
  const positions = W.positions; // read once
  if (positions) {
    const posName = `${hf}.${names.positions}.weight`,
      posScope = `${root}/${names.positions}`;
    const hP = halfOf(positions);
    const pos = hP
      ? emitHalfEmbedding(g, posScope, "position_ids", hP, posName).out
      : g.o(posScope, "Gather", [g.init(floatTensor(posName, [c.maxPositions, d], dense(positions))), "position_ids"]);
    h = g.o(root, "Add", [h, pos]);
  }

  // The causal mask is made from the sequence length at run time: a [context, context] initializer
  // would make a 32768-token context a 4 GiB model. NEG above the diagonal, 0 elsewhere.
  const seqLen = g.o(
    root,
    "Gather",
    [g.o(root, "Shape", ["input_ids"]), g.init(int64Tensor("const_seq_axis", [], [1]))],
    {
      axis: 0,
    },
  );
  const steps = g.o(root, "Range", [
    g.init(int64Tensor("const_range_start", [], [0])),
    seqLen,
    g.init(int64Tensor("const_range_step", [], [1])),
  ]);
  const causal = g.o(root, "Where", [
    g.o(root, "Greater", [g.o(root, "Unsqueeze", [steps, g.ints([0])]), g.o(root, "Unsqueeze", [steps, g.ints([1])])]),
    g.scalar(NEG),
    g.scalar(0),
  ]);
  const padMask = g.o(root, "Mul", [
    g.o(root, "Sub", [g.scalar(1), g.o(root, "Cast", ["attention_mask"], { to: DT.FLOAT })]),
    g.scalar(NEG),
  ]);
  const mask = g.o(root, "Add", [causal, g.o(root, "Unsqueeze", [padMask, g.ints([1, 2])])]);

  // Linear rope scaling divides every frequency by the factor (transformers' "linear" rope_type).
  const invFreqOf = (r: { theta: number; scale?: number; invFreq?: number[] }) =>
    r.invFreq ?? Array.from({ length: rot / 2 }, (_, i) => Math.pow(r.theta, (-2 * i) / rot) / (r.scale ?? 1));
  const rotScope = `${root}/rotary_emb`;
  /** The cos and sin tables gathered at position_ids, for one set of frequencies; "local_" names the second set. */
  const tables = (invFreq: number[], prefix: "" | "local_") => {
    const table = (fn: (x: number) => number) => {
      const t = new Float32Array(c.maxPositions * rot);
      for (let p = 0; p < c.maxPositions; p++)
        for (let i = 0; i < rot; i++) t[p * rot + i] = fn(p * invFreq[i % (rot / 2)]);
      return t;
    };
    const gathered = (name: "cos" | "sin", fn: (x: number) => number) =>
      g.o(rotScope, "Unsqueeze", [
        g.o(rotScope, "Gather", [
          g.init(floatTensor(`${root.slice(1)}.rotary_emb.${prefix}${name}_cached`, [c.maxPositions, rot], table(fn))),
          "position_ids",
        ]),
        g.ints([1]),
      ]);
    return { cos: gathered("cos", Math.cos), sin: gathered("sin", Math.sin) };
  };
  type Tables = ReturnType<typeof tables>;
  // Gemma 3's sliding layers rotate by rope_local_base_freq's frequencies (localRope), the others by rope_theta's; a
  // set no layer uses is not written. A family without RoPE (GPT-2) has no tables, and its q and k are not rotated.
  const isLocal = (l: number) => !!c.localRope?.layers.includes(l);
  const layerIds = Array.from({ length: c.layers }, (_, l) => l);
  const global =
    rot && layerIds.some((l) => !isLocal(l))
      ? tables(invFreqOf({ theta: c.ropeTheta, scale: c.ropeScale, invFreq: c.ropeInvFreq }), "")
      : undefined;
  const local = rot && c.localRope && layerIds.some(isLocal) ? tables(invFreqOf(c.localRope), "local_") : undefined;
  const tablesOf = (l: number): Tables => (isLocal(l) ? local! : global!);

  /** HF's apply_rotary_pos_emb with rotate_half, on the first `rot` dims of each head. */
  const rope = (scope: string, x: string, { cos, sin }: Tables) => {
    const xr = rot === hd ? x : g.o(scope, "Slice", [x, g.ints([0]), g.ints([rot]), g.ints([-1])]);
    const x1 = g.o(scope, "Slice", [xr, g.ints([0]), g.ints([rot / 2]), g.ints([-1])]);
    const x2 = g.o(scope, "Slice", [xr, g.ints([rot / 2]), g.ints([rot]), g.ints([-1])]);
    const rotated = g.o(scope, "Concat", [g.o(scope, "Neg", [x2]), x1], { axis: -1 });
    const y = g.o(scope, "Add", [g.o(scope, "Mul", [xr, cos]), g.o(scope, "Mul", [rotated, sin])]);
    return rot === hd
      ? y
      : g.o(scope, "Concat", [y, g.o(scope, "Slice", [x, g.ints([rot]), g.ints([hd]), g.ints([-1])])], { axis: -1 });
  };

  type QkNorm = { name: string; w: Float32Array; b?: Float32Array };
  /**
   * A QK-norm over its gain's width; or, `each`, over each head of [b, s, n, hd] with that head's own gains
   * (StableLmLayerNormPerHead: a LayerNorm of its own for each head, [n × hd] gains), applied as a unit norm times the
   * [n, hd] gains.
   */
  const qkNorm = (scope: string, y: string, n: number, qk: QkNorm, name: string, each: boolean) => {
    if (!each) return norm(scope, y, qk.w, name, qk.b);
    const unit = norm(scope, y, new Float32Array(hd).fill(1), `${name}.unit`);
    const gains = g.init(floatTensor(`${name}.weight`, [n, hd], qk.w));
    const scaled = g.o(scope, "Mul", [unit, gains]);
    return qk.b ? g.o(scope, "Add", [scaled, g.init(floatTensor(`${name}.bias`, [n, hd], qk.b))]) : scaled;
  };

  /**
   * Separate q, k and v (and their biases) as GPT-NeoX's one query_key_value, rows per head [h][q|k|v][hd]: 16-bit
   * weights as their bits, a block format's as its rows of codes.
   */
  const fuseQkv = (w: LayerWeights): { weight: Matrix; bias: Float32Array } => {
    const h16 = halfOf(w.q),
      codes = [w.q, w.k, w.v].map(quantizedOf);
    const bias = new Float32Array(3 * d);
    const perHead = (r: number) => {
      const [hh, part, t] = [Math.floor(r / (3 * hd)), Math.floor(r / hd) % 3, r % hd];
      return part * d + hh * hd + t;
    };
    const biases = [w.qBias, w.kBias, w.vBias];
    for (let r = 0; r < 3 * d; r++) bias[r] = biases[Math.floor(r / hd) % 3]![perHead(r) % d];
    if (codes.every(Boolean))
      return {
        weight: gatherRows(
          stackRows(codes as QuantizedLinear[]),
          Array.from({ length: 3 * d }, (_, r) => perHead(r)),
        ),
        bias,
      };
    const parts = [w.q, w.k, w.v].map((m) => (h16 ? halfOf(m)!.bits : dense(m)));
    const qkv = h16 ? new Uint16Array(3 * d * d) : new Float32Array(3 * d * d);
    for (let r = 0; r < 3 * d; r++) {
      const from = perHead(r),
        src = parts[Math.floor(from / d)],
        row = from % d;
      qkv.set(src.subarray(row * d, (row + 1) * d) as Float32Array & Uint16Array, r * d);
    }
    return {
      weight: h16
        ? { form: "half", type: h16.type, rows: 3 * d, cols: d, bits: qkv as Uint16Array }
        : (qkv as Float32Array),
      bias,
    };
  };

  const attention = (l: number, w: LayerWeights, x: string) => {
    const s = `${root}/layers.${l}/${names.attn}`;
    const mod = `${hf}.layers.${l}.${names.attn}`;
    let q: string, k: string, v: string;
    if (traits.fusedQkv) {
      // GPT-NeoX fuses q, k, v per head: rows [h][q|k|v][hd]. A source that holds them so (a checkpoint's
      // query_key_value) is written as it is; separate q, k, v (an analog's) are fused here: 16-bit weights as their
      // bits, a block format's as its rows of codes.
      const stored = w.qkv;
      const fused = stored ? undefined : fuseQkv(w);
      const y = g.o(s, "Reshape", [
        linear(
          `${s}/query_key_value`,
          x,
          stored ?? fused!.weight,
          3 * d,
          d,
          `${mod}.query_key_value`,
          stored ? (w.qkvBias ?? new Float32Array(3 * d)) : fused!.bias,
        ),
        g.ints([0, 0, heads, 3 * hd]),
      ]);
      [q, k, v] = [0, 1, 2].map((p) =>
        g.o(s, "Transpose", [g.o(s, "Slice", [y, g.ints([p * hd]), g.ints([(p + 1) * hd]), g.ints([-1])])], {
          perm: [0, 2, 1, 3],
        }),
      );
    } else {
      const [qName, kName] = names.qkNorms ?? ["q_norm", "k_norm"];
      const each = !!w.qkNormEach;
      const proj = (name: string, Wt: Matrix, n: number, bias?: Float32Array, qk?: QkNorm) => {
        const qkn = (y: string) => qkNorm(`${s}/${qk!.name}`, y, n, qk!, `${mod}.${qk!.name}`, each);
        // A QK-norm is over its gain's width: each head's (Qwen3, Gemma 3), or the whole projection's, every head at
        // once, before it is cut into heads (Olmo2Attention's q_norm(q_proj(x)), then view); or over each head with
        // that head's own gains (StableLM's, qkNormEach).
        const whole = qk && !each && n > 1 && qk.w.length === n * hd;
        const p = linear(`${s}/${name}_proj`, x, Wt, n * hd, d, `${mod}.${name}_proj`, bias);
        let y = g.o(s, "Reshape", [whole ? qkn(p) : p, g.ints([0, 0, n, hd])]);
        if (qk && !whole) y = qkn(y);
        return g.o(s, "Transpose", [y], { perm: [0, 2, 1, 3] });
      };
      const qNorm = w.qNorm,
        kNorm = w.kNorm; // read once
      q = proj("q", w.q, heads, w.qBias, qNorm && { name: qName, w: qNorm, b: w.qNormBias });
      k = proj("k", w.k, kvHeads, w.kBias, kNorm && { name: kName, w: kNorm, b: w.kNormBias });
      v = proj("v", w.v, kvHeads, w.vBias);
    }
    if (rot) {
      const t = tablesOf(l);
      q = rope(s, q, t);
      k = rope(s, k, t);
    }
    if (kvHeads < heads) {
      // repeat_kv: [b, kv, s, hd] → [b, kv, group, s, hd] → [b, heads, s, hd]
      const rep = (t: string) => {
        const t5 = g.o(s, "Unsqueeze", [t, g.ints([2])]);
        return g.o(s, "Reshape", [
          g.o(s, "Concat", Array(heads / kvHeads).fill(t5), { axis: 2 }),
          g.ints([0, heads, -1, hd]),
        ]);
      };
      k = rep(k);
      v = rep(v);
    }
    let scaled = g.o(s, "Mul", [
      g.o(s, "MatMul", [q, g.o(s, "Transpose", [k], { perm: [0, 1, 3, 2] })]),
      g.scalar(Math.fround(c.attnScale ?? 1 / Math.sqrt(hd))),
    ]);
    if (c.attnSoftcap) scaled = softcap(s, scaled, c.attnSoftcap);
    const scores = g.o(s, "Add", [scaled, mask]);
    const ctx = g.o(s, "MatMul", [g.o(s, "Softmax", [scores], { axis: -1 }), v]);
    const merged = g.o(s, "Reshape", [g.o(s, "Transpose", [ctx], { perm: [0, 2, 1, 3] }), g.ints([0, 0, heads * hd])]);
    return linear(`${s}/${names.o}`, merged, w.o, d, heads * hd, `${mod}.${names.o}`, w.oBias);
  };

  /** Gemma 2's cap × tanh(x / cap), as its modeling file writes it. */
  const softcap = (s: string, x: string, cap: number) =>
    g.o(s, "Mul", [g.o(s, "Tanh", [g.o(s, "Div", [x, g.scalar(cap)])]), g.scalar(cap)]);

  const act = (s: string, x: string, w: LayerWeights) => {
    switch (traits.activation) {
      case "silu":
        return g.o(s, "Mul", [x, g.o(s, "Sigmoid", [x])]);
      case "gelu": {
        const e = g.o(s, "Erf", [g.o(s, "Div", [x, g.scalar(Math.SQRT2)])]);
        return g.o(s, "Mul", [g.o(s, "Mul", [x, g.o(s, "Add", [e, g.scalar(1)])]), g.scalar(0.5)]);
      }
      case "gelu_pytorch_tanh": {
        const cube = g.o(s, "Mul", [g.o(s, "Pow", [x, g.scalar(3)]), g.scalar(0.044715)]);
        const t = g.o(s, "Tanh", [g.o(s, "Mul", [g.o(s, "Add", [x, cube]), g.scalar(Math.sqrt(2 / Math.PI))])]);
        return g.o(s, "Mul", [g.o(s, "Mul", [x, g.scalar(0.5)]), g.o(s, "Add", [t, g.scalar(1)])]);
      }
      case "xielu": {
        const { alphaP, alphaN, beta, eps } = w.xielu!;
        const bx = g.o(s, "Mul", [x, g.scalar(beta)]);
        const pos = g.o(s, "Add", [g.o(s, "Mul", [g.o(s, "Mul", [x, x]), g.scalar(alphaP)]), bx]);
        const em1 = g.o(s, "Sub", [g.o(s, "Exp", [g.o(s, "Min", [x, g.scalar(eps)])]), g.scalar(1)]);
        const neg = g.o(s, "Add", [g.o(s, "Mul", [g.o(s, "Sub", [em1, x]), g.scalar(alphaN)]), bx]);
        return g.o(s, "Where", [g.o(s, "Greater", [x, g.scalar(0)]), pos, neg]);
      }
    }
  };

  const mlp = (l: number, w: LayerWeights, x: string) => {
    const s = `${root}/layers.${l}/mlp`;
    const mod = `${hf}.layers.${l}.mlp`;
    const mixture = w.moe; // read once
    if (mixture) return moe(s, mod, w, mixture, x);
    const up = linear(`${s}/${names.up}`, x, w.up, hidden, d, `${mod}.${names.up}`, w.upBias);
    const gate = w.gate; // read once: a converter's weights are dequantised on each read
    const a = gate
      ? g.o(s, "Mul", [
          act(`${s}/act_fn`, linear(`${s}/gate_proj`, x, gate, hidden, d, `${mod}.gate_proj`, w.gateBias), w),
          up,
        ])
      : act(`${s}/act`, up, w);
    return linear(`${s}/${names.down}`, a, w.down, d, hidden, `${mod}.${names.down}`, w.downBias);
  };

  /**
   * A sparse mixture of experts (modeling_mixtral.py's MixtralTopKRouter and MixtralExperts): the router's softmax over
   * the experts, its top k renormalised to sum to 1, and the sum over those k of weight × expert(x), each expert a
   * gated MLP. Computed densely: the k weights are scattered back into a [batch, seq, experts] matrix, 0 for every
   * expert not chosen, and every expert runs on every token. Exact (a weight of 0 adds exactly 0), at experts / k times
   * the sparse form's MLP compute (4× for Mixtral-8x7B's 8 and 2). The sum is a ReduceSum over the stacked experts,
   * not a chain of Adds, so that the locator reads the mixture as one MLP branch.
   */
  const moe = (s: string, mod: string, w: LayerWeights, m: NonNullable<LayerWeights["moe"]>, x: string) => {
    const { count, topK } = c.experts!;
    const probs = g.o(s, "Softmax", [linear(`${s}/gate`, x, m.router, count, d, `${mod}.gate`)], { axis: -1 });
    const [top, index] = g.op(s, "TopK", [probs, g.ints([topK])], { outputs: 2, attrs: { axis: -1 } });
    const renormalised = g.o(s, "Div", [top, g.o(s, "ReduceSum", [top, g.ints([-1])], { keepdims: 1 })]);
    const zeros = g.o(s, "ConstantOfShape", [g.o(s, "Shape", [probs])]);
    const weights = g.o(s, "ScatterElements", [zeros, index, renormalised], { axis: -1 });
    let after = x;
    const outs = m.experts.map((expert, e) => {
      const es = `${s}/experts.${e}`,
        em = `${mod}.experts.${e}`;
      const gate = linear(`${es}/gate_proj`, x, expert.gate, hidden, d, `${em}.gate_proj`, undefined, after);
      const up = linear(`${es}/up_proj`, x, expert.up, hidden, d, `${em}.up_proj`, undefined, after);
      const a = g.o(es, "Mul", [act(`${es}/act_fn`, gate, w), up]);
      after = linear(`${es}/down_proj`, a, expert.down, d, hidden, `${em}.down_proj`);
      return g.o(es, "Unsqueeze", [after, g.ints([2])]);
    });
    const stacked = g.o(s, "Concat", outs, { axis: 2 });
    const weighted = g.o(s, "Mul", [stacked, g.o(s, "Unsqueeze", [weights, g.ints([3])])]);
    return g.o(s, "ReduceSum", [weighted, g.ints([2])], { keepdims: 0 });
  };

  // Gemma 2's post_attention_layernorm is on the attention's output; its MLP's input norm is pre_feedforward_layernorm.
  const normNames = (l: number) =>
    W.layers[l].mlpOutNorm ? ["input_layernorm", "pre_feedforward_layernorm"] : names.norms;
  /** A branch's output through Gemma 2's or OLMo 2's norm on it, where the layer has one. */
  const outNorm = (l: number, name: string, x: string, w: Float32Array | undefined) =>
    w ? norm(`${root}/layers.${l}/${name}`, x, w, `${hf}.layers.${l}.${name}`) : x;
  /**
   * A branch's input through the norm before it, where the layer has one. OLMo 2 has none: its attention and MLP read
   * the stream as it is, so the MLP's input (the locator's mlp_in) is resid_mid itself.
   */
  const inNorm = (l: number, name: string, x: string, w: Float32Array | undefined, b?: Float32Array) =>
    w ? norm(`${root}/layers.${l}/${name}`, x, w, `${hf}.layers.${l}.${name}`, b) : x;

  if (!genai) {
    for (let l = 0; l < c.layers; l++) {
      const w = W.layers[l],
        P = `${root}/layers.${l}`,
        [n1, n2] = normNames(l);
      const normed = inNorm(l, n1, h, w.norm1, w.norm1Bias);
      const attn = attention(l, w, normed);
      if (parallel) {
        const m = mlp(l, w, shared ? normed : inNorm(l, n2, h, w.norm2, w.norm2Bias));
        h = g.o(P, "Add", [g.o(P, "Add", [m, attn]), h]);
      } else {
        const mid = g.o(P, "Add", [h, outNorm(l, "post_attention_layernorm", attn, w.attnOutNorm)]);
        const m = mlp(l, w, inNorm(l, n2, mid, w.norm2, w.norm2Bias));
        h = g.o(P, "Add", [mid, outNorm(l, "post_feedforward_layernorm", m, w.mlpOutNorm)]);
      }
    }
    h = norm(`${root}/${names.finalNorm}`, h, W.finalNorm, `${hf}.${names.finalNorm}`, W.finalNormBias);
  } else {
    // GenAI builder: each norm after the first fuses the residual add; output 3 is the sum. Written for analogs only,
    // whose layers all have both pre-norms (the converters write the TorchScript dialect).
    const ms = "com.microsoft";
    const gain = (name: string, w: Float32Array) => g.init(floatTensor(name, [d], gainOf(w)));
    const skip = (
      scope: string,
      x: string,
      residual: string,
      w: Float32Array,
      name: string,
      b: Float32Array | undefined,
      withSum: boolean,
    ) => {
      const inputs = [
        x,
        residual,
        gain(`${name}.weight`, w),
        ...(b ? [g.init(floatTensor(`${name}.bias`, [d], b))] : []),
      ];
      const outs = [`${scope}/output_0`, "", "", ...(withSum ? [`${scope}/output_3`] : [])];
      g.op(scope, layerNorm ? "SkipLayerNormalization" : "SkipSimplifiedLayerNormalization", inputs, {
        name: `${scope}/SkipLayerNorm`,
        domain: ms,
        outputs: outs,
        attrs: { epsilon: { float: c.eps } },
      });
      return { normed: outs[0], sum: withSum ? outs[3] : "" };
    };
    const plain = (scope: string, x: string, w: Float32Array, name: string, b?: Float32Array) => {
      const inputs = [x, gain(`${name}.weight`, w), ...(b ? [g.init(floatTensor(`${name}.bias`, [d], b))] : [])];
      return g.op(scope, layerNorm ? "LayerNormalization" : "SimplifiedLayerNormalization", inputs, {
        name: `${scope}/LayerNorm`,
        outputs: [`${scope}/output_0`],
        attrs: { axis: -1, epsilon: { float: c.eps } },
      })[0];
    };
    let normed = plain(
      `${root}/layers.0/input_layernorm`,
      h,
      W.layers[0].norm1!,
      `${hf}.layers.0.input_layernorm`,
      W.layers[0].norm1Bias,
    );
    let pending = ""; // the branch output not yet added to the residual
    for (let l = 0; l < c.layers; l++) {
      const w = W.layers[l],
        P = `${root}/layers.${l}`;
      const attn = attention(l, w, normed);
      if (parallel) {
        const m = mlp(
          l,
          w,
          shared
            ? normed
            : plain(
                `${P}/post_attention_layernorm`,
                h,
                w.norm2!,
                `${hf}.layers.${l}.post_attention_layernorm`,
                w.norm2Bias,
              ),
        );
        pending = g.o(P, "Add", [m, attn]);
      } else {
        const post = skip(
          `${P}/post_attention_layernorm`,
          attn,
          h,
          w.norm2!,
          `${hf}.layers.${l}.post_attention_layernorm`,
          undefined,
          true,
        );
        h = post.sum;
        pending = mlp(l, w, post.normed);
      }
      if (l + 1 < c.layers) {
        const nw = W.layers[l + 1];
        const next = skip(
          `${root}/layers.${l + 1}/input_layernorm`,
          pending,
          h,
          nw.norm1!,
          `${hf}.layers.${l + 1}.input_layernorm`,
          nw.norm1Bias,
          true,
        );
        [normed, h] = [next.normed, next.sum];
      }
    }
    h = skip(
      `${root}/layers.${c.layers}/final_norm_layernorm`,
      pending,
      h,
      W.finalNorm,
      `${hf}.final_norm_layernorm`,
      W.finalNormBias,
      false,
    ).normed;
  }

  // --- lm_head, its bias where it has one (Phi's), then Gemma 2's final soft-capping where there is one
  const head = `/${names.lmHead}`;
  const headBias = W.lmHeadBias; // read once
  const logits = c.finalSoftcap || headBias ? `${head}/MatMul_output_0` : "logits";
  // A converter's block-format lm_head (or the embedding's blocks, tied) as MatMulNBits planes producing the logits.
  // Read once: a converter's lazy weights are read (and converted) on each access.
  const lmHead = c.tied || genai ? undefined : W.lmHead;
  const qU = c.tied ? qE : quantizedOf(lmHead);
  if (qU && !genai) {
    nbits = true;
    nbitsMatMul(g, head, h, embedQ && c.tied ? embedQ.weight : quantizedInits(g, qU, "lm_head"), 3, logits);
  } else if (genai && opts.int4) {
    const q = quantizeQ4(dense(W.lmHead), vocab, d);
    g.op(
      head,
      "MatMulNBits",
      [
        h,
        g.init(uint8Tensor("lm_head.MatMul.weight_Q4", [vocab, q.blocks, q.blockBytes], q.packed)),
        g.init(floatTensor("lm_head.MatMul.weight_scales", [vocab * q.blocks], q.scales)),
      ],
      {
        name: `${head}/MatMul_Q4`,
        domain: "com.microsoft",
        outputs: ["logits"],
        attrs: { K: d, N: vocab, bits: 4, block_size: q.blockSize, accuracy_level: 0 },
      },
    );
  } else if (c.tied && !genai) {
    // Tied: the graph reads W_U as a Transpose of the embedding itself (a 16-bit one widened on each run).
    const wE = hE ? castPerRun(g, head, E, 2, h) : E;
    g.op(head, "MatMul", [h, g.o(head, "Transpose", [wE], { perm: [1, 0] })], { outputs: [logits] });
  } else {
    const hU = halfOf(lmHead);
    const wu = hU
      ? halfWeight(g, head, h, hU, "lm_head.weight")
      : genai
        ? g.init(floatTensor("lm_head.MatMul.weight", [d, vocab], transpose(dense(W.lmHead), vocab, d)))
        : g.folded_("MatMul", [d, vocab], transpose(dense(lmHead ?? W.lmHead), vocab, d));
    g.op(head, "MatMul", [h, wu], { outputs: [logits] });
  }
  let out = logits;
  if (headBias) {
    out = c.finalSoftcap ? `${head}/Add_output_0` : "logits";
    g.op(head, "Add", [logits, g.init(floatTensor("lm_head.bias", [vocab], headBias))], { outputs: [out] });
  }
  if (c.finalSoftcap) {
    const s = "/softcap";
    g.op(s, "Mul", [g.o(s, "Tanh", [g.o(s, "Div", [out, g.scalar(c.finalSoftcap)])]), g.scalar(c.finalSoftcap)], {
      outputs: ["logits"],
    });
  }
  return g.model(genai || nbits ? { "": 17, "com.microsoft": 1 } : { "": 17 }, genai ? "onnxruntime-genai" : "pytorch");
}
