"""GGUFs of more architectures, made the real way: llama.cpp's own convert_hf_to_gguf.py run on transformers checkpoints.

Each checkpoint is the one tools/make_checkpoints.py builds for its model type (its config from TYPES, its weights from
build(): the same seed, the same norms and biases moved off their init; the attention's q, k (and fused) projections
scaled by ATTN_GAIN), saved by save_pretrained, with:
  - a byte-level BPE tokenizer trained here with the `tokenizers` library where the architecture's own vocabulary is
    byte-level (qwen2 and qwen3: Qwen2's split regex, digits one by one; gpt2 and gpt_neox: GPT-2's ByteLevel regex),
    512 tokens as the config's vocab_size;
  - make_checkpoints.py's own tokenizer.json (a sentencepiece-shaped BPE with byte fallback) where it is sentencepiece
    (phi3), and for the Gemmas (gemma, gemma2, gemma3_text) the same vocabulary shaped as Gemma's is: <pad>, <eos>,
    <bos>, <unk>, <mask> at 0-4, spaces as ▁ with no ▁ prefixed (HF's GemmaTokenizer; the converter writes add_space_prefix
    false).
gemma2's query_pre_attn_scalar is its head_dim (32, where make_checkpoints.py has 24): a GGUF carries no such key, and
llama.cpp scales gemma2's scores by key_length^-1/2 (but for its 27B). gemma3_text is built as llama.cpp reads a Gemma 3
GGUF, which says neither which layers slide nor their RoPE base: six layers, every 6th full (the last), the sliding
layers' base 10000 and query_pre_attn_scalar its head_dim; the full layers' base (1e6) scaled linearly by 4.

Run-time shims, none editing the converter's code:
  - transformers 5 keeps rope settings in rope_parameters (Gemma 3's keyed by layer type: the full layers' are the
    model's); this converter reads rope_theta, rope_scaling, partial_rotary_factor and (GPT-NeoX) rotary_pct at the top
    level, and GPT-2's n_ctx (GPT2Config's n_positions): the loaded hparams carry both spellings, as current llama.cpp
    reads them;
  - a BPE vocabulary's pre-tokenizer is named by a hash registered by convert_hf_to_gguf_update.py; these new
    vocabularies are registered as the pre-tokenizer each was built with ("qwen2", "gpt-2");
  - the Gemmas and phi3 read a sentencepiece tokenizer.model (sentencepiece is not installed here, and these
    checkpoints ship tokenizer.json): the pieces, scores and types come from the converter's own LlamaHfVocab, the
    reader LlamaModel takes for a tokenizer.json, in place of _create_vocab_sentencepiece (so that the Gemmas' own
    set_vocab runs, add_space_prefix and all); phi3's set_vocab, which opens tokenizer.model itself, is
    _set_vocab_llama_hf, which writes the same pieces as tokenizer.ggml.model "llama" with scores.

Writes test/fixtures/gguf-archs/<id>.gguf (--outtype f32; an id is a model type, or a variant of make_checkpoints.py's
VARIANTS), <id>-q8_0.gguf for each of Q8 (--outtype q8_0) and reference.json: per id, transformers' float32 forward of
the checkpoint converted from (per-layer output norms, last-position logits and their statistics) on FORWARD,
AutoTokenizer's ids for each of PROMPTS; for a q8_0 file, transformers' own GGUF loader's forward. Ids named on the
command line are made alone, the other files and references kept.

  LLAMA_CPP=/path/to/llama.cpp /work/main/.venv/bin/python tools/make_gguf_archs_fixture.py [ID ...]

LLAMA_CPP is a folder holding llama.cpp's convert_hf_to_gguf.py and its gguf-py/; the converter's sha256 is recorded.
"""
import hashlib, json, os, re, shutil, subprocess, sys, tempfile, warnings
import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_checkpoints  # noqa: E402
from make_fixtures import byte_vocab, notebook_numbers, tokenizer_json  # noqa: E402
from make_gguf_llama3_fixture import CORPUS, PROMPTS as LLAMA3_PROMPTS  # noqa: E402

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "gguf-archs")
VOCAB = make_checkpoints.VOCAB
QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
# type -> (its vocabulary, the pre-tokenizer name its BPE hash is registered as)
ARCHS = {
    "qwen2": ("qwen2", "qwen2"),
    "qwen3": ("qwen2", "qwen2"),
    "gemma": ("gemma", None),
    "gemma2": ("gemma", None),
    "gemma3_text": ("gemma", None),
    "phi3": ("sentencepiece", None),
    "gpt_neox": ("gpt-2", "gpt-2"),
    "gpt2": ("gpt-2", "gpt-2"),
    "olmo2": ("gpt-2", "gpt-2"),
    # phi-2's and StableLM 2's pre-tokenizers, as llama.cpp names their hashes: GPT-2's regex, and Qwen2's.
    "phi": ("gpt-2", "phi-2"),
    "stablelm": ("qwen2", "stablelm2"),
    "stablelm-parallel": ("qwen2", "stablelm2"),
}
# Gemma's special tokens, where Llama's are <unk>, <s>, </s> at 0-2 (GemmaTokenizer adds a <mask> where it finds none).
GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
# Also written --outtype q8_0, each with transformers' own GGUF loader's forward as its reference.
Q8 = ("qwen2", "stablelm")
# What Phi2Model writes whatever the config says (feed_forward_length 4 × n_embd, head_count_kv n_head), and llama.cpp's
# loader shapes the tensors by: the checkpoint is built so, as phi-1, phi-1.5 and phi-2 are.
GGUF_SHAPE = {"phi": dict(intermediate_size=4 * make_checkpoints.D, num_key_value_heads=make_checkpoints.HEADS)}
# The Llama 3 fixture's corpus, and its first five prompts (the notebook's first).
PROMPTS = LLAMA3_PROMPTS[:5]
EOT = "<|endoftext|>"
# The attention's input projections scaled up from transformers' init (std 0.02, under which every head attends almost
# evenly): with scores of order 1 the rotary's and the scores' quirks move the numbers well past the tolerance.
ATTN_INPUT = re.compile(r"\.(q_proj|k_proj|qkv_proj|query_key_value|c_attn)\.weight$")
ATTN_GAIN = 8.0
# The forward's prompt: long enough (26 to 51 tokens, within the 64 of the windowed types) that the rotary and the
# attention's quirks move the numbers well past the tolerance.
FORWARD = PROMPTS[1]


def byte_level(kind):
    """A byte-level BPE of VOCAB tokens, no BOS: its merges, then <|endoftext|> and specials to fill (as Qwen2's are)."""
    tok = Tokenizer(models.BPE())
    split = (pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
                                      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
             if kind == "qwen2" else pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    tok.pre_tokenizer = split
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - 1, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False, min_frequency=1)
    tok.train_from_iterator([CORPUS] * 4, trainer)
    tok.add_special_tokens([EOT] + [f"<|extra_{i}|>" for i in range(VOCAB - 1 - tok.get_vocab_size())])
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOT)


# Run inside the converter's own process: its module imported, the shims applied, then its main().
SHIM = r"""
import importlib.util, sys, types
sys.path.insert(0, sys.argv.pop(1))
pre_name = sys.argv.pop(1)
if importlib.util.find_spec("sentencepiece") is None:
    import transformers  # noqa: F401  (it looks sentencepiece up first, and must find it absent)
    sys.modules["sentencepiece"] = types.SimpleNamespace(SentencePieceProcessor=None)
import convert_hf_to_gguf as c

load = c.ModelBase.load_hparams
def load_hparams(*a, **k):
    h = load(*a, **k)
    rope = h.get("rope_parameters") or {}
    rope = rope.get("full_attention", rope)
    h.setdefault("rope_theta", rope.get("rope_theta", 10000.0))
    if "partial_rotary_factor" in rope:
        h.setdefault("partial_rotary_factor", rope["partial_rotary_factor"])
        h.setdefault("rotary_pct", rope["partial_rotary_factor"])
    if rope.get("rope_type", "default") != "default" and not h.get("rope_scaling"):
        h["rope_scaling"] = dict(rope)
    if "n_positions" in h:
        h.setdefault("n_ctx", h["n_positions"])
    return h
c.ModelBase.load_hparams = staticmethod(load_hparams)

pre = c.TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return pre(self, tokenizer)
    except NotImplementedError:
        return pre_name
c.TextModel.get_vocab_base_pre = get_vocab_base_pre
def create_vocab_sentencepiece(self):
    tokens, scores, types = zip(*c.gguf.LlamaHfVocab(self.dir_model).all_tokens())
    return list(tokens), list(scores), list(types)
c.TextModel._create_vocab_sentencepiece = create_vocab_sentencepiece
c.Phi3MiniModel.set_vocab = lambda self: self._set_vocab_llama_hf()
c.main()
"""


def build(model_type):
    cfg = (make_checkpoints.VARIANTS[model_type][1] if model_type in make_checkpoints.VARIANTS
           else make_checkpoints.TYPES[model_type])()
    for k, v in GGUF_SHAPE.get(model_type, {}).items():
        setattr(cfg, k, v)
    if model_type == "gemma2":
        cfg.query_pre_attn_scalar = cfg.head_dim
    if model_type == "gemma3_text":
        cfg = transformers.Gemma3TextConfig(
            **{**make_checkpoints.COMMON, "num_hidden_layers": 6}, num_key_value_heads=make_checkpoints.KV, head_dim=32,
            query_pre_attn_scalar=32, sliding_window=64, sliding_window_pattern=6,
            rope_parameters={"full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1000000.0},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
    if model_type in make_checkpoints.VARIANTS:
        make_checkpoints.VARIANTS[model_type] = (make_checkpoints.VARIANTS[model_type][0], lambda: cfg)
    else:
        make_checkpoints.TYPES[model_type] = lambda: cfg
    model = make_checkpoints.build(model_type)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ATTN_INPUT.search(name):
                p.mul_(ATTN_GAIN)
    return model


def gemma_tokenizer(ckpt):
    """make_fixtures.py's vocabulary and merges with Gemma's specials and tokenizer.json (as HF's GemmaConverter writes
    it: no Prepend normalizer, no Strip decoder, <bos> prepended)."""
    v, merges = byte_vocab()
    v = GEMMA_SPECIALS + [t for t in v[3:] if not t.startswith("<unused_")]
    v += ["<unused_%d>" % i for i in range(len(v), VOCAB)]
    j = tokenizer_json(v, merges)
    j["added_tokens"] = [{**j["added_tokens"][0], "id": i, "content": t} for i, t in enumerate(GEMMA_SPECIALS)]
    j["normalizer"] = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
    bos = [{"SpecialToken": {"id": "<bos>", "type_id": 0}}]
    j["post_processor"] = {"type": "TemplateProcessing", "single": bos + [{"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": bos + [{"Sequence": {"id": "A", "type_id": 0}},
                                          {"SpecialToken": {"id": "<bos>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}}
    j["decoder"]["decoders"] = j["decoder"]["decoders"][:3]
    json.dump(j, open(os.path.join(ckpt, "tokenizer.json"), "w"))
    json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<bos>", "eos_token": "<eos>",
               "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>", "model_max_length": make_checkpoints.MAXPOS,
               "tokenizer_class": "GemmaTokenizer"}, open(os.path.join(ckpt, "tokenizer_config.json"), "w"))


def forward(model, ids):
    """Per-layer output norms (float64, as make_checkpoints.py's reference) and the logits, in float32."""
    base = getattr(model, model.base_model_prefix)
    outs = []
    hooks = [layer.register_forward_hook(lambda m, i, o: outs.append((o[0] if isinstance(o, tuple) else o).detach()))
             for layer in getattr(base, "layers", None) or base.h]
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False).logits
    for h in hooks:
        h.remove()
    ref = notebook_numbers([torch.linalg.norm(o.double()).item() for o in outs], logits)
    return {k: ref[k] for k in ["norms", "entropy", "logits_last_token"]}


def convert(llama_cpp, ckpt, pre_name, outtype, out):
    run = subprocess.run([sys.executable, "-c", SHIM, llama_cpp, pre_name or "default", ckpt, "--outtype", outtype,
                          "--model-name", f"probespec tiny {os.path.basename(ckpt)}", "--outfile", out],
                         capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"convert_hf_to_gguf.py {ckpt} --outtype {outtype} failed:\n{run.stderr[-3000:]}")


def main():
    llama_cpp = os.environ.get("LLAMA_CPP")
    if not llama_cpp or not os.path.isfile(os.path.join(llama_cpp, "convert_hf_to_gguf.py")):
        sys.exit("set LLAMA_CPP to a folder holding llama.cpp's convert_hf_to_gguf.py and gguf-py/")
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="gguf-archs-")
    # Only the ids named on the command line, where some are: the others' files and references are kept as they are.
    only = sys.argv[1:]
    unknown = [a for a in only if a not in ARCHS]
    if unknown:
        sys.exit(f"not a fixture of this tool: {unknown} (it makes {list(ARCHS)})")
    ref_file = os.path.join(OUT, "reference.json")
    refs = json.load(open(ref_file)) if only else {}
    refs.pop("versions", None)
    for model_type, (vocab, pre_name) in ARCHS.items():
        if only and model_type not in only:
            continue
        ckpt = os.path.join(tmp, model_type)
        build(model_type).save_pretrained(ckpt)
        if vocab == "gemma":
            gemma_tokenizer(ckpt)
        elif vocab == "sentencepiece":
            v, merges = byte_vocab()
            json.dump(tokenizer_json(v, merges), open(os.path.join(ckpt, "tokenizer.json"), "w"))
            json.dump({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                       "model_max_length": make_checkpoints.MAXPOS, "tokenizer_class": "LlamaTokenizerFast"},
                      open(os.path.join(ckpt, "tokenizer_config.json"), "w"))
        else:
            byte_level(vocab).save_pretrained(ckpt)
        convert(llama_cpp, ckpt, pre_name, "f32", os.path.join(OUT, f"{model_type}.gguf"))
        model = transformers.AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="eager").eval()
        tok = transformers.AutoTokenizer.from_pretrained(ckpt)
        ids = tok(FORWARD)["input_ids"]
        refs[model_type] = {"prompt": FORWARD, "input_ids": ids, **forward(model, ids),
                            "tokenized": [{"prompt": p, "ids": tok(p)["input_ids"]} for p in PROMPTS]}
        if model_type in Q8:
            name = f"{model_type}-q8_0.gguf"
            convert(llama_cpp, ckpt, pre_name, "q8_0", os.path.join(OUT, name))
            # transformers' own GGUF loader: the Q8_0 blocks dequantised into the type's *ForCausalLM.
            q8 = transformers.AutoModelForCausalLM.from_pretrained(OUT, gguf_file=name, dtype=torch.float32,
                                                                  attn_implementation="eager").eval()
            refs[name.removesuffix(".gguf")] = {"prompt": FORWARD, "input_ids": ids, **forward(q8, ids)}
        print(model_type, os.path.getsize(os.path.join(OUT, f"{model_type}.gguf")), "bytes", flush=True)
    converter = open(os.path.join(llama_cpp, "convert_hf_to_gguf.py"), "rb").read()
    refs["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                        "convert_hf_to_gguf.py sha256": hashlib.sha256(converter).hexdigest()}
    json.dump(refs, open(ref_file, "w"), indent=1)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
