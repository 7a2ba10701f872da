/** What is wrong with a GGUF file, its name first: the reader, the dequantisers and the converter throw it. */
export class GgufError extends Error {
  override name = "GgufError";
}
