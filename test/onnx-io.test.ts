import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import fc from "fast-check";
import { StringStringEntryProtoSchema, TensorProtoSchema, TensorProto_DataType as DT } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { buildAnalog } from "../models/analogs/build.js";
import { decodeModel, encodeModel, makeDir, readModel } from "../onnx/io.js";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import {
  bf16ToFloat,
  checkExternalData,
  halfToFloat,
  resolveExternalPath,
  toFloat32,
  toInts,
  int64ToNumber,
} from "../onnx/tensor.js";
import { CONFORMANCE, conformance, HAS_CONFORMANCE, TEST_CACHE, tmpDir } from "./helpers.js";

/** An independent float16 decoder: build the binary64 bit pattern, then read it as a double. */
function halfViaFloat64Bits(h: number): number {
  const sign = BigInt(h >> 15),
    exp = (h >> 10) & 31,
    frac = BigInt(h & 0x3ff);
  const dv = new DataView(new ArrayBuffer(8));
  if (exp === 0) return ((h >> 15 ? -1 : 1) * Number(frac)) / 16777216; // subnormal: frac · 2^-24, exact
  const e64 = exp === 31 ? 2047n : BigInt(exp - 15 + 1023);
  dv.setBigUint64(0, (sign << 63n) | (e64 << 52n) | (frac << 42n));
  return dv.getFloat64(0);
}

describe("ONNX reading and writing", () => {
  it.skipIf(!HAS_CONFORMANCE)(
    conformance("re-encodes ONNX Runtime's transformers-optimizer export byte for byte"),
    () => {
      const bytes = fs.readFileSync(path.join(CONFORMANCE, "ort-gpt2-tiny-random/past.onnx"));
      expect(Buffer.compare(Buffer.from(encodeModel(decodeModel(bytes))), bytes)).toBe(0);
    },
  );

  it("re-encodes generated TorchScript- and GenAI-dialect exports byte for byte", async () => {
    for (const dialect of ["torchscript", "genai"] as const) {
      const dir = await buildAnalog({ analog: "llama", dialect, int4: dialect === "genai" }, TEST_CACHE);
      const bytes = fs.readFileSync(path.join(dir, "model.onnx"));
      expect(Buffer.compare(Buffer.from(encodeModel(decodeModel(bytes))), bytes)).toBe(0);
    }
  });

  it("keeps NodeProto.metadata_props (dynamo exports' module scopes) through a round trip", async () => {
    const bytes = fs.readFileSync(path.join(await buildAnalog({ analog: "llama" }, TEST_CACHE), "model.onnx"));
    const m = decodeModel(bytes);
    const entry = create(StringStringEntryProtoSchema, {
      key: "pkg.torch.onnx.name_scopes",
      value: "['', 'model', 'model.layers.0']",
    });
    m.graph!.node[0].metadataProps.push(entry);
    const again = decodeModel(encodeModel(m));
    expect(again.graph!.node[0].metadataProps.map((e) => e.key)).toContain("pkg.torch.onnx.name_scopes");
  });

  it("names the file and says it looks truncated when a model is cut short", async () => {
    const dir = tmpDir();
    const bytes = fs.readFileSync(path.join(await buildAnalog({ analog: "llama" }, TEST_CACHE), "model.onnx"));
    fs.writeFileSync(path.join(dir, "model.onnx"), bytes.subarray(0, 4000));
    expect(() => readModel(path.join(dir, "model.onnx"), "cut")).toThrow(
      /model "cut": model.onnx \(4.0 KB\) .*truncated or is not ONNX/,
    );
    fs.writeFileSync(path.join(dir, "model.onnx"), Buffer.from("this is not a protobuf at all, just text"));
    expect(() => readModel(path.join(dir, "model.onnx"), "garbage")).toThrow(/model "garbage": .*not ONNX/);
  });
});

describe("external data", () => {
  it("reads model.onnx_data (TorchScript) and model.onnx.data (GenAI) to the same values as embedded weights", async () => {
    for (const dialect of ["torchscript", "genai"] as const) {
      const embedded = readModel(path.join(await buildAnalog({ analog: "gemma", dialect }, TEST_CACHE), "model.onnx"));
      const extDir = await buildAnalog({ analog: "gemma", dialect, external: true }, TEST_CACHE);
      expect(fs.existsSync(path.join(extDir, dialect === "genai" ? "model.onnx.data" : "model.onnx_data"))).toBe(true);
      const external = readModel(path.join(extDir, "model.onnx"));
      const E = (m: typeof embedded, dir: string) =>
        toFloat32(
          m.proto.graph!.initializer.find((t) => t.name === "model.embed_tokens.weight")!,
          dir,
        );
      expect(E(external, extDir)).toEqual(E(embedded, ""));
      expect(external.externalFiles).toHaveLength(1);
    }
  });

  it("refuses an absolute or escaping location before reading anything", () => {
    expect(() => resolveExternalPath("/models/m", "../../etc/passwd", "evil")).toThrow(
      /model "evil": external data location "..\/..\/etc\/passwd" escapes the model's folder/,
    );
    expect(() => resolveExternalPath("/models/m", "/etc/passwd", "evil")).toThrow(/is absolute/);
    expect(resolveExternalPath("/models/m", "sub/weights.bin")).toBe("/models/m/sub/weights.bin");
  });

  it("names a missing external file, and one shorter than its tensors need", () => {
    const dir = tmpDir();
    const t = create(TensorProtoSchema, {
      name: "w",
      dims: [1000n, 1000n],
      dataType: DT.FLOAT,
      dataLocation: 1,
      externalData: [
        create(StringStringEntryProtoSchema, { key: "location", value: "model.onnx_data" }),
        create(StringStringEntryProtoSchema, { key: "offset", value: "0" }),
      ],
    });
    expect(() => checkExternalData([t], dir, "m")).toThrow(
      /model "m": external data file "model.onnx_data" is missing/,
    );
    fs.writeFileSync(path.join(dir, "model.onnx_data"), Buffer.alloc(1000));
    expect(() => checkExternalData([t], dir, "m")).toThrow(
      /"model.onnx_data" is 4.0 MB shorter than its tensors need .*incomplete/,
    );
  });
});

describe("folders", () => {
  it("makeDir: two processes making the same folders at once both succeed (shards on one store); a file in the way is named", async () => {
    const root = tmpDir("probespec-makedir-");
    const script = path.join(root, "make.ts");
    // Many fresh trees, each level looked for by both processes: before the fix about a quarter of them raced to EEXIST.
    fs.writeFileSync(
      script,
      `import { makeDir } from ${JSON.stringify(path.join(PROJECT_ROOT, "onnx/io.ts"))};
for (let k = 0; k < 400; k++) makeDir(${JSON.stringify(root)} + "/" + k + "/shards/job");`,
    );
    const run = () =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "node_modules/tsx/dist/cli.mjs"), script]);
        let err = "";
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => resolve({ code, err }));
      });
    // The child's error line alone: its stack trace is not this file's to map.
    for (const { code, err } of await Promise.all([run(), run()]))
      expect(code, err.split("\n").find((l) => /Error/.test(l)) ?? err).toBe(0);
    expect(fs.statSync(path.join(root, "399/shards/job")).isDirectory()).toBe(true);
    fs.writeFileSync(path.join(root, "a-file"), "");
    expect(() => makeDir(path.join(root, "a-file", "below"))).toThrow(/a-file/);
  });
});

describe("initializer conversion", () => {
  it("decodes every float16 bit pattern as an independent float64 decoder does", () => {
    // All 65536 of them: exhaustive is cheaper than sampling here.
    for (let h = 0; h <= 0xffff; h++) {
      const [got, want] = [halfToFloat(h), halfViaFloat64Bits(h)];
      if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want))))
        expect({ h, got }).toEqual({ h, got: want });
    }
  });

  it("decodes bfloat16 as the top half of a float32", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        const dv = new DataView(new ArrayBuffer(4));
        dv.setFloat32(0, x);
        const top = dv.getUint16(0);
        dv.setUint16(2, 0);
        return Object.is(bf16ToFloat(top), dv.getFloat32(0));
      }),
    );
  });

  it("gives the same values from raw_data and from int32_data, for float16 and bfloat16", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 64 }),
        fc.constantFrom(DT.FLOAT16, DT.BFLOAT16),
        (bits, dataType) => {
          const raw = new Uint8Array(new Uint16Array(bits).buffer);
          const a = toFloat32(create(TensorProtoSchema, { dims: [BigInt(bits.length)], dataType, rawData: raw }), "");
          const b = toFloat32(
            create(TensorProtoSchema, { dims: [BigInt(bits.length)], dataType, int32Data: bits }),
            "",
          );
          return a.every((v, i) => Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i])));
        },
      ),
    );
  });

  it("reads float32 stored as float_data", () => {
    const t = create(TensorProtoSchema, { dims: [3n], dataType: DT.FLOAT, floatData: [1.5, -2, 3.25] });
    expect(Array.from(toFloat32(t, ""))).toEqual([1.5, -2, 3.25]);
  });

  it("refuses int64 values a double cannot hold exactly", () => {
    expect(int64ToNumber(2n ** 53n - 1n, "x")).toBe(2 ** 53 - 1);
    expect(() => int64ToNumber(2n ** 53n + 1n, "dim")).toThrow(/beyond 2\^53/);
    const t = create(TensorProtoSchema, { dims: [2n], dataType: DT.INT64, int64Data: [5n, -7n] });
    expect(toInts(t, "")).toEqual([5, -7]);
  });
});
