"""A Mistral-7B-shaped GGUF in Q4_0 with random weights at HF's initialisation (#25's 7B case).

Every Linear and the embedding are normal(0, initializer_range = 0.02) as MistralPreTrainedModel
initialises them, the RMSNorm gains 1; each is quantised to Q4_0 by the gguf package (ggml's
reference quantiser), the lm_head too (one type throughout, as `gguf` writes it). The vocabulary
is TinyLlama's (Llama 2's 32000-token sentencepiece model, Mistral's size), so prompts tokenise
into words rather than bytes. Written a tensor at a time (the file is 4.1 GB; no float32 copy of
the model is ever held); a file already there with the right size is kept.

  .venv/bin/python tools/make_mistral7b_gguf.py OUT.gguf TINYLLAMA_PART1 TINYLLAMA_PART2
"""
import os, shutil, sys, tempfile
import numpy as np
import gguf
from gguf.constants import GGMLQuantizationType as T
from gguf.quants import quantize

D, L, H, KV, HID, V, HD = 4096, 32, 32, 8, 14336, 32000, 128
STD = 0.02  # MistralConfig.initializer_range


def vocabulary(parts):
    with tempfile.TemporaryDirectory() as tmp:
        joined = os.path.join(tmp, "tinyllama.gguf")
        with open(joined, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out)
        r = gguf.GGUFReader(joined)
        field = lambda k: r.fields[k]
        tokens = [bytes(field("tokenizer.ggml.tokens").parts[i]).decode("utf-8") for i in field("tokenizer.ggml.tokens").data]
        scores = [float(field("tokenizer.ggml.scores").parts[i][0]) for i in field("tokenizer.ggml.scores").data]
        types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
    assert len(tokens) == V, len(tokens)
    return tokens, scores, types


def main():
    out, parts = sys.argv[1], sys.argv[2:]
    tensors = [("token_embd.weight", (V, D)), ("output_norm.weight", (D,)), ("output.weight", (V, D))]
    for l in range(L):
        tensors += [(f"blk.{l}.attn_norm.weight", (D,)), (f"blk.{l}.ffn_norm.weight", (D,)),
                    (f"blk.{l}.attn_q.weight", (H * HD, D)), (f"blk.{l}.attn_k.weight", (KV * HD, D)),
                    (f"blk.{l}.attn_v.weight", (KV * HD, D)), (f"blk.{l}.attn_output.weight", (D, H * HD)),
                    (f"blk.{l}.ffn_gate.weight", (HID, D)), (f"blk.{l}.ffn_up.weight", (HID, D)),
                    (f"blk.{l}.ffn_down.weight", (D, HID))]
    nbytes = lambda shape: shape[0] * 4 if len(shape) == 1 else shape[0] * shape[1] // 32 * 18
    w = gguf.GGUFWriter(out + ".tmp", "llama")
    w.add_name("mistral-7b-shaped-random-q4_0")
    w.add_context_length(32768); w.add_embedding_length(D); w.add_block_count(L); w.add_feed_forward_length(HID)
    w.add_head_count(H); w.add_head_count_kv(KV); w.add_rope_freq_base(1e6); w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(HD)
    tokens, scores, types = vocabulary(parts)
    w.add_tokenizer_model("llama"); w.add_token_list(tokens); w.add_token_scores(scores); w.add_token_types(types)
    w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
    for name, shape in tensors:
        if len(shape) == 1:
            w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes(shape))
        else:  # the writer takes a block format's shape as its bytes per row
            w.add_tensor_info(name, (shape[0], shape[1] // 32 * 18), np.dtype(np.uint8), nbytes(shape), raw_dtype=T.Q4_0)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file()
    w.close()
    total = -(-os.path.getsize(out + ".tmp") // 32) * 32 + sum(-(-nbytes(s) // 32) * 32 for _, s in tensors)
    if os.path.exists(out) and os.path.getsize(out) == total:
        os.remove(out + ".tmp"); print(out, "kept"); return
    rng = np.random.default_rng(25)
    with open(out + ".tmp", "r+b") as f:
        f.seek(-(-os.path.getsize(out + ".tmp") // 32) * 32)
        for i, (name, shape) in enumerate(tensors):
            if len(shape) == 1:
                data = np.ones(shape, np.float32).tobytes()
            else:
                rows = max(1, (1 << 24) // shape[1])  # 64 MB of float32 at a time
                data = b"".join(quantize(rng.standard_normal((min(rows, shape[0] - r), shape[1]), dtype=np.float32) * np.float32(STD), T.Q4_0).tobytes()
                                for r in range(0, shape[0], rows))
            assert len(data) == nbytes(shape), name
            f.write(data + b"\0" * ((-len(data)) % 32))
            if i % 9 == 2: print(name, flush=True)
    assert os.path.getsize(out + ".tmp") == total
    os.replace(out + ".tmp", out)
    print(out, total)


if __name__ == "__main__":
    main()
