#!/usr/bin/python3
"""Real-exporter fixtures with torch reference numbers (test/fixtures/).

Small torch modules that mirror HuggingFace's module names and forward code for
MistralForCausalLM (GQA), GPTNeoXForCausalLM (parallel residual) and
GemmaForCausalLM (tied, sqrt(d) scale, 1 + w norm), exported with the real
torch.onnx.export (do_constant_folding=True, as Optimum does) at opsets 14 and
17, one with external data; then the notebook's own metrics on the same weights:
forward hooks on the decoder layers, torch.linalg.matrix_norm(ord=2) and
svdvals for W_U and W_E, last-token logit statistics. Run with Debian's
python3-torch and python3-onnx:  /usr/bin/python3 tools/make_fixtures.py
"""
import json, math, os, shutil, sys
import numpy as np
import torch
from torch import nn
import onnx

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
PROMPT = "The capital of France is"
VOCAB, D, HEADS, KV, HIDDEN, LAYERS, MAXPOS = 512, 64, 4, 2, 128, 3, 128

# --- the byte-level tokenizer the analogs use (models/analogs/tokenizers.ts), rebuilt here
SPECIALS = ["<unk>", "<s>", "</s>"]
def byte_vocab():
    vocab = SPECIALS + ["<0x%02X>" % b for b in range(256)]
    ascii_ = [chr(c) for c in range(33, 127)]
    vocab += ["\u2581"] + ascii_
    letters = [c for c in ascii_ if c.isalpha()]
    merges = [("\u2581", c) for c in letters]
    vocab += ["\u2581" + c for c in letters]
    vocab += ["<unused_%d>" % i for i in range(len(vocab), VOCAB)]
    return vocab, merges

def tokenize(text, vocab):
    index = {t: i for i, t in enumerate(vocab)}
    s = "\u2581" + text.replace(" ", "\u2581")
    ids, i = [1], 0
    while i < len(s):
        if s[i] == "\u2581" and i + 1 < len(s) and ("\u2581" + s[i + 1]) in index:
            ids.append(index["\u2581" + s[i + 1]]); i += 2
        elif s[i] in index:
            ids.append(index[s[i]]); i += 1
        else:
            ids += [index["<0x%02X>" % b] for b in s[i].encode("utf8")]; i += 1
    return ids

def tokenizer_json(vocab, merges):
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True} for i, t in enumerate(SPECIALS)],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(vocab)}, "merges": ["%s %s" % m for m in merges]},
    }

# --- HF's modeling code, reduced to what these fixtures need (names and call order as in transformers)
def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)

class RotaryEmbedding(nn.Module):
    def __init__(self, dim, base=10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        t = torch.arange(MAXPOS).float()
        emb = torch.cat((torch.outer(t, inv_freq),) * 2, dim=-1)
        self.register_buffer("cos_cached", emb.cos(), persistent=False)
        self.register_buffer("sin_cached", emb.sin(), persistent=False)
    def forward(self, position_ids):
        return self.cos_cached[position_ids].unsqueeze(1), self.sin_cached[position_ids].unsqueeze(1)

class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5, gemma=False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d) if gemma else torch.ones(d))
        self.eps, self.gemma = eps, gemma
    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        return x * (1.0 + self.weight) if self.gemma else self.weight * x

def causal_mask(attention_mask, seq):
    causal = torch.triu(torch.full((seq, seq), -1e9), diagonal=1)
    pad = (1.0 - attention_mask[:, None, None, :].float()) * -1e9
    return causal[None, None] + pad

class Attention(nn.Module):
    def __init__(self, heads, kv):
        super().__init__()
        self.heads, self.kv, self.hd = heads, kv, D // heads
        self.q_proj = nn.Linear(D, heads * self.hd, bias=False)
        self.k_proj = nn.Linear(D, kv * self.hd, bias=False)
        self.v_proj = nn.Linear(D, kv * self.hd, bias=False)
        self.o_proj = nn.Linear(heads * self.hd, D, bias=False)
        self.rotary_emb = RotaryEmbedding(self.hd)
    def forward(self, x, mask, position_ids):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.kv, self.hd).transpose(1, 2)
        cos, sin = self.rotary_emb(position_ids)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv
        if rep > 1:
            k = k[:, :, None].expand(b, self.kv, rep, s, self.hd).reshape(b, self.heads, s, self.hd)
            v = v[:, :, None].expand(b, self.kv, rep, s, self.hd).reshape(b, self.heads, s, self.hd)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd) + mask
        out = torch.matmul(torch.softmax(w, dim=-1), v).transpose(1, 2).reshape(b, s, -1)
        return self.o_proj(out)

class GatedMLP(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.gate_proj = nn.Linear(D, HIDDEN, bias=False)
        self.up_proj = nn.Linear(D, HIDDEN, bias=False)
        self.down_proj = nn.Linear(HIDDEN, D, bias=False)
        self.act = act
    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))

class DecoderLayer(nn.Module):
    def __init__(self, heads, kv, act, gemma=False):
        super().__init__()
        self.self_attn = Attention(heads, kv)
        self.mlp = GatedMLP(act)
        self.input_layernorm = RMSNorm(D, 1e-6 if gemma else 1e-5, gemma)
        self.post_attention_layernorm = RMSNorm(D, 1e-6 if gemma else 1e-5, gemma)
    def forward(self, h, mask, position_ids):
        residual = h
        h = residual + self.self_attn(self.input_layernorm(h), mask, position_ids)
        residual = h
        h = residual + self.mlp(self.post_attention_layernorm(h))
        return (h,)

class Body(nn.Module):
    def __init__(self, heads, kv, act, gemma=False):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, D)
        self.layers = nn.ModuleList([DecoderLayer(heads, kv, act, gemma) for _ in range(LAYERS)])
        self.norm = RMSNorm(D, 1e-6 if gemma else 1e-5, gemma)
        self.gemma = gemma
    def forward(self, input_ids, attention_mask, position_ids):
        h = self.embed_tokens(input_ids)
        if self.gemma:
            h = h * torch.tensor(D ** 0.5, dtype=h.dtype)
        mask = causal_mask(attention_mask, input_ids.shape[1])
        for layer in self.layers:
            h = layer(h, mask, position_ids)[0]
        return self.norm(h)

class MistralForCausalLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Body(HEADS, KV, nn.functional.silu)
        self.lm_head = nn.Linear(D, VOCAB, bias=False)
    def forward(self, input_ids, attention_mask, position_ids):
        return self.lm_head(self.model(input_ids, attention_mask, position_ids))

class GemmaForCausalLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Body(HEADS, HEADS, lambda x: nn.functional.gelu(x, approximate="tanh"), gemma=True)
        self.lm_head = nn.Linear(D, VOCAB, bias=False)
        self.lm_head.weight = self.model.embed_tokens.weight  # tied
    def forward(self, input_ids, attention_mask, position_ids):
        return self.lm_head(self.model(input_ids, attention_mask, position_ids))

class NeoXAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.hd, self.rot = D // HEADS, (D // HEADS) // 4
        self.query_key_value = nn.Linear(D, 3 * D)
        self.dense = nn.Linear(D, D)
        self.rotary_emb = RotaryEmbedding(self.rot)
    def forward(self, x, mask, position_ids):
        b, s, _ = x.shape
        qkv = self.query_key_value(x).view(b, s, HEADS, 3 * self.hd)
        q, k, v = (qkv[..., i * self.hd:(i + 1) * self.hd].permute(0, 2, 1, 3) for i in range(3))
        cos, sin = self.rotary_emb(position_ids)
        def rope(t):
            tr, tp = t[..., : self.rot], t[..., self.rot :]
            return torch.cat((tr * cos + rotate_half(tr) * sin, tp), dim=-1)
        q, k = rope(q), rope(k)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd) + mask
        out = torch.matmul(torch.softmax(w, dim=-1), v).permute(0, 2, 1, 3).reshape(b, s, D)
        return self.dense(out)

class NeoXMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(D, HIDDEN)
        self.dense_4h_to_h = nn.Linear(HIDDEN, D)
    def forward(self, x):
        return self.dense_4h_to_h(nn.functional.gelu(self.dense_h_to_4h(x)))

class NeoXLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(D, eps=1e-5)
        self.post_attention_layernorm = nn.LayerNorm(D, eps=1e-5)
        self.attention = NeoXAttention()
        self.mlp = NeoXMLP()
    def forward(self, h, mask, position_ids):
        attn = self.attention(self.input_layernorm(h), mask, position_ids)
        mlp = self.mlp(self.post_attention_layernorm(h))
        return (mlp + attn + h,)

class NeoXBody(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_in = nn.Embedding(VOCAB, D)
        self.layers = nn.ModuleList([NeoXLayer() for _ in range(LAYERS)])
        self.final_layer_norm = nn.LayerNorm(D, eps=1e-5)
    def forward(self, input_ids, attention_mask, position_ids):
        h = self.embed_in(input_ids)
        mask = causal_mask(attention_mask, input_ids.shape[1])
        for layer in self.layers:
            h = layer(h, mask, position_ids)[0]
        return self.final_layer_norm(h)

class GPTNeoXForCausalLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.gpt_neox = NeoXBody()
        self.embed_out = nn.Linear(D, VOCAB, bias=False)
    def forward(self, input_ids, attention_mask, position_ids):
        return self.embed_out(self.gpt_neox(input_ids, attention_mask, position_ids))

# --- the notebook's metrics (Cells 4, 6, 8), on the same weights
def analyze_matrix_norms(W, dtype=torch.float32):
    # float32 is the notebook's precision; float64 where float32 sums drift (a 32000×2048 matrix: ~0.5%).
    W = W.detach().to(dtype).cpu()
    r = {
        "shape": list(W.shape),
        "frobenius_norm": float(torch.norm(W, p="fro").item()),
        "spectral_norm": float(torch.linalg.matrix_norm(W, ord=2).item()),
        "max_singular": float(torch.linalg.svdvals(W)[0].item()),
        "mean_row_norm": float(torch.norm(W, dim=1).mean().item()),
        "std_row_norm": float(torch.norm(W, dim=1).std().item()),
        "max_row_norm": float(torch.norm(W, dim=1).max().item()),
        "min_row_norm": float(torch.norm(W, dim=1).min().item()),
        "mean_abs": float(W.abs().mean().item()),
        "std_abs": float(W.abs().std().item()),
    }
    v, h = W.shape
    r["frobenius_normalized"] = r["frobenius_norm"] / np.sqrt(v * h)
    r["spectral_normalized"] = r["spectral_norm"] / np.sqrt(h)
    return r

def notebook_metrics(model, layers, W_U, W_E, ids):
    norms = []
    hooks = [layer.register_forward_hook(lambda m, a, out, i=i: norms.append((i, out[0].float().norm().item()))) for i, layer in enumerate(layers)]
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model(x, torch.ones_like(x), torch.arange(len(ids))[None])
    for h in hooks:
        h.remove()
    return notebook_numbers([n for _, n in sorted(norms)], logits, W_U, W_E)

def notebook_numbers(norms, logits, W_U=None, W_E=None):
    """The notebook's residual and logit numbers from per-layer output norms and the logits; its matrix numbers where W_U and W_E are given."""
    gains = [norms[i] / norms[i - 1] for i in range(1, len(norms))]
    last = logits[0, -1, :].float()
    probs = torch.softmax(last, dim=0)
    ent = -(probs * torch.log(probs + 1e-10)).sum().item()
    matrices = {}
    if W_U is not None:
        u, e = analyze_matrix_norms(W_U), analyze_matrix_norms(W_E)
        matrices = {"unembedding": u, "embedding": e, "wu_we_ratio": u["frobenius_norm"] / e["frobenius_norm"],
                    "tied_embeddings": bool(W_U.shape == W_E.shape and torch.allclose(W_U, W_E, atol=1e-3))}
    return {
        **matrices,
        "norms": norms, "gains": gains, "last_gain": gains[-1],
        "contracting_pct": 100 * sum(g < 1 for g in gains) / len(gains),
        "entropy": {"logit_mean": last.mean().item(), "logit_std": last.std().item(), "logit_max": last.max().item(), "logit_min": last.min().item(),
                    "logit_range": (last.max() - last.min()).item(), "entropy": ent, "effective_vocab": float(np.exp(ent)),
                    "top10_prob_mass": probs.topk(10).values.sum().item()},
        "logits_last_token": last.tolist(),
    }

def init(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and "weight" in name:
                p.copy_((0.0 if isinstance(model, GemmaForCausalLM) else 1.0) + 0.1 * torch.randn(p.shape, generator=g))
            elif "norm" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embed" in name:
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 / D ** 0.5 if isinstance(model, GemmaForCausalLM) else 1.0))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)
    return model

FIXTURES = [
    ("torch-mistral-op14", MistralForCausalLM, "mistral", 14, False),
    ("torch-mistral-op17-external", MistralForCausalLM, "mistral", 17, True),
    ("torch-gpt-neox-op17", GPTNeoXForCausalLM, "gpt_neox", 17, False),
    ("torch-gemma-op14", GemmaForCausalLM, "gemma", 14, False),
]

def main():
    vocab, merges = byte_vocab()
    ids = tokenize(PROMPT, vocab)
    for i, (name, cls, model_type, opset, external) in enumerate(FIXTURES):
        model = init(cls(), 100 + i).eval()
        out = os.path.join(OUT, name)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        x = torch.tensor([ids])
        args = (x, torch.ones_like(x), torch.arange(len(ids))[None])
        path = os.path.join(out, "model.onnx")
        torch.onnx.export(model, args, path, opset_version=opset, do_constant_folding=True,
                          input_names=["input_ids", "attention_mask", "position_ids"], output_names=["logits"],
                          dynamic_axes={k: {0: "batch_size", 1: "sequence_length"} for k in ["input_ids", "attention_mask", "position_ids", "logits"]})
        if external:
            m = onnx.load(path)
            onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=1024)
        neox = model_type == "gpt_neox"
        layers = model.gpt_neox.layers if neox else model.model.layers
        W_U = model.embed_out.weight if neox else model.lm_head.weight
        W_E = model.gpt_neox.embed_in.weight if neox else model.model.embed_tokens.weight
        ref = notebook_metrics(model, layers, W_U, W_E, ids)
        ref.update({"prompt": PROMPT, "input_ids": ids, "torch": torch.__version__, "opset": opset})
        config = {"model_type": model_type, "hidden_size": D, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                  "num_key_value_heads": KV if model_type == "mistral" else HEADS, "intermediate_size": HIDDEN, "vocab_size": VOCAB,
                  "max_position_embeddings": MAXPOS, "tie_word_embeddings": model_type == "gemma", "bos_token_id": 1, "eos_token_id": 2}
        json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)
        json.dump(tokenizer_json(vocab, merges), open(os.path.join(out, "tokenizer.json"), "w"))
        json.dump({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "model_max_length": MAXPOS, "tokenizer_class": "LlamaTokenizer"},
                  open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)
        json.dump(ref, open(os.path.join(out, "reference.json"), "w"), indent=1)
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        print(f"{name}: {size / 1e6:.2f} MB, ids {ids}, last_gain {ref['last_gain']:.6f}")

if __name__ == "__main__":
    sys.exit(main())
