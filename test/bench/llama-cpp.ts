/**
 * Child of the bench: llama.cpp itself (node-llama-cpp's prebuilt CPU binary, never built here) timing a GGUF's
 * forward pass over prompts of given token ids, the speed anchor for a plain pass on block-quantised weights.
 * Each pass evaluates the prompt into a cleared context and generates nothing; the first pass of each length is a
 * warm-up. Greedy's one next token after the first prompt is printed too, so that the bench can hold llama.cpp's
 * model to probespec's conversion of the same file (the same argmax).
 *
 *   tsx test/bench/llama-cpp.ts <model.gguf> <ids.json> <runs> <threads>
 *
 * ids.json: a list of token-id lists, one per prompt length. Prints one JSON object on its last line.
 */
import fs from "node:fs";

/**
 * Not in package.json: its lock entries for every platform's prebuilt binary leave `npm ci` out of sync here, and it
 * adds 700 MB. The 7B bench installs nothing; install it yourself: npm install --no-save node-llama-cpp@3.22.1.
 */
const PACKAGE = "node-llama-cpp";
type Token = number;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { getLlama, LlamaLogLevel } = (await import(PACKAGE).catch(() => {
  throw new Error(
    `${PACKAGE} is not installed: npm install --no-save ${PACKAGE}@3.22.1 (the 7B bench's llama.cpp anchor)`,
  );
})) as any;

const [file, idsFile, runsArg, threadsArg] = process.argv.slice(2);
const runs = Number(runsArg),
  threads = Number(threadsArg);
const prompts: number[][] = JSON.parse(fs.readFileSync(idsFile, "utf8"));
const longest = Math.max(...prompts.map((p) => p.length));

// build "never": a missing or unloadable prebuilt binary is an error here, not a download of llama.cpp's source.
const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error });
let t = performance.now();
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
const context = await model.createContext({ contextSize: longest + 16, batchSize: longest, threads });
const load_s = (performance.now() - t) / 1000;
const sequence = context.getSequence();

const seconds: { tokens: number; seconds: number[] }[] = [];
for (const ids of prompts) {
  const ts: number[] = [];
  for (let r = 0; r <= runs; r++) {
    await sequence.clearHistory();
    t = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(ids as Token[]);
    if (r) ts.push((performance.now() - t) / 1000);
  }
  seconds.push({ tokens: ids.length, seconds: ts });
}

await sequence.clearHistory();
let next: number | undefined;
for await (const token of sequence.evaluate(prompts[0] as Token[], { temperature: 0 })) {
  next = token;
  break;
}

const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
console.log(
  JSON.stringify({
    load_s,
    seconds,
    greedy_next: next,
    threads: context.currentThreads,
    binary: llama.buildType,
    llama_cpp: llama.llamaCppRelease,
    system_info: llama.systemInfo,
    model_bytes: model.size,
    maxRssBytes: hwm,
  }),
);
await context.dispose();
await model.dispose();
await llama.dispose();
