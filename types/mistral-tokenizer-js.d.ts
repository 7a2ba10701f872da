declare module "mistral-tokenizer-js" {
  /** Mistral-7B's sentencepiece BPE, shipped as data: vocabulary by id, merges ranked by priority. */
  const tokenizer: {
    encode(text: string, addBos?: boolean, addPrecedingSpace?: boolean): number[];
    decode(ids: number[]): string;
    vocabById: string[];
    merges: Map<string, number>;
  };
  export default tokenizer;
}
