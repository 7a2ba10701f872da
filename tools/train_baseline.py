"""A small Llama trained on the Brown corpus with TinyLlama's 32000-token vocabulary: a real trained
baseline that every clone has (models/brown-baseline.json).

transformers' LlamaForCausalLM (RMSNorm, rotate-half RoPE, SwiGLU, untied embeddings, as TinyLlama),
trained in float32 on the training texts' token ids (tools/brown_tokens.ts): each sample is BOS and
then SEQ-1 consecutive tokens from a random place in a random training text, as a probe prompt is BOS
and then a passage. AdamW, warmup then cosine, a fixed seed and a fixed number of steps (sized to about
ten minutes on two cores). Then:

- models/baselines/brown-llama-32k.gguf: written as llama.cpp's convert_hf_to_gguf.py writes a
  LlamaForCausalLM (llama.* keys, q and k rows permuted to interleaved rotary pairs), matrices Q8_0,
  norms F32, TinyLlama's tokenizer.ggml.* copied so the tokens are the same; provenance in general.*.
- models/baselines/brown-llama-32k.training.json: the budget, the loss curve (training loss every
  LOG_EVERY steps, a held-out subset every EVAL_EVERY) and the final losses on all held-out texts.
- test/fixtures/brown-baseline/reference.json: what the GGUF holds (transformers' own GGUF loader,
  gguf-py's dequantisation) run forward in float64 on three prompts: per-layer whole-tensor residual
  norms and the last position's logit entropy, for test/brown-baseline.test.ts.

  npx tsx tools/brown_tokens.ts && .venv/bin/python tools/train_baseline.py
  .venv/bin/python tools/train_baseline.py --reference-only   # the reference again, from the committed GGUF
  .venv/bin/python tools/train_baseline.py --steps 20         # time 20 steps; nothing is written

Its Python is tools/requirements-peer.txt's (transformers' GGUF loader needs gguf and accelerate).
"""
import argparse, hashlib, json, math, os, platform, sys, time, warnings
import numpy as np
import torch
import transformers
import gguf
from gguf.constants import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

warnings.filterwarnings("ignore")
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.path.join(ROOT, "scratch", "brown")
NAME = "brown-llama-32k"
GGUF_PATH = os.path.join(ROOT, "models", "baselines", f"{NAME}.gguf")
TRAINING_JSON = os.path.join(ROOT, "models", "baselines", f"{NAME}.training.json")
REFERENCE_JSON = os.path.join(ROOT, "test", "fixtures", "brown-baseline", "reference.json")
COMMAND = "npx tsx tools/brown_tokens.ts && .venv/bin/python tools/train_baseline.py"

SEED = 1961  # the year of the Brown corpus' texts
# The model: TinyLlama's shape scaled down; the MLP is Llama's 8/3·d rounded up to whole Q8_0 blocks of 32.
VOCAB, D, LAYERS, HEADS, HIDDEN, SEQ = 32000, 128, 4, 4, 352, 128
EPS, ROPE_THETA = 1e-5, 10000.0
# The budget: STEPS × BATCH samples of SEQ tokens.
BATCH, STEPS, WARMUP = 16, 600, 30
LR, LR_MIN, WEIGHT_DECAY, CLIP = 3e-3, 3e-4, 0.1, 1.0
LOG_EVERY, EVAL_EVERY, EVAL_SUBSET = 10, 100, 64

# Opening words of three held-out texts (ca01 news, cn01 adventure, cj01 learned): never trained on.
PROMPTS = [
    ("ca01", "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced"),
    ("cn01", "Dan Morgan told himself he would forget Ann Turner. He was well rid of her."),
    ("cj01", "It has recently become practical to use the radio emission of the moon and planets as a new source of information"),
]


def load_tokens():
    meta = json.load(open(os.path.join(DATA, "texts.json")))
    ids = {s: np.fromfile(os.path.join(DATA, f"{s}.u16"), dtype="<u2").astype(np.int64) for s in ("training", "heldout")}
    return meta, ids


def starts(meta, split):
    """Every place a sample's SEQ-1 text tokens may begin in a split, past each text's own BOS."""
    out = []
    for t in meta["texts"]:
        if t["split"] == split:
            out.append(np.arange(t["offset"] + 1, t["offset"] + t["tokens"] - SEQ + 1))
    return np.concatenate(out)


def tiles(meta, split):
    """Non-overlapping samples covering each text of a split: where an evaluation reads."""
    out = []
    for t in meta["texts"]:
        if t["split"] == split:
            out.extend(range(t["offset"] + 1, t["offset"] + t["tokens"] - SEQ + 1, SEQ))
    return np.array(out)


def batch(ids, at):
    """BOS and SEQ-1 text tokens in; each next token out (the last input's next is the SEQ-th text token)."""
    text = torch.from_numpy(np.stack([ids[a : a + SEQ] for a in at]))
    x = torch.cat([torch.ones(len(at), 1, dtype=torch.long), text[:, :-1]], dim=1)
    return x, text


def config():
    return transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=D, intermediate_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=HEADS, max_position_embeddings=SEQ, rms_norm_eps=EPS, rope_theta=ROPE_THETA,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=2)


@torch.no_grad()
def mean_loss(model, ids, at, batch_size=64):
    total, n = 0.0, 0
    for i in range(0, len(at), batch_size):
        x, y = batch(ids, at[i : i + batch_size])
        logits = model(input_ids=x).logits
        total += torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), reduction="sum").item()
        n += y.numel()
    return total / n


def lr_at(step):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    p = (step - WARMUP) / max(1, STEPS - WARMUP)
    return LR_MIN + 0.5 * (LR - LR_MIN) * (1 + math.cos(math.pi * p))


def train(meta, ids, steps):
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = transformers.LlamaForCausalLM(config())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": other, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.95), eps=1e-8)
    pool = starts(meta, "training")
    held = tiles(meta, "heldout")
    subset = held[np.linspace(0, len(held) - 1, EVAL_SUBSET).astype(int)]
    curve, held_curve, window = [], [], []
    t0 = time.time()
    for step in range(steps):
        model.train()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = batch(ids["training"], rng.choice(pool, BATCH))
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        window.append(loss.item())
        if (step + 1) % LOG_EVERY == 0 or step == 0:
            curve.append({"step": step + 1, "tokens": (step + 1) * BATCH * SEQ, "lr": lr_at(step),
                          "train_loss": float(np.mean(window)), "elapsed_s": round(time.time() - t0, 1)})
            window = []
            print(f"step {step + 1}/{steps}: loss {curve[-1]['train_loss']:.3f}, {curve[-1]['elapsed_s']} s", flush=True)
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == steps:
            model.eval()
            held_curve.append({"step": step + 1, "heldout_subset_loss": mean_loss(model, ids["heldout"], subset)})
    return model.eval(), curve, held_curve, time.time() - t0


def permute(w, n_head):
    """llama.cpp's LlamaModel.permute (convert_hf_to_gguf.py): HF's rotate-half rows to interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


HF_NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj"}


def gguf_tensors(model):
    """(GGUF name, float32 array as HF holds it permuted where llama.cpp permutes, type), in convert_hf_to_gguf's order."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    yield "token_embd.weight", sd["model.embed_tokens.weight"], T.Q8_0
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        yield f"blk.{l}.attn_norm.weight", sd[p + "input_layernorm.weight"], T.F32
        for g, h in HF_NAMES.items():
            w = sd[p + h + ".weight"]
            yield f"blk.{l}.{g}.weight", permute(w, HEADS) if g in ("attn_q", "attn_k") else w, T.Q8_0
        yield f"blk.{l}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"], T.F32
    yield "output_norm.weight", sd["model.norm.weight"], T.F32
    yield "output.weight", sd["lm_head.weight"], T.Q8_0


def write_gguf(model, provenance):
    tok = json.load(open(os.path.join(DATA, "tokenizer-ggml.json")))
    os.makedirs(os.path.dirname(GGUF_PATH), exist_ok=True)
    w = gguf.GGUFWriter(GGUF_PATH, "llama")
    n_params = sum(p.numel() for p in model.parameters())
    w.add_type("model"); w.add_name(NAME); w.add_basename("brown-llama"); w.add_size_label(f"{n_params / 1e6:.1f}M")
    w.add_description(provenance["description"])
    w.add_dataset_count(1); w.add_dataset_name(0, "Brown Corpus"); w.add_dataset_version(0, provenance["corpus"])
    w.add_dataset_description(0, provenance["split"])
    for k, v in provenance["training"].items():
        (w.add_string if isinstance(v, str) else w.add_float32 if isinstance(v, float) else w.add_uint64)(f"general.training.{k}", v)
    # TextModel.set_gguf_parameters and LlamaModel's additions, for a LlamaForCausalLM of this config.
    w.add_block_count(LAYERS); w.add_context_length(SEQ); w.add_embedding_length(D); w.add_feed_forward_length(HIDDEN)
    w.add_head_count(HEADS); w.add_head_count_kv(HEADS); w.add_rope_freq_base(ROPE_THETA); w.add_layer_norm_rms_eps(EPS)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0); w.add_vocab_size(VOCAB); w.add_rope_dimension_count(D // HEADS)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    # TinyLlama's tokenizer.ggml.*, key for key (tools/brown_tokens.ts read them from its GGUF).
    assert tok["tokenizer.ggml.model"] == "llama" and len(tok["tokenizer.ggml.tokens"]) == VOCAB
    w.add_tokenizer_model(tok["tokenizer.ggml.model"]); w.add_token_list(tok["tokenizer.ggml.tokens"])
    # JSON writes a float32 score of 0 as 0: as floats, or gguf-py would type the array by its first element as integers.
    w.add_token_scores([float(s) for s in tok["tokenizer.ggml.scores"]])
    w.add_token_types([int(t) for t in tok["tokenizer.ggml.token_type"]])
    w.add_bos_token_id(tok["tokenizer.ggml.bos_token_id"]); w.add_eos_token_id(tok["tokenizer.ggml.eos_token_id"])
    w.add_unk_token_id(tok["tokenizer.ggml.unknown_token_id"]); w.add_pad_token_id(tok["tokenizer.ggml.padding_token_id"])
    unexpected = set(tok) - {"source", "tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                             "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                             "tokenizer.ggml.padding_token_id"}
    assert not unexpected, f"TinyLlama's GGUF has tokenizer keys this script does not copy: {unexpected}"
    for name, data, qtype in gguf_tensors(model):
        q = quantize(data, qtype)
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return n_params


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def check_file_holds(model):
    """transformers' reading of the GGUF is the trained model's weights through Q8_0, q and k rows included."""
    gm = load_gguf_model()
    want = {name: dequantize(quantize(data, qtype), qtype) for name, data, qtype in gguf_tensors(model)}
    got = gm.state_dict()
    for l in range(LAYERS):
        for g in ("attn_q", "attn_k"):
            # Both permuted the same way: a wrong permutation here would differ from transformers' un-permuted weight.
            assert np.array_equal(permute(got[f"model.layers.{l}.{HF_NAMES[g]}.weight"].numpy(), HEADS), want[f"blk.{l}.{g}.weight"]), g
    assert np.array_equal(got["lm_head.weight"].numpy(), want["output.weight"])
    assert np.array_equal(got["model.embed_tokens.weight"].numpy(), want["token_embd.weight"])


def load_gguf_model():
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(os.path.dirname(GGUF_PATH), gguf_file=os.path.basename(GGUF_PATH),
                                                dtype=torch.float32).eval()


def reference():
    """What the GGUF holds, run forward in float64: per-layer ‖resid_post.L‖ and the last position's entropy."""
    from transformers import AutoTokenizer
    model = load_gguf_model().double()
    assert model.config.tie_word_embeddings is False and model.config.num_hidden_layers == LAYERS
    tok = AutoTokenizer.from_pretrained(os.path.dirname(GGUF_PATH), gguf_file=os.path.basename(GGUF_PATH))
    out = []
    for source, prompt in PROMPTS:
        ids = tok(prompt)["input_ids"]
        if ids[:1] != [1]:
            ids = [1] + ids  # llama.cpp adds BOS (no add_bos_token key); transformers' GGUF tokenizer may leave it out
        norms = {}
        hooks = [layer.register_forward_hook(lambda m, a, o, i=i: norms.__setitem__(i, (o[0] if isinstance(o, tuple) else o).norm().item()))
                 for i, layer in enumerate(model.model.layers)]
        with torch.no_grad():
            last = model(input_ids=torch.tensor([ids])).logits[0, -1]
        for h in hooks:
            h.remove()
        p = torch.softmax(last, dim=0)
        out.append({"source": source, "prompt": prompt, "input_ids": ids, "norms": [norms[i] for i in range(LAYERS)],
                    "entropy": -(p * torch.log(p + 1e-10)).sum().item()})
    os.makedirs(os.path.dirname(REFERENCE_JSON), exist_ok=True)
    json.dump({"model": os.path.relpath(GGUF_PATH, ROOT), "sha256": sha256(GGUF_PATH), "dtype": "float64",
               "how": "transformers' GGUF loader (gguf-py dequantisation) in float64, forward hooks on each decoder layer",
               "prompts": out, "versions": versions()}, open(REFERENCE_JSON, "w"), indent=1)
    print(f"wrote {REFERENCE_JSON}: {[(o['source'], len(o['input_ids']), round(o['entropy'], 4)) for o in out]}")


def versions():
    return {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__,
            "gguf": getattr(gguf, "__version__", None) or __import__("importlib.metadata").metadata.version("gguf"),
            "python": platform.python_version()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference-only", action="store_true", help="only the reference, from the GGUF as it is")
    ap.add_argument("--steps", type=int, default=STEPS, help="fewer steps to time a run (nothing is written)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.reference_only:
        return reference()
    meta, ids = load_tokens()
    model, curve, held_curve, wall = train(meta, ids, args.steps)
    if args.steps != STEPS:
        return print(f"{args.steps} steps in {wall:.1f} s: {wall / args.steps:.2f} s a step; nothing written")
    t0 = time.time()
    held = mean_loss(model, ids["heldout"], tiles(meta, "heldout"))
    train_tiles = tiles(meta, "training")
    train_eval = mean_loss(model, ids["training"], train_tiles[np.linspace(0, len(train_tiles) - 1, 600).astype(int)])
    print(f"held-out loss {held:.4f} (perplexity {math.exp(held):.1f}); training texts {train_eval:.4f} ({time.time() - t0:.0f} s)")
    seen = STEPS * BATCH * SEQ
    split = (f"training: {meta['totals']['training']} tokens of the 395 training texts; held out: the first of every five texts "
             f"of each genre in id order (105 texts, {meta['totals']['heldout']} tokens), never trained on (probes/corpus.ts)")
    provenance = {
        "corpus": meta["corpus"], "split": split,
        "description": (f"A {LAYERS}-layer Llama (d {D}, {HEADS} heads, MLP {HIDDEN}, untied) trained from scratch in float32 on the "
                        f"Brown corpus ({meta['corpus']}) with TinyLlama's 32000-token vocabulary: {STEPS} AdamW steps of {BATCH}×{SEQ} "
                        f"tokens ({seen} tokens seen), seed {SEED}, {wall / 60:.1f} min on {torch.get_num_threads()} CPU threads. "
                        f"Held-out loss {held:.3f} nats/token. Made by: {COMMAND}"),
        "training": {"seed": SEED, "steps": STEPS, "batch": BATCH, "sequence": SEQ, "tokens_seen": seen,
                     "learning_rate": LR, "wall_seconds": round(wall, 1), "train_loss": curve[-1]["train_loss"],
                     "heldout_loss": held, "command": COMMAND},
    }
    n_params = write_gguf(model, provenance)
    check_file_holds(model)
    size = os.path.getsize(GGUF_PATH)
    json.dump({
        "model": os.path.relpath(GGUF_PATH, ROOT), "sha256": sha256(GGUF_PATH), "bytes": size, "parameters": n_params,
        "architecture": {"layers": LAYERS, "d_model": D, "heads": HEADS, "kv_heads": HEADS, "mlp": HIDDEN, "vocab": VOCAB,
                         "context": SEQ, "rms_norm_eps": EPS, "rope_theta": ROPE_THETA, "tied_embeddings": False,
                         "weights": "Q8_0 matrices, F32 norms"},
        "budget": {"seed": SEED, "steps": STEPS, "batch": BATCH, "sequence": SEQ, "tokens_seen": seen, "warmup_steps": WARMUP,
                   "learning_rate": LR, "learning_rate_min": LR_MIN, "weight_decay": WEIGHT_DECAY, "grad_clip": CLIP,
                   "optimizer": "AdamW (0.9, 0.95)", "threads": torch.get_num_threads(), "wall_seconds": round(wall, 1)},
        "corpus": meta["corpus"], "split": split, "tokenizer": f"{meta['tokenizer']} (sha256 of tokenizer.json {meta['tokenizerSha256']})",
        "final": {"train_loss_last_steps": curve[-1]["train_loss"], "heldout_loss": held, "heldout_perplexity": math.exp(held),
                  "training_texts_loss": train_eval, "heldout_tokens": int(len(tiles(meta, "heldout")) * SEQ)},
        "curve": curve, "heldout_subset_curve": held_curve, "command": COMMAND, "versions": versions(),
        "machine": platform.processor() or platform.machine(),
    }, open(TRAINING_JSON, "w"), indent=1)
    print(f"wrote {GGUF_PATH} ({size} bytes, {n_params} parameters) and {TRAINING_JSON}")
    reference()


if __name__ == "__main__":
    main()
