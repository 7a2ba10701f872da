"""A Mistral-7B-shaped bfloat16 checkpoint with random weights at HF's initialisation, to check that the
safetensors source runs a 7B bf16 model in 24 GB (#25): MistralForCausalLM's state_dict names and shapes
(Mistral-7B-v0.1's config), each tensor filled as MistralPreTrainedModel._init_weights fills it (Linear and
Embedding normal(0, initializer_range), RMSNorm ones), in bfloat16, written shard by shard as
save_pretrained lays them out (model-0000k-of-0000n.safetensors and model.safetensors.index.json), so
that no more than one shard is ever in memory. The tokenizer is the checkpoint fixtures' byte-level one
(512 ids, all under the vocabulary). Idempotent: a COMPLETE stamp of this file and the seed; not data to
commit (14.5 GB).

  python tools/make_big_checkpoint.py [OUT] [TOKENIZER_DIR] [LAYERS]

LAYERS (32 by default) makes a shallower model of the same widths: one whose float32 form fits in memory,
so that its logits can be held to the float32 forward of the same weights.
"""
import hashlib, json, os, shutil, sys
import torch
import transformers
from safetensors.torch import save_file

SEED, SHARD = 0, 5 * 10**9
CONFIG = dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
              num_key_value_heads=8, max_position_embeddings=32768, sliding_window=4096, rms_norm_eps=1e-5,
              rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, initializer_range=0.02)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".probespec-cache", "big", "mistral-7b-bf16")
    tok = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, ".probespec-cache", "checkpoints", "mistral-sharded")
    layers = int(sys.argv[3]) if len(sys.argv) > 3 else CONFIG["num_hidden_layers"]
    stamp = hashlib.sha256(open(__file__, "rb").read() + str(layers).encode()).hexdigest()[:16]
    if open(os.path.join(out, "COMPLETE")).read().strip() == stamp if os.path.exists(os.path.join(out, "COMPLETE")) else False:
        print(f"big checkpoint: up to date in {out}")
        return
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(out)) if os.path.exists(os.path.dirname(os.path.abspath(out))) else root).free
    if free < 26 * 10**9 * layers / 32 + 2 * 10**9:
        sys.exit(f"big checkpoint: {free / 1e9:.1f} GB free; 14.5 GB of checkpoint and 14.5 GB of its conversion need more")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    config = transformers.MistralConfig(**{**CONFIG, "num_hidden_layers": layers})
    with torch.device("meta"):
        model = transformers.MistralForCausalLM(config)
    shapes = [(n, tuple(p.shape)) for n, p in model.state_dict().items()]
    torch.manual_seed(SEED)
    # Shards of at most SHARD bytes, in state_dict order, as save_pretrained's split does.
    shards, cur, size = [], [], 0
    for n, s in shapes:
        b = 2 * int(torch.tensor(s).prod()) if s else 2
        if cur and size + b > SHARD:
            shards.append(cur)
            cur, size = [], 0
        cur.append((n, s))
        size += b
    shards.append(cur)
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        name = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for n, s in shard:
            if n.endswith("norm.weight"):
                tensors[n] = torch.ones(s, dtype=torch.bfloat16)
            else:
                tensors[n] = torch.empty(s, dtype=torch.bfloat16).normal_(0.0, config.initializer_range)
            weight_map[n] = name
            total += tensors[n].numel() * 2
        save_file(tensors, os.path.join(out, name), metadata={"format": "pt"})
        del tensors
        print(f"{name}: {len(shard)} tensors", flush=True)
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
              open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)
    config.dtype = torch.bfloat16
    config.save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tok, f), os.path.join(out, f))
    open(os.path.join(out, "COMPLETE"), "w").write(stamp)
    print(f"big checkpoint: {total / 1e9:.2f} GB of bfloat16 weights in {out}")


if __name__ == "__main__":
    main()
