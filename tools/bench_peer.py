"""The peer for npm run bench (test/bench/run.ts at 1.1B, test/bench/big.ts at 7B): what a user would run instead of probespec.

transformers 5 + torch 2.13 (the project's .venv, from the wheel mirror, with gguf and accelerate: tools/requirements-peer.txt), 2 threads,
forward hooks on every decoder layer keeping each layer's output (the notebook's method). The source is either a GGUF
(one file, or npm parts joined into a temporary file) loaded by transformers' own GGUF loader, which dequantises every
tensor to float32, or a HuggingFace checkpoint folder loaded in --dtype (float32 unless told).

  python tools/bench_peer.py <ids.json> <runs> <part> [<part> ...]
  python tools/bench_peer.py <ids.json> <runs> <checkpoint folder> [--dtype bfloat16] [--budget-s 180]

ids.json: a list of token-id lists, one per prompt length. Each length is warmed up once, then timed <runs> times;
with --budget-s only the first length is warmed up, and a later length is timed only when the first one's time,
scaled by the ratio of lengths, says it would end within the budget (a 7B forward in bf16 on 2 cores). Prints one
JSON object: the load time, the seconds of each timed forward per length, lengths left out and why, the weight
bytes, and the peak RSS (VmHWM).
"""
import argparse, json, os, shutil, sys, tempfile, time
import torch
from transformers import AutoModelForCausalLM

torch.set_num_threads(2)


def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024


def load(sources, dtype):
    if len(sources) == 1 and os.path.isdir(sources[0]):
        return AutoModelForCausalLM.from_pretrained(sources[0], dtype=dtype)
    if len(sources) == 1:
        folder, name = os.path.split(os.path.abspath(sources[0]))
        return AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype)
    tmp = tempfile.mkdtemp()
    try:
        with open(os.path.join(tmp, "model.gguf"), "wb") as out:
            for part in sources:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
        return AutoModelForCausalLM.from_pretrained(tmp, gguf_file="model.gguf", dtype=dtype)
    finally:
        shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ids_file")
    ap.add_argument("runs", type=int)
    ap.add_argument("sources", nargs="+")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--budget-s", type=float)
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    t = time.perf_counter()
    model = load(a.sources, dtype).eval()
    load_s = time.perf_counter() - t
    print(f"[peer] loaded in {load_s:.1f} s, peak RSS {hwm() / 1e9:.2f} GB", file=sys.stderr, flush=True)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    kept = {}
    for i, layer in enumerate(model.model.layers):
        layer.register_forward_hook(lambda m, args, out, i=i: kept.__setitem__(i, (out[0] if isinstance(out, tuple) else out).detach()))
    seconds, left_out = [], []
    first = None
    for k, ids in enumerate(json.load(open(a.ids_file))):
        if a.budget_s is not None and first is not None:
            estimate = first[1] * len(ids) / first[0] * a.runs
            if estimate > a.budget_s:
                left_out.append({"tokens": len(ids), "estimate_s": estimate, "budget_s": a.budget_s})
                continue
        x = torch.tensor([ids])
        ts = []
        with torch.no_grad():
            for r in range(a.runs + (1 if a.budget_s is None or k == 0 else 0)):
                t = time.perf_counter()
                model(input_ids=x)
                ts.append(time.perf_counter() - t)
        if a.budget_s is None or k == 0:
            ts = ts[1:]  # the warm-up
        first = first or (len(ids), min(ts))
        print(f"[peer] {len(ids)} tokens: {', '.join(f'{s:.2f}' for s in ts)} s", file=sys.stderr, flush=True)
        seconds.append({"tokens": len(ids), "seconds": ts})
    print(json.dumps({"load_s": load_s, "seconds": seconds, "left_out": left_out, "weight_bytes": weights,
                      "dtype": a.dtype, "peak_rss_bytes": hwm(), "torch": torch.__version__,
                      "transformers": __import__("transformers").__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
