"""Fixtures from the real exporters, on HuggingFace's own modeling classes.

Each family (Llama, Mistral GQA, GPT-NeoX parallel residual, Gemma tied with
sqrt(d) and 1 + w, GPT-2 Conv1D tied with absolute positions, Qwen3, Phi-3) is
built from transformers' real *ForCausalLM class with a tiny random config and
a fixed seed, then exported by:

  ts        torch.onnx.export(dynamo=False), opset 17
  dynamo18  torch.onnx.export(dynamo=True), opset 18
  dynamo23  torch.onnx.export(dynamo=True), the newest opset it offers
            (RMSNormalization, Attention, RotaryEmbedding appear there)
  ortopt    the ts export through onnxruntime.transformers' optimizer (llama, gpt2, qwen3)
  int4      that through onnxruntime.quantization's MatMulNBits quantizer (lm_head included)
  int8      the ts export through quantize_dynamic (MatMulInteger)
  genai-*   onnxruntime-genai's model builder, CPU, fp32 / fp16 / int4
            (llama, mistral, gemma, phi3, qwen3), run from its source: --genai DIR
            names src/python/py/models of a checkout (none of its code is kept here)

Every folder carries reference.json in the notebook's definitions (tools/make_fixtures.py):
torch forward hooks on the decoder layers, matrix statistics of W_U and W_E. For
int4 and int8 the reference is torch on the dequantised weights (each quantised
matrix matched back to the HF parameter it came from), and `quant_error` is the
relative deviation of onnxruntime's own logits from it: the quantisation's error.

  python tools/make_exports.py OUT [--genai DIR] [--only NAME,...]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, warnings
import numpy as np
import torch
import onnx
from onnx import numpy_helper
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import PROMPT, byte_vocab, notebook_numbers, tokenize, tokenizer_json  # noqa: E402

warnings.filterwarnings("ignore")
VOCAB, D, LAYERS, HEADS, KV, HIDDEN, MAXPOS, SEED = 512, 64, 2, 4, 2, 128, 128, 1234

COMMON = dict(vocab_size=VOCAB, hidden_size=D, intermediate_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
              max_position_embeddings=MAXPOS, bos_token_id=1, eos_token_id=2)
FAMILIES = {
    "llama": lambda: transformers.LlamaConfig(**COMMON, num_key_value_heads=KV),
    "mistral": lambda: transformers.MistralConfig(**COMMON, num_key_value_heads=KV, sliding_window=None),
    "gpt_neox": lambda: transformers.GPTNeoXConfig(**COMMON, rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False),
    "gemma": lambda: transformers.GemmaConfig(**COMMON, num_key_value_heads=HEADS, head_dim=D // HEADS, hidden_activation="gelu_pytorch_tanh"),
    "gpt2": lambda: transformers.GPT2Config(vocab_size=VOCAB, n_embd=D, n_layer=LAYERS, n_head=HEADS, n_positions=MAXPOS, n_inner=HIDDEN, bos_token_id=1, eos_token_id=2),
    "qwen3": lambda: transformers.Qwen3Config(**COMMON, num_key_value_heads=KV, head_dim=D // HEADS, tie_word_embeddings=False),
    "phi3": lambda: transformers.Phi3Config(**COMMON, original_max_position_embeddings=MAXPOS, num_key_value_heads=HEADS, pad_token_id=0, tie_word_embeddings=False),
}
OPTIMIZED = {"llama": "gpt2", "gpt2": "gpt2", "qwen3": "qwen3"}  # family -> the optimizer's model_type
GENAI = ["llama", "mistral", "gemma", "phi3", "qwen3"]
EXTERNAL = {"mistral"}  # weights in model.onnx_data, as large exports have them


def build(family):
    cfg = FAMILIES[family]()
    cfg._attn_implementation = "eager"
    torch.manual_seed(SEED)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():  # norms away from 1, so that a misread gain shows in the numbers
        for name, p in model.named_parameters():
            if p.dim() == 1 and "norm" in name or name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.add_(0.1 * torch.randn_like(p))
    return model


class Logits(torch.nn.Module):
    """The causal LM as exporters see it: ids, mask, positions in; logits out; no cache."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False).logits


def decoder_layers(model):
    base = getattr(model, model.base_model_prefix)
    return base.h if hasattr(base, "h") else base.layers


def attention_module(layer):
    """The decoder layer's attention: its child whose class name ends in Attention."""
    return next(m for m in layer.children() if type(m).__name__.endswith("Attention"))


def reference(model, ids):
    """The notebook's numbers (Cells 4, 6, 8) by forward hooks on the decoder layers, and the attention
    probabilities eager attention returns (its second output): per layer, the probability on position 0
    (mean over heads and query positions after the first) and each query's entropy over the keys (mean)."""
    norms, probs = {}, {}
    layers = decoder_layers(model)
    hooks = [layer.register_forward_hook(lambda m, a, out, i=i: norms.__setitem__(i, (out[0] if isinstance(out, tuple) else out).float().norm().item()))
             for i, layer in enumerate(layers)]
    hooks += [attention_module(layer).register_forward_hook(lambda m, a, out, i=i: probs.__setitem__(i, out[1].detach().double()))
              for i, layer in enumerate(layers)]
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = Logits(model)(x, torch.ones_like(x), torch.arange(len(ids))[None])
    for h in hooks:
        h.remove()
    r = notebook_numbers([norms[i] for i in range(len(norms))], logits,
                         model.get_output_embeddings().weight, model.get_input_embeddings().weight)
    ps = [probs[i][0] for i in range(len(probs))]  # [heads, query, key]
    r["attention"] = {
        "first_key_mass": [p[:, 1:, 0].mean().item() for p in ps],
        "entropy": [(-(p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(-1)).mean().item() for p in ps],
    }
    return r


def dequantized_weights(path):
    """Every quantised matrix of an ONNX file as float32 [in, out] (MatMulNBits int4, dynamic int8),
    and every quantised embedding table as [rows, d] (quantize_dynamic's Gather + DequantizeLinear)."""
    m = onnx.load(path)
    init = {t.name: t for t in m.graph.initializer}
    arr = lambda n: numpy_helper.to_array(init[n], base_dir=os.path.dirname(path))
    out, tables = [], []
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] not in init:
            g = next((p for p in m.graph.node if n.input[0] in p.output), None)
            if g is not None and g.op_type == "Gather" and g.input[0] in init:
                zp = arr(n.input[2]).astype(np.float32) if len(n.input) > 2 and n.input[2] else 0.0
                tables.append((arr(g.input[0]).astype(np.float32) - zp) * arr(n.input[1]).astype(np.float32))
    for n in m.graph.node:
        if n.op_type == "MatMulNBits":
            a = {x.name: x.i for x in n.attribute}
            K, N, bs = a["K"], a["N"], a["block_size"]
            packed = arr(n.input[1]).reshape(N, -1)
            q = np.stack([packed & 15, packed >> 4], axis=-1).reshape(N, -1)[:, :K].astype(np.float32)
            scales = arr(n.input[2]).astype(np.float32).reshape(N, -1)
            blocks = -(-K // bs)
            if len(n.input) > 3 and n.input[3]:
                zp = arr(n.input[3]).reshape(N, -1)
                zp = np.stack([zp & 15, zp >> 4], axis=-1).reshape(N, -1)[:, :blocks].astype(np.float32)
            else:
                zp = np.full((N, blocks), 8.0, np.float32)
            col = np.arange(K) // bs
            out.append(((q - zp[:, col]) * scales[:, col]).T)
        elif n.op_type == "MatMulInteger" and n.input[1] in init:
            w = arr(n.input[1]).astype(np.float32)
            zp = arr(n.input[3]).astype(np.float32) if len(n.input) > 3 and n.input[3] in init else 0.0
            scale = arr(n.input[1].replace("_quantized", "_scale")).astype(np.float32)
            out.append((w - zp) * scale)
    return out, tables


def load_dequantized(model, path):
    """Replaces each Linear (and Conv1D) weight by its dequantised values, matched column by column:
    exporters pack (qkv, gate_up) and split matrices freely, but each output column stays one column."""
    mats, tables = dequantized_weights(path)
    by_in = {}
    for m in mats:
        by_in.setdefault(m.shape[0], []).append(m)
    pools = {k: np.concatenate(v, axis=1) for k, v in by_in.items()}
    replaced = 0
    with torch.no_grad():
        for name, mod in model.named_modules():
            w = getattr(mod, "weight", None)
            if w is None or w.dim() != 2:
                continue
            if isinstance(mod, torch.nn.Embedding):
                same = [t for t in tables if t.shape == tuple(w.shape)]
                if same:
                    w.copy_(torch.from_numpy(min(same, key=lambda t: np.abs(t - w.numpy()).max())))
                    replaced += 1
                continue
            # As [in, out]: Linear stores [out, in], GPT-2's Conv1D [in, out].
            W = (w.T if isinstance(mod, torch.nn.Linear) else w).numpy().astype(np.float64)
            C = pools.get(W.shape[0])
            if C is None:
                continue
            dist = (W ** 2).sum(0)[:, None] + (C ** 2).sum(0)[None, :] - 2 * W.T @ C
            nearest = C[:, dist.argmin(1)]
            if np.abs(nearest - W).max() < 0.25 * np.abs(W).max():
                t = torch.from_numpy(np.ascontiguousarray(nearest.astype(np.float32)))
                w.copy_(t.T if isinstance(mod, torch.nn.Linear) else t)
                replaced += 1
    return replaced


def ort_logits(path, ids):
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in s.get_inputs():
        n = len(ids)
        dt = np.int32 if "int32" in i.type else np.int64
        if i.name == "input_ids": feeds[i.name] = np.array([ids], dt)
        elif "position" in i.name: feeds[i.name] = np.arange(n, dtype=dt)[None]
        elif "mask" in i.name: feeds[i.name] = np.ones((1, n), dt)
        else:  # an empty past: batch 1, length 0
            # Symbolic: batch 1, any length 0; the GenAI builder's kv_cache_dim is the head size.
            shape = [d if isinstance(d, int) else 1 if "batch" in d else 0 if "length" in d or "seq" in d else D // HEADS for d in i.shape]
            feeds[i.name] = np.zeros(shape, np.float16 if "float16" in i.type else np.float32)
    out = s.run(None, feeds)[0]
    return out[0, -1].astype(np.float64)


OUT_ROOT = None


def fresh_dir(name):
    d = os.path.join(OUT_ROOT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write_folder(out, model, tok, ref, extra):
    # The GenAI builder's folders carry genai_config.json and no config.json: kept as it writes them.
    if not os.path.exists(os.path.join(out, "genai_config.json")):
        model.config.to_json_file(os.path.join(out, "config.json"))
    for name, content in tok.items():
        if not os.path.exists(os.path.join(out, name)):
            json.dump(content, open(os.path.join(out, name), "w"))
    json.dump({**ref, **extra}, open(os.path.join(out, "reference.json"), "w"), indent=1)
    v = extra["versions"]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(f"# {os.path.basename(out)}\n\nHuggingFace {extra['family']} (transformers {v['transformers']}, seed {extra['seed']}, tiny random config), "
                f"exported by: {extra['exporter']}.\n\nMade by `python tools/make_exports.py OUT --genai <onnxruntime-genai>/src/python/py/models "
                f"--only {os.path.basename(out)}` with torch {v['torch']}, onnx {v['onnx']}, onnxruntime {v['onnxruntime']}"
                f"{', onnxruntime-genai ' + v['genai'] if 'genai' in v else ''}.\n"
                "reference.json: the notebook's metrics by torch forward hooks on the same weights"
                f"{' (dequantised)' if 'quant_error' in extra else ''}.\n")


def export_torch(model, path, ids, how):
    x = torch.tensor([ids])
    args = (x, torch.ones_like(x), torch.arange(len(ids))[None])
    names = ["input_ids", "attention_mask", "position_ids"]
    if how == "ts":
        torch.onnx.export(Logits(model), args, path, dynamo=False, opset_version=17, do_constant_folding=True,
                          input_names=names, output_names=["logits"],
                          dynamic_axes={k: {0: "batch_size", 1: "sequence_length"} for k in names + ["logits"]})
    else:
        batch, seq = torch.export.Dim("batch_size"), torch.export.Dim("sequence_length", min=2, max=MAXPOS)
        torch.onnx.export(Logits(model), args, path, dynamo=True, opset_version=int(how[len("dynamo"):]),
                          input_names=names, output_names=["logits"], dynamic_shapes=({0: batch, 1: seq},) * 3,
                          external_data=False, verbose=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--genai", help="onnxruntime-genai's src/python/py/models folder")
    ap.add_argument("--only", default="", help="comma-separated fixture names")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    global OUT_ROOT
    OUT_ROOT = args.out
    vocab, merges = byte_vocab()
    ids = tokenize(PROMPT, vocab)
    tok = {"tokenizer.json": tokenizer_json(vocab, merges),
           "tokenizer_config.json": {"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                     "model_max_length": MAXPOS, "tokenizer_class": "LlamaTokenizerFast"}}
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__}
    import onnxruntime
    versions["onnxruntime"] = onnxruntime.__version__
    if args.genai:
        # The checkout's commit, where it is a git work tree; its folder name otherwise.
        r = subprocess.run(["git", "-C", args.genai, "rev-parse", "HEAD"], capture_output=True, text=True)
        versions["genai"] = r.stdout.strip() or os.environ.get("GENAI_COMMIT", "source")

    def want(name):
        return not only or name in only

    fresh = fresh_dir

    for family in FAMILIES:
        model = build(family)
        ref = reference(model, ids)
        meta = {"prompt": PROMPT, "input_ids": ids, "family": family, "seed": SEED, "versions": versions}
        for how in ["ts", "dynamo18", "dynamo23"]:
            name = f"{family}-{how}"
            if not want(name):
                continue
            d = fresh(name)
            path = os.path.join(d, "model.onnx")
            export_torch(model, path, ids, how)
            if family in EXTERNAL:
                onnx.save_model(onnx.load(path), path, save_as_external_data=True, all_tensors_to_one_file=True,
                                location="model.onnx_data", size_threshold=1024)
            write_folder(d, model, tok, ref, {**meta, "exporter": how, "ort_logits_error": rel_error(ort_logits(path, ids), ref)})
            print(name, "ok", flush=True)
        if family in OPTIMIZED and any(want(f"{family}-{k}") for k in ["ortopt", "int4", "int8"]):
            from onnxruntime.transformers.optimizer import optimize_model
            from onnxruntime.quantization import quantize_dynamic, QuantType
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
            tmp = tempfile.mkdtemp()
            src = os.path.join(tmp, "model.onnx")
            export_torch(model, src, ids, "ts")
            d = fresh(f"{family}-ortopt")
            opt = optimize_model(src, model_type=OPTIMIZED[family], num_heads=HEADS, hidden_size=D, opt_level=0)
            opt.save_model_to_file(os.path.join(d, "model.onnx"))
            write_folder(d, model, tok, ref, {**meta, "exporter": f"onnxruntime.transformers.optimizer model_type={OPTIMIZED[family]}",
                                              "fused_ops": sorted({n.op_type for n in opt.model.graph.node if n.domain == "com.microsoft"}),
                                              "ort_logits_error": rel_error(ort_logits(os.path.join(d, "model.onnx"), ids), ref)})
            print(f"{family}-ortopt ok", flush=True)
            d4 = fresh(f"{family}-int4")
            q = MatMulNBitsQuantizer(onnx.load(os.path.join(d, "model.onnx")), block_size=32, is_symmetric=True)
            q.process()
            q.model.save_model_to_file(os.path.join(d4, "model.onnx"))
            quantized_reference(d4, family, ids, tok, meta, "onnxruntime.quantization MatMulNBitsQuantizer block 32 symmetric")
            if family == "llama":
                ort_fp16_fixtures(src, family, ids, tok, meta)
            d8 = fresh(f"{family}-int8")
            quantize_dynamic(src, os.path.join(d8, "model.onnx"), weight_type=QuantType.QInt8)
            quantized_reference(d8, family, ids, tok, meta, "onnxruntime.quantization quantize_dynamic QInt8")
            shutil.rmtree(tmp)
        if family in GENAI and args.genai:
            hf = tempfile.mkdtemp()
            model.save_pretrained(hf)
            for n, c in tok.items():
                json.dump(c, open(os.path.join(hf, n), "w"))
            for precision in ["fp32", "fp16", "int4"]:
                name = f"{family}-genai-{precision}"
                if not want(name):
                    continue
                d = fresh(name)
                cmd = [sys.executable, os.path.join(args.genai, "builder.py"), "-i", hf, "-o", d, "-p", precision, "-e", "cpu", "-c", os.path.join(hf, "cache")]
                subprocess.run(cmd, check=True, cwd=args.genai, stdout=subprocess.DEVNULL)
                exporter = f"onnxruntime-genai builder.py -p {precision} -e cpu"
                if precision == "int4":
                    quantized_reference(d, family, ids, tok, meta, exporter)
                else:
                    write_folder(d, model, tok, ref, {**meta, "exporter": exporter, "ort_logits_error": rel_error(ort_logits(os.path.join(d, "model.onnx"), ids), ref)})
                    print(name, "ok", flush=True)
            shutil.rmtree(hf)


def ort_fp16_fixtures(src, family, ids, tok, meta):
    """onnx-community's fp16 and q4f16 recipes on the TorchScript export: ORT's float16 converter (the whole graph,
    norms included, in fp16), then MatMulNBits on that. Their numbers differ from fp32 torch by fp16's own error, so
    the reference is onnxruntime itself with the TorchScript exporter's residual tensors exposed by name, in float64."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    d16 = fresh_dir(f"{family}-fp16")
    onnx.save(convert_float_to_float16(onnx.load(src), keep_io_types=False), os.path.join(d16, "model.onnx"))
    dq = fresh_dir(f"{family}-q4f16")
    q = MatMulNBitsQuantizer(onnx.load(os.path.join(d16, "model.onnx")), block_size=32, is_symmetric=True)
    q.process()
    q.model.save_model_to_file(os.path.join(dq, "model.onnx"))
    for d, how in [(d16, "onnxruntime.transformers.float16.convert_float_to_float16"), (dq, f"{how_q4f16}")]:
        model = build(family)
        ref = ort_reference(os.path.join(d, "model.onnx"), ids, model)
        write_folder(d, model, tok, ref, {**meta, "exporter": how, "reference": "onnxruntime"})
        print(os.path.basename(d), "ok", flush=True)


how_q4f16 = "convert_float_to_float16, then MatMulNBitsQuantizer block 32 symmetric"


def ort_reference(path, ids, model):
    """The notebook's numbers from onnxruntime's own run of the file: each decoder layer's output (the TorchScript
    exporter names it /model/model/layers.N/Add_1_output_0) and the logits, in float64; W_U and W_E as stored, dequantised."""
    import onnxruntime as ort
    m = onnx.load(path)
    names = [f"/model/model/layers.{l}/Add_1_output_0" for l in range(LAYERS)]
    for n in names:
        m.graph.output.append(onnx.helper.make_value_info(n, onnx.TypeProto()))
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.array([ids], np.int64)
    out = s.run(["logits", *names], {"input_ids": x, "attention_mask": np.ones_like(x), "position_ids": np.arange(len(ids))[None]})
    norms = [float(np.linalg.norm(o.astype(np.float64))) for o in out[1:]]
    init = {t.name: t for t in m.graph.initializer}
    head = next(n for n in reversed(m.graph.node) if n.op_type in ("MatMul", "MatMulNBits"))
    if head.op_type == "MatMulNBits":
        W_U = torch.from_numpy(np.ascontiguousarray(dequantized_weights(path)[0][-1].T))
    else:
        W_U = torch.from_numpy(numpy_helper.to_array(init[head.input[1]]).astype(np.float32).T.copy())
    table = next(n for n in m.graph.node if n.op_type == "Gather" and n.input[0] in init and len(init[n.input[0]].dims) == 2)
    W_E = torch.from_numpy(numpy_helper.to_array(init[table.input[0]]).astype(np.float32))
    ref = notebook_numbers(norms, torch.from_numpy(out[0].astype(np.float32)), W_U, W_E)
    return ref


def rel_error(logits, ref):
    r = np.array(ref["logits_last_token"], np.float64)
    return float(np.abs(logits - r).max() / np.abs(r).max())


def quantized_reference(d, family, ids, tok, meta, exporter):
    """Torch on the dequantised weights; quant_error: how far onnxruntime's own logits lie from it."""
    model = build(family)
    gathers_quantized = any(n.op_type == "GatherBlockQuantized" for n in onnx.load(os.path.join(d, "model.onnx"), load_external_data=False).graph.node)
    if model.get_output_embeddings().weight is model.get_input_embeddings().weight and not gathers_quantized:
        # The quantisers leave the embedding's Gather in float: only the lm_head is dequantised (the GenAI
        # builder's GatherBlockQuantized instead reads the lm_head's own int4 blocks: then the tie stays).
        model.get_output_embeddings().weight = torch.nn.Parameter(model.get_input_embeddings().weight.detach().clone())
    replaced = load_dequantized(model, os.path.join(d, "model.onnx"))
    ref = reference(model, ids)
    err = rel_error(ort_logits(os.path.join(d, "model.onnx"), ids), ref)
    write_folder(d, model, tok, ref, {**meta, "exporter": exporter, "dequantized_matrices": replaced, "quant_error": err})
    print(os.path.basename(d), "ok", f"{replaced} matrices dequantised, quant_error {err:.2e}", flush=True)


if __name__ == "__main__":
    main()
