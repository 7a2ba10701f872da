"""The peer at 1.1B for npm run bench (test/bench/run.ts): what a user would run instead of probespec.

transformers 5 + torch 2.13 (the project's .venv, from the wheel mirror, with gguf and accelerate: tools/requirements-peer.txt), 2 threads, TinyLlama-1.1B's
GGUF (the npm parts joined) loaded by transformers' own GGUF loader, which dequantises every tensor to
float32; forward hooks on every decoder layer keeping each layer's output (the notebook's method).

  python tools/bench_peer.py <ids.json> <runs> <part> [<part> ...]

ids.json: a list of token-id lists, one per prompt length. Prints one JSON object: the load time, the
seconds of each timed forward per prompt, the weight bytes, and the peak RSS (VmHWM).
"""
import json, os, shutil, sys, tempfile, time
import torch
from transformers import AutoModelForCausalLM

torch.set_num_threads(2)


def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024


def main():
    ids_file, runs, parts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "model.gguf"), "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    t = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file="model.gguf", dtype=torch.float32).eval()
    load = time.perf_counter() - t
    shutil.rmtree(tmp)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    kept = {}
    for i, layer in enumerate(model.model.layers):
        layer.register_forward_hook(lambda m, a, out, i=i: kept.__setitem__(i, (out[0] if isinstance(out, tuple) else out).detach()))
    seconds = []
    for ids in json.load(open(ids_file)):
        x = torch.tensor([ids])
        ts = []
        with torch.no_grad():
            for r in range(runs + 1):  # the first is a warm-up
                t = time.perf_counter()
                model(input_ids=x)
                if r:
                    ts.append(time.perf_counter() - t)
        seconds.append({"tokens": len(ids), "seconds": ts})
    print(json.dumps({"load_s": load, "seconds": seconds, "weight_bytes": weights, "peak_rss_bytes": hwm(),
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
