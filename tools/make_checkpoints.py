"""HuggingFace checkpoints as researchers keep them, with transformers' own numbers (test/checkpoints.test.ts).

For each model type probespec converts (llama, mistral, gpt_neox, gemma, gemma2, qwen2, qwen3, apertus, phi3, gpt2,
gemma3_text, olmo2, mixtral, phi, stablelm), HF's real *ForCausalLM class with a tiny random config and a fixed seed,
written by save_pretrained as safetensors with the byte-level tokenizer's tokenizer.json. Variants: float16 and bfloat16
(llama, qwen3, apertus, gemma2, phi3, gpt_neox, gpt2, gemma3_text, olmo2, mixtral, phi, stablelm), sharded with model.safetensors.index.json (mistral, max_shard_size), a base
model saved without its head (gpt2, as the hub's openai-community/gpt2 is: no "transformer." prefix), Mixtral's experts
fused as transformers 5's modules hold them (save_pretrained writes them one by one, as the hub has them), and a hub cache
(hub/models--org--name/{blobs, refs/main, snapshots/<commit>/ as symlinks into blobs}), and a second hub cache,
seed-hub/, holding one under each of the seed's four repository ids (references in seed-hub/references.json).

reference.json is transformers' forward on the checkpoint as written, read back by from_pretrained
in float32 (so the float16/bfloat16 rounding is part of it): forward hooks on the decoder layers
give each layer's output (the residual stream before the final norm) as a whole-tensor L2 norm,
and the last position's logit statistics in the notebook's definitions (tools/make_fixtures.py); for a mixture of
experts, each layer's ‖mixture output‖ / ‖its input‖ too (mlp_out and mlp_in).

  python tools/make_checkpoints.py OUT
"""
import hashlib, json, os, shutil, sys, warnings
import safetensors.torch
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import PROMPT, byte_vocab, notebook_numbers, tokenize, tokenizer_json  # noqa: E402

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
VOCAB, D, LAYERS, HEADS, KV, HIDDEN, MAXPOS, SEED = 512, 64, 2, 4, 2, 128, 128, 1234
COMMON = dict(vocab_size=VOCAB, hidden_size=D, intermediate_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
              max_position_embeddings=MAXPOS, bos_token_id=1, eos_token_id=2)
TYPES = {
    "llama": lambda: transformers.LlamaConfig(**COMMON, num_key_value_heads=KV),
    # A window shorter than the context: the converter caps the context at it.
    "mistral": lambda: transformers.MistralConfig(**COMMON, num_key_value_heads=KV, sliding_window=64),
    "gpt_neox": lambda: transformers.GPTNeoXConfig(**COMMON, rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False),
    # head_dim 32 with d 64 and 4 heads: q_proj is wider than d, as in Gemma-7B (16 × 256 over 3072).
    "gemma": lambda: transformers.GemmaConfig(**COMMON, num_key_value_heads=1, head_dim=32, hidden_act="gelu_pytorch_tanh"),
    "qwen2": lambda: transformers.Qwen2Config(**COMMON, num_key_value_heads=KV, tie_word_embeddings=False),
    "qwen3": lambda: transformers.Qwen3Config(**COMMON, num_key_value_heads=KV, head_dim=32, tie_word_embeddings=False),
    # ApertusConfig's own defaults for what it leaves out: xIELU, QK-norm, llama3 RoPE (theta 12e6, factor 8, original
    # context 8192), whose three frequency bands all fall within a head of 16.
    "apertus": lambda: transformers.ApertusConfig(**COMMON, num_key_value_heads=KV),
    # Soft-capping of scores and logits at caps small enough to bite (random weights give logits near 1), a
    # query_pre_attn_scalar that is not the head dim, and a window shorter than the context on every other layer.
    "gemma2": lambda: transformers.Gemma2Config(**COMMON, num_key_value_heads=KV, head_dim=32, query_pre_attn_scalar=24,
                                                attn_logit_softcapping=0.5, final_logit_softcapping=2.0, sliding_window=64),
    # Fused qkv_proj (with grouped kv) and gate_up_proj; half of each head rotated; a window shorter than the context.
    "phi3": lambda: transformers.Phi3Config(**COMMON, num_key_value_heads=KV, pad_token_id=3, sliding_window=64,
                                            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                             "partial_rotary_factor": 0.5}),
    # GPT2Config's own key names; n_inner left to its default (4 × n_embd), gelu_new, tied, learned positions.
    "gpt2": lambda: transformers.GPT2Config(vocab_size=VOCAB, n_embd=D, n_layer=LAYERS, n_head=HEADS, n_positions=MAXPOS,
                                            bos_token_id=1, eos_token_id=2),
    # Three layers, sliding-full-sliding, with a window shorter than the context; the sliding layers' RoPE base (100)
    # far from the full layers' (1e6, linearly scaled by 4, as Gemma 3 4B's is by 8), so that a layer rotated by the
    # other's frequencies shows; a query_pre_attn_scalar that is not the head dim; no soft-capping (Gemma 3's default).
    "gemma3_text": lambda: transformers.Gemma3TextConfig(
        **{**COMMON, "num_hidden_layers": 3}, num_key_value_heads=KV, head_dim=32, query_pre_attn_scalar=24,
        sliding_window=64, layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1000000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 100.0}}),
    # Grouped kv, so that k_norm (over kv heads × head dim) is narrower than q_norm (over heads × head dim).
    "olmo2": lambda: transformers.Olmo2Config(**COMMON, num_key_value_heads=KV),
    # Mistral's attention (grouped kv, a window shorter than the context) and 4 experts, 2 per token, untied.
    "mixtral": lambda: transformers.MixtralConfig(**COMMON, num_key_value_heads=KV, sliding_window=64, num_local_experts=4,
                                                  num_experts_per_tok=2, tie_word_embeddings=False),
    # Phi-2's shape: one LayerNorm feeding attention and MLP in parallel, biases on every projection and on lm_head,
    # gelu_new, half of each head rotated (spelled out: PhiConfig's default is the same 0.5), grouped kv.
    "phi": lambda: transformers.PhiConfig(**COMMON, num_key_value_heads=KV, rope_parameters={
        "rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}),
    # StableLM 2 1.6B's shape: sequential LayerNorm layers, q/k/v biases, a quarter of each head rotated (the class's
    # default), a gated SiLU MLP, grouped kv.
    "stablelm": lambda: transformers.StableLmConfig(**COMMON, num_key_value_heads=KV, use_qkv_bias=True),
}
# Variants of a type's config, built as that type: llama with llama3 RoPE over an original context of 64, so that a
# head of 16 has frequencies in all three of its bands (kept, blended, slowed).
VARIANTS = {
    "llama-rope-llama3": ("llama", lambda: transformers.LlamaConfig(
        **COMMON, num_key_value_heads=KV, rope_parameters={
            "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64})),
    # Dynamic NTK: the default RoPE within max_position_embeddings, which the converter caps the context at.
    "llama-rope-dynamic": ("llama", lambda: transformers.LlamaConfig(
        **COMMON, num_key_value_heads=KV, rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0})),
    # GPT-2's other options the converter applies: unscaled scores, the reordered and upcast attention (float32 already),
    # gelu_pytorch_tanh spelled so, n_inner and epsilon given, untied.
    "gpt2-options": ("gpt2", lambda: transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=D, n_layer=LAYERS, n_head=HEADS, n_positions=MAXPOS, n_inner=HIDDEN, bos_token_id=1,
        eos_token_id=2, scale_attn_weights=False, reorder_and_upcast_attn=True, activation_function="gelu_pytorch_tanh",
        layer_norm_epsilon=1e-3, tie_word_embeddings=False)),
    # Phi's qk_layernorm (one LayerNorm with bias over a head, shared by the heads), three quarters of each head rotated.
    "phi-qk-layernorm": ("phi", lambda: transformers.PhiConfig(
        **COMMON, qk_layernorm=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                      "partial_rotary_factor": 0.75})),
    # StableLM 2 12B's shape: a parallel residual fed by one norm, and qk_layernorm with a LayerNorm of its own (no bias)
    # per query head and per key-value head; no qkv biases.
    "stablelm-parallel": ("stablelm", lambda: transformers.StableLmConfig(
        **COMMON, num_key_value_heads=KV, use_parallel_residual=True, qk_layernorm=True)),
}
# name -> (model type, dtype, how it is laid out)
CHECKPOINTS = {
    "llama": ("llama", torch.float32, "dir"),
    "llama-fp16": ("llama", torch.float16, "dir"),
    "llama-bf16": ("llama", torch.bfloat16, "dir"),
    "mistral-sharded": ("mistral", torch.float32, "sharded"),
    "gpt_neox": ("gpt_neox", torch.float32, "dir"),
    "gemma": ("gemma", torch.float32, "dir"),
    "gemma-hub": ("gemma", torch.bfloat16, "hub"),
    "qwen2": ("qwen2", torch.float32, "dir"),
    "qwen3": ("qwen3", torch.float32, "dir"),
    "qwen3-bf16": ("qwen3", torch.bfloat16, "dir"),
    "apertus": ("apertus", torch.float32, "dir"),
    "apertus-bf16": ("apertus", torch.bfloat16, "dir"),
    "phi3": ("phi3", torch.float32, "dir"),
    # 16-bit matrices are read in place: Phi-3's fused projections as row ranges of the stored tensor, and
    # GPT-NeoX's query_key_value, cut per head, as the one copy.
    "phi3-bf16": ("phi3", torch.bfloat16, "dir"),
    "gpt_neox-fp16": ("gpt_neox", torch.float16, "dir"),
    "gemma2": ("gemma2", torch.float32, "dir"),
    "gemma2-bf16": ("gemma2", torch.bfloat16, "dir"),
    "llama-rope-llama3": ("llama-rope-llama3", torch.float32, "dir"),
    "llama-rope-dynamic": ("llama-rope-dynamic", torch.float32, "dir"),
    "gpt2": ("gpt2", torch.float32, "dir"),
    # Conv1D matrices turned to [out, in] at 16 bits (written with the graph); the embeddings read in place.
    "gpt2-fp16": ("gpt2", torch.float16, "dir"),
    "gpt2-base-model": ("gpt2", torch.float32, "base"),
    "gpt2-options": ("gpt2-options", torch.float32, "dir"),
    "gemma3_text": ("gemma3_text", torch.float32, "dir"),
    "gemma3_text-bf16": ("gemma3_text", torch.bfloat16, "dir"),
    "olmo2": ("olmo2", torch.float32, "dir"),
    "olmo2-fp16": ("olmo2", torch.float16, "dir"),
    # Experts one by one (block_sparse_moe.experts.E.w1/w3/w2), as save_pretrained and the hub write them; and fused
    # ([E, 2 × hidden, d] gate_up_proj, [E, d, hidden] down_proj), each expert read in place as its slice of the stack.
    "mixtral": ("mixtral", torch.float32, "dir"),
    "mixtral-bf16": ("mixtral", torch.bfloat16, "dir"),
    "mixtral-fused-fp16": ("mixtral", torch.float16, "fused"),
    "phi": ("phi", torch.float32, "dir"),
    "phi-fp16": ("phi", torch.float16, "dir"),
    "phi-qk-layernorm": ("phi-qk-layernorm", torch.float32, "dir"),
    "stablelm": ("stablelm", torch.float32, "dir"),
    "stablelm-bf16": ("stablelm", torch.bfloat16, "dir"),
    "stablelm-parallel": ("stablelm-parallel", torch.float32, "dir"),
}
HUB_REPO = "probespec-tiny/gemma"
# The seed's four repositories, each holding a tiny checkpoint of its model type, in a hub cache of their own
# (seed-hub/): the seed's entries in models/ probe them with no export step. dtype as each repository ships.
SEED_HUB = {
    "mistralai/Mistral-7B-v0.1": ("mistral", torch.bfloat16),
    "EleutherAI/pythia-6.9b": ("gpt_neox", torch.float16),
    "google/gemma-7b": ("gemma", torch.float32),
    "swiss-ai/Apertus-8B-2509": ("apertus", torch.bfloat16),
}


def build(model_type):
    cfg = VARIANTS[model_type][1]() if model_type in VARIANTS else TYPES[model_type]()
    # A seed per type, a variant its type's: no two types share weights.
    torch.manual_seed(SEED + list(TYPES).index(VARIANTS[model_type][0] if model_type in VARIANTS else model_type))
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    with torch.no_grad():  # norms away from their init, so that a misread gain or bias shows in the numbers
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.add_(0.05 * torch.randn_like(p))
            elif ".act_fn." in name:  # xIELU's alpha_p and alpha_n, stored before their softplus
                p.add_(0.3 * torch.randn_like(p))
            elif name.endswith(".mlp.gate.weight"):  # a router far from uniform: which experts, and their weights, show
                p.mul_(10)
            elif ".mlp.experts." in name:  # experts that move the stream (at init their output is 0.2% of their input)
                p.mul_(5)
    return model


def reference(folder, ids):
    """transformers' forward on the files as written, read back in float32, with hooks on the decoder layers."""
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    base = getattr(model, model.base_model_prefix)
    outs, gains = [], []
    layers = getattr(base, "layers", None) or base.h
    hooks = [layer.register_forward_hook(lambda m, i, o: outs.append((o[0] if isinstance(o, tuple) else o).detach()))
             for layer in layers]
    # A mixture of experts' output over its input, whole-tensor norms: the probe's mlp.gain, mlp_out over mlp_in.
    hooks += [layer.mlp.register_forward_hook(
        lambda m, i, o: gains.append((torch.linalg.norm(o.double()) / torch.linalg.norm(i[0].double())).item()))
        for layer in layers if type(getattr(layer, "mlp", None)).__name__.endswith("SparseMoeBlock")]
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False).logits
    for h in hooks:
        h.remove()
    norms = [torch.linalg.norm(o.double()).item() for o in outs]
    ref = notebook_numbers(norms, logits)
    # The rotary frequencies transformers computed from config.json (rope scaling applied), to hold the converter's to.
    # GPT-2 has none: its positions are learned. Gemma 3 has one set per layer type: the full layers' is inv_freq, the
    # sliding layers' inv_freq_local.
    rot = getattr(base, "rotary_emb", None)
    freqs = lambda name: getattr(rot, name).double().tolist() if hasattr(rot, name) else []
    extra = {"inv_freq_local": freqs("sliding_attention_inv_freq")} if hasattr(rot, "sliding_attention_inv_freq") else {}
    inv_freq = freqs("inv_freq") or freqs("full_attention_inv_freq")
    return {"norms": ref["norms"], "entropy": ref["entropy"], "inv_freq": inv_freq, **extra, **({"mlp_gain": gains} if gains else {})}


def write_hub(hub, src, name=HUB_REPO):
    """huggingface_hub's cache layout: files in blobs/ named by their sha256, a snapshot of symlinks, refs/main."""
    repo = os.path.join(hub, "models--" + name.replace("/", "--"))
    commit = hashlib.sha1(name.encode()).hexdigest()
    snap = os.path.join(repo, "snapshots", commit)
    os.makedirs(os.path.join(repo, "blobs")), os.makedirs(os.path.join(repo, "refs")), os.makedirs(snap)
    for f in sorted(os.listdir(src)):
        data = open(os.path.join(src, f), "rb").read()
        blob = hashlib.sha256(data).hexdigest()
        open(os.path.join(repo, "blobs", blob), "wb").write(data)
        os.symlink(os.path.join("..", "..", "blobs", blob), os.path.join(snap, f))
    open(os.path.join(repo, "refs", "main"), "w").write(commit)
    return snap


def main():
    out = sys.argv[1]
    vocab, merges = byte_vocab()
    ids = tokenize(PROMPT, vocab)
    tok = {"tokenizer.json": tokenizer_json(vocab, merges),
           "tokenizer_config.json": {"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                     "model_max_length": MAXPOS, "tokenizer_class": "LlamaTokenizerFast"}}

    def save(folder, model_type, dtype, layout):
        shutil.rmtree(folder, ignore_errors=True)
        model = build(model_type).to(dtype)
        # "base": the model without its head, as GPT2Model saves it (tied, the head is the embedding).
        if layout == "base":
            model = getattr(model, model.base_model_prefix)
        model.save_pretrained(folder, max_shard_size="100KB" if layout == "sharded" else "50GB")
        # "fused": the tensors as the modules hold them, which save_pretrained's reverse mapping would not write.
        if layout == "fused":
            safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                                        os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        for f, v in tok.items():
            json.dump(v, open(os.path.join(folder, f), "w"))
        return {"model_type": VARIANTS[model_type][0] if model_type in VARIANTS else model_type, "dtype": str(dtype).replace("torch.", ""), "layout": layout, "prompt": PROMPT,
                "ids": ids, **reference(folder, ids)}

    for name, (model_type, dtype, layout) in CHECKPOINTS.items():
        folder = os.path.join(out, "hub-src" if layout == "hub" else name)
        ref = save(folder, model_type, dtype, layout)
        if layout == "hub":
            write_hub(os.path.join(out, "hub"), folder)
            shutil.rmtree(folder)
            ref["hub"] = HUB_REPO
        json.dump(ref, open(os.path.join(out, f"{name}.reference.json"), "w"), indent=1)
        print(f"{name}: {model_type} {ref['dtype']} {layout} ok")
    seed = {}
    for repo, (model_type, dtype) in SEED_HUB.items():
        folder = os.path.join(out, "seed-src")
        seed[repo] = {**save(folder, model_type, dtype, "hub"), "hub": repo}
        write_hub(os.path.join(out, "seed-hub"), folder, repo)
        shutil.rmtree(folder)
        print(f"seed-hub {repo}: {model_type} {seed[repo]['dtype']} hub ok")
    json.dump(seed, open(os.path.join(out, "seed-hub", "references.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
