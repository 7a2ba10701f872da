"""Reference dequantisations for test/gguf.test.ts, by the gguf package (gguf-py).

For each block format probespec reads: random blocks (every byte random, the
float16 scale fields set to random finite values), and, given a GGUF file,
the first blocks of each of its tensors' formats. Written to
test/fixtures/gguf/blocks.json as base64: the raw blocks and the float32 values
gguf.quants.dequantize gives for them.

  python tools/gguf_reference.py [tinyllama.gguf]
"""
import base64, json, os, sys
import numpy as np
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "gguf", "blocks.json")
# Byte offsets of float16 scales in each block (ggml-common.h): random bits there could be inf or NaN.
HALVES = {T.F16: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.Q2_K: [80, 82], T.Q3_K: [108],
          T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208], T.IQ2_XXS: [0]}
TYPES = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.IQ2_XXS]


def case(t, raw, source):
    per, size = GGML_QUANT_SIZES[t]
    values = dequantize(raw, t).astype(np.float32).reshape(-1)
    return {"type": t.name, "id": int(t.value), "source": source, "count": int(values.size),
            "raw": base64.b64encode(raw.tobytes()).decode(), "expected": base64.b64encode(values.tobytes()).decode()}


def main():
    rng = np.random.default_rng(7)
    cases = []
    for t in TYPES:
        per, size = GGML_QUANT_SIZES[t]
        n = 64 if per == 1 else 6
        raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
        if t == T.F32:
            raw = rng.standard_normal(n).astype(np.float32).view(np.uint8).reshape(n, 4)
        if t == T.BF16:
            raw = (rng.standard_normal(n).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(n, 2)
        for at in HALVES.get(t, []):
            raw[:, at:at + 2] = (rng.standard_normal(n) * 0.05).astype(np.float16).view(np.uint8).reshape(n, 2)
        cases.append(case(t, raw, "random"))
    if len(sys.argv) > 1:
        r = GGUFReader(sys.argv[1])
        seen = set()
        for tensor in r.tensors:
            if tensor.tensor_type in seen:
                continue
            seen.add(tensor.tensor_type)
            per, size = GGML_QUANT_SIZES[tensor.tensor_type]
            blocks = 4 if per > 1 else 256
            raw = np.asarray(tensor.data).reshape(-1).view(np.uint8)[: blocks * size].reshape(blocks, size)
            cases.append(case(tensor.tensor_type, raw, f"{os.path.basename(sys.argv[1])}: {tensor.name}"))
    json.dump(cases, open(OUT, "w"))
    print(OUT, len(cases), "cases")


if __name__ == "__main__":
    main()
