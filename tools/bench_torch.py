#!/usr/bin/python3
"""The notebook's method, timed in torch, for npm run bench (test/bench/run.ts).

  bench_torch.py forward <out_dir> <ids.json> <runs>   export a pythia-160m-shaped GPTNeoX to ONNX in out_dir, then
                                                      time torch forward with hooks on the decoder layers
  bench_torch.py spectral <matrix.f32> <rows> <cols> <runs>   time matrix_norm(ord=2) + svdvals
Prints one JSON object. Threads: 2, as ONNX Runtime gets. Run by the project's .venv (torch 2.13 from the wheel
mirror) where it exists, else by Debian's python3-torch.
"""
import inspect, json, os, statistics, sys, time
import numpy as np
import torch
import onnx

torch.set_num_threads(2)

def blas():
    # What torch multiplies with, as its build says: numpy's own OpenBLAS is mapped beside it in the same process.
    cfg = torch.__config__.show()
    for part in cfg.replace(",", " ").split():
        if part.startswith("BLAS_INFO="):
            return part.split("=", 1)[1]
    return "unknown"

def timed(fn, runs, warmup=True):
    if warmup:
        fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return ts

def forward(out_dir, ids_file, runs):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_fixtures as mf
    mf.VOCAB, mf.D, mf.HEADS, mf.HIDDEN, mf.LAYERS, mf.MAXPOS = 50304, 768, 12, 3072, 12, 2048
    model = mf.init(mf.GPTNeoXForCausalLM(), 7).eval()
    prompts = json.load(open(ids_file))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    x = torch.tensor([prompts[0]])
    # The TorchScript exporter (torch >= 2.9 defaults to dynamo).
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(model, (x, torch.ones_like(x), torch.arange(x.shape[1])[None]), path, opset_version=17, do_constant_folding=True, **legacy,
                      input_names=["input_ids", "attention_mask", "position_ids"], output_names=["logits"],
                      dynamic_axes={k: {0: "batch_size", 1: "sequence_length"} for k in ["input_ids", "attention_mask", "position_ids", "logits"]})
    onnx.save_model(onnx.load(path), path, save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=1024)
    json.dump({"model_type": "gpt_neox", "hidden_size": mf.D, "num_hidden_layers": mf.LAYERS, "num_attention_heads": mf.HEADS, "intermediate_size": mf.HIDDEN,
               "vocab_size": mf.VOCAB, "max_position_embeddings": mf.MAXPOS, "rotary_pct": 0.25}, open(os.path.join(out_dir, "config.json"), "w"))
    vocab, merges = mf.byte_vocab()
    json.dump(mf.tokenizer_json(vocab, merges), open(os.path.join(out_dir, "tokenizer.json"), "w"))
    # The notebook's Cell 6/7: hooks on every decoder layer, a norm per layer output.
    norms = []
    for layer in model.gpt_neox.layers:
        layer.register_forward_hook(lambda m, a, out: norms.append(out[0].float().norm().item()))
    tensors = [torch.tensor([p]) for p in prompts]
    def run():
        with torch.no_grad():
            for x in tensors:
                model(x, torch.ones_like(x), torch.arange(x.shape[1])[None])
    ts = timed(run, runs)
    return {"seconds": ts, "blas": blas(), "params": sum(p.numel() for p in model.parameters())}

def spectral(file, rows, cols, runs):
    W = torch.from_numpy(np.fromfile(file, dtype=np.float32).reshape(rows, cols))
    out = {}
    def run():
        out["matrix_norm"] = torch.linalg.matrix_norm(W, ord=2).item()
        out["svdvals"] = torch.linalg.svdvals(W)[0].item()
    # A dense SVD has no JIT or cache to warm: its first run is like the others, so it is not repeated.
    ts = timed(run, runs, warmup=False)
    return {"seconds": ts, "blas": blas(), **out}

if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "forward":
        print(json.dumps(forward(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        print(json.dumps(spectral(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))))
