"""A Mistral-7B-shaped Q4_0 GGUF (4.08 GB) whose tensor data is a sparse hole (all-zero blocks, taking no disk):
the header, metadata and tensor layout are real, written by the gguf package. It checks that a GGUF over 4 GB
converts (#25); its weights are all zero, so it says nothing of numbers.

  .venv/bin/python tools/make_sparse_mistral_gguf.py /tmp/mistral-q4_0.gguf
"""
import os, sys, numpy as np, gguf
from gguf.constants import GGMLQuantizationType as T
out = sys.argv[1]
D, L, H, KV, HID, V = 4096, 32, 32, 8, 14336, 32000
w = gguf.GGUFWriter(out, "llama")
w.add_context_length(32768); w.add_embedding_length(D); w.add_block_count(L); w.add_feed_forward_length(HID)
w.add_head_count(H); w.add_head_count_kv(KV); w.add_rope_freq_base(1e6); w.add_layer_norm_rms_eps(1e-5)
w.add_rope_dimension_count(D // H)
toks = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)] + [f"t{i}" for i in range(V - 259)]
w.add_tokenizer_model("llama"); w.add_token_list(toks); w.add_token_scores([0.0] * V)
w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (V - 259))
w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
def q40(name, rows, cols):  # numpy shape (rows, cols) as the writer takes it
    w.add_tensor_info(name, (rows, cols * 18 // 32), np.dtype(np.uint8), rows * cols // 32 * 18, raw_dtype=T.Q4_0)
def f32(name, n):
    w.add_tensor_info(name, (n,), np.dtype(np.float32), n * 4)
q40("token_embd.weight", V, D); f32("output_norm.weight", D); q40("output.weight", V, D)
for l in range(L):
    f32(f"blk.{l}.attn_norm.weight", D); f32(f"blk.{l}.ffn_norm.weight", D)
    q40(f"blk.{l}.attn_q.weight", D, D); q40(f"blk.{l}.attn_k.weight", KV * 128, D); q40(f"blk.{l}.attn_v.weight", KV * 128, D)
    q40(f"blk.{l}.attn_output.weight", D, D); q40(f"blk.{l}.ffn_gate.weight", HID, D); q40(f"blk.{l}.ffn_up.weight", HID, D)
    q40(f"blk.{l}.ffn_down.weight", D, HID)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file()
w.close()
start = -(-os.path.getsize(out) // 32) * 32  # the data section begins at the alignment
sizes = [int(ti.nbytes) for ti in w.tensors[0].values()]
total = start + sum(n + (-n) % 32 for n in sizes[:-1]) + sizes[-1]
with open(out, "r+b") as f: f.truncate(total)
print(out, total)
