"""A small GGUF the converter was never written against, and transformers' reading of it.

HuggingFace's LlamaForCausalLM (tiny random config, GQA, tied embeddings, seed 4321) is written
the way llama.cpp's convert_hf_to_gguf.py writes a Llama (q and k permuted to interleaved rotary
pairs, `output.weight` left out when tied), through the gguf package's GGUFWriter, in a mix of
formats (Q8_0, Q4_0, Q5_1, F16, F32). Its vocabulary is the fixtures' byte-level sentencepiece
one, with scores. Then transformers' own GGUF loader (float32) with forward hooks gives the
notebook's numbers. Written to test/fixtures/gguf-llama/{model.gguf, reference.json}.

A second file, test/fixtures/gguf-llama-bias/, holds what llama.cpp applies and a converter may
drop: q/k/v/o and MLP biases (attention_bias, mlp_bias; q's and k's permuted with their rows, as
convert_hf_to_gguf.py does) and linear rope scaling (rope.scaling.type "linear", factor 8), every
tensor in F32. Its reference is transformers' forward of the HF model itself (rope_type "linear").

  python tools/make_gguf_fixture.py
"""
import json, os, sys, warnings
import numpy as np
import torch
import transformers
import gguf
from gguf.constants import GGMLQuantizationType as T
from gguf.quants import quantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import PROMPT, byte_vocab, notebook_numbers  # noqa: E402

warnings.filterwarnings("ignore")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
D, LAYERS, HEADS, KV, HIDDEN, VOCAB = 64, 2, 4, 2, 128, 512


def permute(w, n_head):
    """llama.cpp's LlamaModel.permute: HF's rotate-half rows to interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    build(os.path.join(FIXTURES, "gguf-llama"), biased=False)
    build(os.path.join(FIXTURES, "gguf-llama-bias"), biased=True)


def build(OUT, biased):
    os.makedirs(OUT, exist_ok=True)
    extra = dict(attention_bias=True, mlp_bias=True, rope_scaling={"rope_type": "linear", "factor": 8.0}) if biased else {}
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=D, intermediate_size=HIDDEN, num_hidden_layers=LAYERS,
                                   num_attention_heads=HEADS, num_key_value_heads=KV, max_position_embeddings=128,
                                   rms_norm_eps=1e-6, rope_theta=50000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, **extra)
    torch.manual_seed(4321 + biased)
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    vocab, _ = byte_vocab()
    vocab = vocab[:VOCAB]
    # sentencepiece scores: merged pieces (▁ + letter) rank above single characters, bytes and specials lowest
    scores = [0.0 if i < 3 + 256 else (-1.0 if t.startswith("\u2581") and len(t) == 2 else -10.0 - i / 1000) for i, t in enumerate(vocab)]
    path = os.path.join(OUT, "model.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("probespec tiny llama")
    w.add_context_length(128); w.add_embedding_length(D); w.add_block_count(LAYERS); w.add_feed_forward_length(HIDDEN)
    w.add_rope_dimension_count(D // HEADS); w.add_head_count(HEADS); w.add_head_count_kv(KV)
    w.add_layer_norm_rms_eps(1e-6); w.add_rope_freq_base(50000.0); w.add_file_type(0 if biased else 7)
    if biased:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR); w.add_rope_scaling_factor(8.0)
    w.add_tokenizer_model("llama"); w.add_token_list(vocab); w.add_token_scores(scores)
    w.add_token_types([3 if i < 3 else 6 if i < 3 + 256 else 1 for i in range(VOCAB)])
    w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0); w.add_add_bos_token(True)
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    formats = {g: T.F32 for g in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")} if biased else {"attn_q": T.Q8_0, "attn_k": T.Q4_0, "attn_v": T.Q5_1, "attn_output": T.F16, "ffn_gate": T.Q8_0, "ffn_up": T.Q4_0, "ffn_down": T.Q5_1}
    def put(name, data, qtype):
        q = quantize(data, qtype)
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    put("token_embd.weight", sd["model.embed_tokens.weight"], T.F32 if biased else T.Q8_0)
    put("output_norm.weight", sd["model.norm.weight"], T.F32)
    hf = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
          "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    for l in range(LAYERS):
        put(f"blk.{l}.attn_norm.weight", sd[f"model.layers.{l}.input_layernorm.weight"], T.F32)
        put(f"blk.{l}.ffn_norm.weight", sd[f"model.layers.{l}.post_attention_layernorm.weight"], T.F32)
        for g, h in hf.items():
            W = sd[f"model.layers.{l}.{h}.weight"]
            if g == "attn_q": W = permute(W, HEADS)
            if g == "attn_k": W = permute(W, KV)
            put(f"blk.{l}.{g}.weight", W, formats[g])
            if biased:
                b = sd[f"model.layers.{l}.{h}.bias"]
                if g == "attn_q": b = permute(b, HEADS)
                if g == "attn_k": b = permute(b, KV)
                put(f"blk.{l}.{g}.bias", b, T.F32)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

    from transformers import AutoModelForCausalLM, AutoTokenizer
    # transformers' GGUF loader knows neither the biases nor the scaling: the biased file's reference is the HF model itself.
    ref_model = model if biased else AutoModelForCausalLM.from_pretrained(OUT, gguf_file="model.gguf", dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(OUT, gguf_file="model.gguf")
    ids = tok(PROMPT)["input_ids"]
    if ids[:1] != [1]:
        ids = [1] + ids  # as llama.cpp does with add_bos_token (transformers' GGUF tokenizer leaves BOS out)
    norms = {}
    hooks = [layer.register_forward_hook(lambda m, a, out, i=i: norms.__setitem__(i, (out[0] if isinstance(out, tuple) else out).float().norm().item()))
             for i, layer in enumerate(ref_model.model.layers)]
    with torch.no_grad():
        logits = ref_model(input_ids=torch.tensor([ids])).logits
    for h in hooks:
        h.remove()
    ref = notebook_numbers([norms[i] for i in range(LAYERS)], logits, ref_model.get_output_embeddings().weight, ref_model.get_input_embeddings().weight)
    ref.update({"prompt": PROMPT, "input_ids": ids, "hf_tokenizer_ids": tok(PROMPT)["input_ids"],
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "gguf": "0.19.0"}})
    json.dump(ref, open(os.path.join(OUT, "reference.json"), "w"), indent=1)
    print(path, os.path.getsize(path), "bytes; ids", ids, "hf", ref["hf_tokenizer_ids"])


if __name__ == "__main__":
    main()
