"""test/fixtures/gguf-llama-q4/{tied,untied,offsets}.gguf: the gguf-llama fixture with its embedding (and, untied,
an output.weight copied from it, rows reversed) re-quantised: Q4_0 (one 4-bit plane, which GatherBlockQuantized
and MatMulNBits read as it is), and for offsets.gguf a Q4_1 embedding (a per-block offset) and a Q5_1 lm_head
(two planes and an offset). Tests compare their MatMulNBits conversion with their float32 conversion
(test/gguf.test.ts).

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
    for name, emb_type, out_type in (("tied", T.Q4_0, None), ("untied", T.Q4_0, T.Q4_0), ("offsets", T.Q4_1, T.Q5_1)):
        w = gguf.GGUFWriter(os.path.join(OUT, f"{name}.gguf"), "llama")
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
                w.add_tensor(t.name, quantize(emb, emb_type), raw_dtype=emb_type)
                if out_type is not None:
                    w.add_tensor("output.weight", quantize(emb[::-1].copy(), out_type), raw_dtype=out_type)
            else:
                w.add_tensor(t.name, data, raw_shape=data.shape if t.tensor_type in (T.F32, T.F16) else None, raw_dtype=t.tensor_type)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()


if __name__ == "__main__":
    main()
