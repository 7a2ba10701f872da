"""A Llama 3-style GGUF made the real way: llama.cpp's own convert_hf_to_gguf.py run on a transformers checkpoint.

The checkpoint is a tiny LlamaForCausalLM (random weights, seed 3303, GQA, tied embeddings) with Llama 3's rope
scaling (rope_type "llama3": factor 8, low_freq_factor 1, high_freq_factor 4, theta 5e5; original_max_position_embeddings
256 where Llama 3 has 8192, so that at head dim 8 its four rotary pairs fall in all three of the scaling's bands, kept,
blended and slowed, and the scaling moves a short prompt's numbers well past the tests' tolerance), and a
byte-level BPE tokenizer trained here with the `tokenizers` library, as Llama 3's tokenizer.json is built: Llama 3's
split regex, ByteLevel without its own regex, ignore_merges, <|begin_of_text|> prepended by a TemplateProcessing.

The converter writes the rope scaling as the tensor `rope_freqs.weight` (a divisor per rotary pair) and the tokenizer
as tokenizer.ggml.model "gpt2" with tokenizer.ggml.pre "llama-bpe". Two run-time shims stand in for what a current
llama.cpp does and this converter's version does not; neither edits its code:
  - transformers 5 keeps rope settings in rope_parameters; the converter reads rope_scaling and rope_theta (current
    llama.cpp reads rope_parameters), so the loaded hparams carry both spellings;
  - the converter names a BPE pre-tokenizer by a hash of the vocabulary's encoding of a test text, and a new
    vocabulary's hash is registered by convert_hf_to_gguf_update.py; this tokenizer's is registered as "llama-bpe",
    the pre-tokenizer it was built with.

Writes test/fixtures/gguf-llama3/{model.gguf (--outtype f32), q8_0.gguf (--outtype q8_0), reference.json}; the
reference is transformers' float32 forward of the checkpoint converted from (per-layer output norms, last-position
logits), its rotary inv_freq, and AutoTokenizer's ids for each of PROMPTS.

  LLAMA_CPP=/path/to/llama.cpp /work/main/.venv/bin/python tools/make_gguf_llama3_fixture.py

LLAMA_CPP is a folder holding llama.cpp's convert_hf_to_gguf.py and its gguf-py/ (the gguf package it was written
with); the run's converter version is recorded in the reference.
"""
import hashlib, json, os, shutil, subprocess, sys, tempfile, warnings
import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import PROMPT, notebook_numbers  # noqa: E402

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "gguf-llama3")
D, LAYERS, HEADS, KV, HIDDEN, VOCAB_MERGES = 32, 2, 4, 2, 64, 400
ROPE = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 256}
# Llama 3's tokenizer.json split regex, as Meta ships it.
LLAMA3_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
# Prompts whose ids the converted tokenizer must reproduce: ASCII, contractions in both cases, accents, digit runs,
# whitespace runs and newlines, emoji and CJK (bytes the vocabulary never merged).
PROMPTS = [
    PROMPT,
    "Hello, World! I'm sure you'll see; DON'T PANIC, we'RE fine.",
    "Café naïve résumé, über façade: ça va?",
    "In 2024, 1234567 people paid $3.50 (or 12.75%) each.",
    "tabs\tand   spaces\n\nnew  lines   \n   end",
    "emoji 🦙🔥 and 中文, déjà vu!!",
]
CORPUS = """The capital of France is Paris. The capital of Italy is Rome, and the capital of Spain is Madrid.
I'm sure you'll see it; we're fine, they've gone, he'd know, she's here. DON'T PANIC! WE'RE FINE. I'LL GO.
Café, naïve, résumé, über, façade, déjà vu, ça va, señor, crème brûlée, Zürich, São Paulo, Ångström.
In 2024 there were 1234567 people; 12.75% paid $3.50, 2023 saw 987654 and 1999 had 31415926.
def main():\n    return 42\n\n\nclass A:\n\tpass\n
The quick brown fox jumps over the lazy dog. Numbers: 1, 22, 333, 4444, 55555, 666666.
"""


def tokenizer():
    """A Llama 3-shaped byte-level BPE trained on CORPUS; its two specials after the merges, as Llama 3's are."""
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_MERGES, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False, min_frequency=1)
    tok.train_from_iterator([CORPUS] * 4, trainer)
    tok.add_special_tokens([BOS, EOS])
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1", special_tokens=[(BOS, bos)]),
    ])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS)


# Run inside the converter's own process: its module is imported, the two shims applied, then its main().
SHIM = r"""
import importlib.util, sys, types
sys.path.insert(0, sys.argv.pop(1))
if importlib.util.find_spec("sentencepiece") is None:
    # gguf-py imports it at the top; only a sentencepiece vocabulary (none here) uses it.
    import transformers  # noqa: F401  (it looks sentencepiece up first, and must find it absent)
    sys.modules["sentencepiece"] = types.SimpleNamespace(SentencePieceProcessor=None)
import convert_hf_to_gguf as c

load = c.ModelBase.load_hparams
def load_hparams(*a, **k):
    h = load(*a, **k)
    rope = h.get("rope_parameters") or {}
    if rope and not h.get("rope_scaling"):
        h["rope_scaling"] = dict(rope)
        h.setdefault("rope_theta", rope["rope_theta"])
        h.setdefault("original_max_position_embeddings", rope["original_max_position_embeddings"])
    return h
c.ModelBase.load_hparams = staticmethod(load_hparams)

pre = c.TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return pre(self, tokenizer)
    except NotImplementedError:
        return "llama-bpe"
c.TextModel.get_vocab_base_pre = get_vocab_base_pre
c.main()
"""


def main():
    llama_cpp = os.environ.get("LLAMA_CPP")
    if not llama_cpp or not os.path.isfile(os.path.join(llama_cpp, "convert_hf_to_gguf.py")):
        sys.exit("set LLAMA_CPP to a folder holding llama.cpp's convert_hf_to_gguf.py and gguf-py/")
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="llama3-ckpt-")
    ckpt = os.path.join(tmp, "tiny-llama3")
    tok = tokenizer()
    tok.save_pretrained(ckpt)
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=D, intermediate_size=HIDDEN, num_hidden_layers=LAYERS,
                                   num_attention_heads=HEADS, num_key_value_heads=KV, max_position_embeddings=8192,
                                   rms_norm_eps=1e-5, rope_parameters=ROPE, tie_word_embeddings=True,
                                   bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(3303)
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1.0 + 0.1 * torch.randn_like(p) if p.dim() == 1 else torch.randn_like(p) / p.shape[-1] ** 0.5)
    model.save_pretrained(ckpt)
    for outtype, name in [("f32", "model.gguf"), ("q8_0", "q8_0.gguf")]:
        run = subprocess.run([sys.executable, "-c", SHIM, llama_cpp, ckpt, "--outtype", outtype, "--model-name", "probespec tiny llama3", "--outfile", os.path.join(OUT, name)],
                             capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"convert_hf_to_gguf.py --outtype {outtype} failed:\n{run.stderr[-3000:]}")

    # transformers' reading of the checkpoint the GGUF was converted from, in float32.
    model = transformers.AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(ckpt)
    ids = hf_tok(PROMPT)["input_ids"]
    norms = {}
    hooks = [layer.register_forward_hook(lambda m, a, out, i=i: norms.__setitem__(i, (out[0] if isinstance(out, tuple) else out).float().norm().item()))
             for i, layer in enumerate(model.model.layers)]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    for h in hooks:
        h.remove()
    ref = notebook_numbers([norms[i] for i in range(LAYERS)], logits, model.get_output_embeddings().weight, model.get_input_embeddings().weight)
    converter = open(os.path.join(llama_cpp, "convert_hf_to_gguf.py"), "rb").read()
    ref.update({
        "prompt": PROMPT, "input_ids": ids,
        "inv_freq": model.model.rotary_emb.inv_freq.tolist(),
        "rope": ROPE,
        "tokenized": [{"prompt": p, "ids": hf_tok(p)["input_ids"]} for p in PROMPTS],
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "convert_hf_to_gguf.py sha256": hashlib.sha256(converter).hexdigest()},
    })
    json.dump(ref, open(os.path.join(OUT, "reference.json"), "w"), indent=1)
    shutil.rmtree(tmp)
    for name in ["model.gguf", "q8_0.gguf"]:
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")
    for t in ref["tokenized"]:
        print(len(t["ids"]), "ids:", t["prompt"][:40].encode("unicode_escape").decode())


if __name__ == "__main__":
    main()
