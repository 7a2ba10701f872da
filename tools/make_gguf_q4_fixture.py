"""test/fixtures/gguf-llama-q4/{tied,untied}.gguf: the gguf-llama fixture with its embedding (and, untied, an
output.weight copied from it) re-quantised to Q4_0, whose blocks GatherBlockQuantized and MatMulNBits read as
they are. Tests compare their MatMulNBits conversion with their float32 conversion (test/gguf.test.ts).

  .venv/bin/python tools/make_gguf_q4_fixture.py
"""
import os
import numpy as np
import gguf
from gguf.constants import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "test", "fixtures", "gguf-llama", "model.gguf")
OUT = os.path.join(HERE, "..", "test", "fixtures", "gguf-llama-q4")


def main():
    os.makedirs(OUT, exist_ok=True)
    r = gguf.GGUFReader(SRC)
    for tied in (True, False):
        w = gguf.GGUFWriter(os.path.join(OUT, "tied.gguf" if tied else "untied.gguf"), "llama")
        for f in r.fields.values():
            if f.name.startswith("GGUF.") or f.name == "general.architecture":
                continue
            vt = f.types[0]
            if vt == gguf.GGUFValueType.ARRAY:
                w.add_key_value(f.name, f.contents(), vt, sub_type=f.types[-1])
            else:
                w.add_key_value(f.name, f.contents(), vt)
        for t in r.tensors:
            data = np.asarray(t.data)
            shape = [int(x) for x in reversed(t.shape)]
            if t.name == "token_embd.weight":
                emb = dequantize(data, t.tensor_type).reshape(shape)
                q = quantize(emb, T.Q4_0)
                w.add_tensor(t.name, q, raw_dtype=T.Q4_0)
                if not tied:
                    w.add_tensor("output.weight", quantize(emb[::-1].copy(), T.Q4_0), raw_dtype=T.Q4_0)
            else:
                w.add_tensor(t.name, data, raw_shape=data.shape if t.tensor_type in (T.F32, T.F16) else None, raw_dtype=t.tensor_type)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()


if __name__ == "__main__":
    main()
