"""transformers' forward under the same edits probespec's interventions make (test/interventions.test.ts).

On the same weights the tests probe: the dynamo export test/fixtures/exports/llama-dynamo23 (its HF model rebuilt
by tools/make_exports.py's seeded build, checked against the export's embedding), the GGUF
test/fixtures/gguf-llama/model.gguf (transformers' own GGUF loader, float32), and the float16 checkpoint
.probespec-cache/checkpoints/llama-fp16 (tools/make_checkpoints.sh; read back in float32). Each case edits one
point with torch forward hooks, TransformerLens' way: resid_pre.L a pre-hook on decoder layer L, resid_post.L a
hook on its output, attn_out.L on self_attn's, mlp_out.L on mlp's; then every layer's resid_pre and resid_post
and the logits are read as each position's sum of squares (float64), after the edit where it is at that point.
Written to test/fixtures/interventions/<model>.json.

  .venv/bin/python tools/intervention_reference.py
"""
import json, os, sys, warnings
import onnx
import onnx.numpy_helper
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import byte_vocab, tokenize  # noqa: E402
from make_exports import build  # noqa: E402

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "test", "fixtures")
CHECKPOINTS = os.environ.get("PROBESPEC_CHECKPOINTS", os.path.join(ROOT, ".probespec-cache", "checkpoints"))
PROMPT, SOURCE = "The capital of France is", "The quick brown fox jumps over"
D = 64
STEER = torch.Generator().manual_seed(37)
CASES = [
    {"name": "zero", "point": "resid_pre.1", "positions": "first", "edit": {"op": "zero"}},
    {"name": "mean", "point": "resid_pre.1", "positions": "first", "edit": {"op": "mean"}},
    {"name": "scale", "point": "attn_out.0", "positions": "all", "dims": list(range(16)), "edit": {"op": "scale", "by": 0.5}},
    {"name": "add", "point": "mlp_out.1", "positions": 3,
     "edit": {"op": "add", "vector": (torch.randn(D, generator=STEER) * 0.5).tolist()}},
    {"name": "scale-embed", "point": "resid_pre.0", "positions": -1, "edit": {"op": "scale", "by": 2.0}},
    {"name": "patch", "point": "resid_post.0", "positions": [4, 5], "edit": {"op": "patch"}},
]


def positions(p, seq):
    if p == "all": return list(range(seq))
    if p == "first": return [0]
    if p == "last": return [seq - 1]
    return [q % seq for q in (p if isinstance(p, list) else [p])]


def edit(x, case, source):
    """The case's edit of x [1, seq, d], on a copy."""
    seq = x.shape[1]
    pos = torch.tensor(positions(case["positions"], seq))
    dims = torch.tensor(case.get("dims", list(range(x.shape[2]))))
    e, y = case["edit"], x.clone()
    at = (0, pos[:, None], dims[None, :])
    if e["op"] == "zero": y[at] = 0
    elif e["op"] == "scale": y[at] = x[at] * e["by"]
    elif e["op"] == "add": y[at] = x[at] + torch.tensor(e["vector"])[dims][None, :]
    elif e["op"] == "mean":
        others = [q for q in range(seq) if q not in pos.tolist()]
        y[at] = x[0, others].mean(0)[dims][None, :]
    elif e["op"] == "patch": y[at] = source[at]
    return y


def run(model, ids, case=None, source=None, keep=None):
    """The forward on ids under the case's edit: each point's per-position sums of squares (and the kept point's value)."""
    layers = model.model.layers
    seen, hooks = {}, []
    out = lambda o: o[0] if isinstance(o, tuple) else o
    swap = lambda o, y: (y, *o[1:]) if isinstance(o, tuple) else y
    def pre(i):
        def hook(module, args, kwargs):
            x = args[0] if args else kwargs["hidden_states"]
            if case and case["point"] == f"resid_pre.{i}": x = edit(x, case, source)
            seen[f"resid_pre.{i}"] = x
            return ((x, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": x})
        return hook

    def post(name):
        def hook(module, args, o):
            if case and name == case["point"]: o = swap(o, edit(out(o), case, source))
            seen[name] = out(o)
            return o
        return hook

    for i, layer in enumerate(layers):
        hooks += [layer.register_forward_pre_hook(pre(i), with_kwargs=True), layer.register_forward_hook(post(f"resid_post.{i}")),
                  layer.self_attn.register_forward_hook(post(f"attn_out.{i}")), layer.mlp.register_forward_hook(post(f"mlp_out.{i}"))]
    try:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits
    finally:
        for h in hooks: h.remove()
    sumsq = lambda t: t[0].double().pow(2).sum(-1).tolist()
    n = len(layers)
    result = {"resid_pre": [sumsq(seen[f"resid_pre.{i}"]) for i in range(n)],
              "resid_post": [sumsq(seen[f"resid_post.{i}"]) for i in range(n)], "logits": sumsq(logits)}
    return (result, seen[keep]) if keep else result


def reference(name, model, check=None):
    vocab, _ = byte_vocab()
    ids, source_ids = tokenize(PROMPT, vocab), tokenize(SOURCE, vocab)
    cases = []
    for case in CASES:
        source = None
        if case["edit"]["op"] == "patch":
            _, source = run(model, source_ids, keep=case["point"])
        cases.append({**case, "source": source_ids if source is not None else None, **run(model, ids, case, source)})
    out = {"model": name, "made_by": "tools/intervention_reference.py", "transformers": transformers.__version__,
           "torch": torch.__version__, "ids": ids, "plain": run(model, ids), "cases": cases}
    os.makedirs(os.path.join(FIXTURES, "interventions"), exist_ok=True)
    with open(os.path.join(FIXTURES, "interventions", f"{name}.json"), "w") as f:
        json.dump(out, f)
    print(name, "ok")


def main():
    model = build("llama")
    export = onnx.load(os.path.join(FIXTURES, "exports", "llama-dynamo23", "model.onnx"))
    embed = next(t for t in export.graph.initializer if t.name == "model.model.embed_tokens.weight")
    # The seeded build is the export's model only if it reproduces the export's weights.
    assert torch.equal(torch.from_numpy(onnx.numpy_helper.to_array(embed).copy()), model.model.embed_tokens.weight)
    reference("llama-dynamo23", model)
    gguf = os.path.join(FIXTURES, "gguf-llama")
    reference("gguf-llama", transformers.AutoModelForCausalLM.from_pretrained(
        gguf, gguf_file="model.gguf", dtype=torch.float32, attn_implementation="eager").eval())
    reference("llama-fp16", transformers.AutoModelForCausalLM.from_pretrained(
        os.path.join(CHECKPOINTS, "llama-fp16"), dtype=torch.float32, attn_implementation="eager").eval())


if __name__ == "__main__":
    main()
