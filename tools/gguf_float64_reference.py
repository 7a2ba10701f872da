"""The notebook's numbers of a Llama-architecture GGUF by a float64 forward on its dequantised weights,
as llama.cpp defines that forward: rows as stored, RoPE on adjacent pairs (ggml's NORM mode, which is
why convert_hf_to_gguf permutes q and k), grouped-query attention, SwiGLU, RMSNorm. Weights are
dequantised by the gguf package one layer at a time, so a 7B file needs ~2 GB of float64 at once.

For the first N prompts of TinyLlama's reference.json (their token ids, BOS first: the same vocabulary
as the 7B fixture of tools/make_mistral7b_gguf.py): per-layer output norms with and without position 0,
their gains, and the last token's logit statistics; and W_U's and W_E's 12 statistics in float64.

  .venv/bin/python tools/gguf_float64_reference.py MODEL.gguf OUT.json [N]
"""
import json, os, sys
import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import analyze_matrix_norms, notebook_numbers  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    path, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 4
    torch.set_num_threads(os.cpu_count())
    r = GGUFReader(path)
    meta = lambda k: r.fields[k].parts[r.fields[k].data[0]][0]
    arch = bytes(r.fields["general.architecture"].parts[r.fields["general.architecture"].data[0]]).decode()
    L, H, KV = int(meta(f"{arch}.block_count")), int(meta(f"{arch}.attention.head_count")), int(meta(f"{arch}.attention.head_count_kv"))
    eps, base = float(meta(f"{arch}.attention.layer_norm_rms_epsilon")), float(meta(f"{arch}.rope.freq_base"))
    tensors = {t.name: t for t in r.tensors}

    def W(name):
        t = tensors[name]
        shape = [int(x) for x in reversed(t.shape)]  # ggml's ne is innermost first
        return torch.from_numpy(dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float64))

    prompts = json.load(open(os.path.join(ROOT, "test", "fixtures", "tinyllama", "reference.json")))["prompts"][:n]
    E = W("token_embd.weight")
    hs = [E[torch.tensor(p["input_ids"])] for p in prompts]
    norms = [[] for _ in prompts]
    norms_ex0 = [[] for _ in prompts]
    rms = lambda x, g: x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g
    hd = E.shape[1] // H

    def rope(x):  # [heads, seq, hd], pairs (2i, 2i+1)
        s = x.shape[1]
        theta = base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.arange(s, dtype=torch.float64)[:, None] * theta[None]
        c, sn = torch.cos(ang), torch.sin(ang)
        a, b = x[..., 0::2], x[..., 1::2]
        y = torch.empty_like(x)
        y[..., 0::2], y[..., 1::2] = a * c - b * sn, a * sn + b * c
        return y

    for l in range(L):
        g1, g2 = W(f"blk.{l}.attn_norm.weight"), W(f"blk.{l}.ffn_norm.weight")
        q, k, v, o = (W(f"blk.{l}.attn_{x}.weight") for x in ("q", "k", "v", "output"))
        gate, up, down = (W(f"blk.{l}.ffn_{x}.weight") for x in ("gate", "up", "down"))
        for i, h in enumerate(hs):
            s = h.shape[0]
            x = rms(h, g1)
            Q = rope((x @ q.T).view(s, H, hd).transpose(0, 1))
            K = rope((x @ k.T).view(s, KV, hd).transpose(0, 1)).repeat_interleave(H // KV, 0)
            V = (x @ v.T).view(s, KV, hd).transpose(0, 1).repeat_interleave(H // KV, 0)
            a = (Q @ K.transpose(1, 2)) / hd**0.5
            a = a.masked_fill(torch.triu(torch.ones(s, s, dtype=torch.bool), 1), float("-inf")).softmax(-1)
            h = h + (a @ V).transpose(0, 1).reshape(s, H * hd) @ o.T
            x = rms(h, g2)
            h = h + (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ down.T
            hs[i] = h
            norms[i].append(h.norm().item())
            norms_ex0[i].append(h[1:].norm().item())
        print("layer", l, flush=True)
    U = W("output.weight") if "output.weight" in tensors else E
    gf = W("output_norm.weight")
    results = []
    for i, p in enumerate(prompts):
        logits = (rms(hs[i], gf) @ U.T)[None]
        nb = notebook_numbers(norms[i], logits)
        del nb["logits_last_token"]
        ex0 = norms_ex0[i]
        results.append({"prompt": p["prompt"], "input_ids": p["input_ids"], **nb, "norms_ex0": ex0,
                        "gains_ex0": [ex0[j] / ex0[j - 1] for j in range(1, len(ex0))]})
    json.dump({"unembedding": analyze_matrix_norms(U, torch.float64), "embedding": analyze_matrix_norms(E, torch.float64),
               "prompts": results}, open(out, "w"), indent=1)
    print(out)


if __name__ == "__main__":
    main()
