/** onnxruntime-genai's genai_config.json for a generated model written in its builder's dialect. */
import { type AnalogConfig } from "./config.js";
import { headDim } from "../writer/config.js";

export function genaiConfig(c: AnalogConfig): object {
  return {
    model: {
      type: c.family,
      vocab_size: c.vocab,
      context_length: c.maxPositions,
      bos_token_id: 1,
      eos_token_id: 2,
      decoder: {
        filename: "model.onnx",
        num_hidden_layers: c.layers,
        num_attention_heads: c.heads,
        num_key_value_heads: c.kvHeads,
        hidden_size: c.d,
        head_size: headDim(c),
      },
    },
  };
}
