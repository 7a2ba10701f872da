/** Writes the analogs the GPU check runs on, and their prompts as token ids, into the bundle. */
import fs from "node:fs";
import path from "node:path";
import { buildAnalog } from "../models/analogs/build.js";
import { loadTokenizer } from "../probes/tokenizer.js";
import { promptTexts } from "../probes/prompts.js";

const bundle = process.argv[2];
const models = [];
for (const [id, req] of [
  ["mistral-small", { analog: "mistral-small" }],
  ["gemma-genai", { analog: "gemma", dialect: "genai" as const, external: true }],
  ["pythia", { analog: "pythia" }],
] as const) {
  const src = await buildAnalog(req, path.join(bundle, ".cache"));
  fs.cpSync(src, path.join(bundle, "analogs", id), { recursive: true });
  const tok = loadTokenizer(src);
  models.push({
    id,
    dir: `analogs/${id}`,
    prompts: promptTexts()
      .slice(0, 8)
      .map((p) => tok.encode(p)),
  });
}
fs.rmSync(path.join(bundle, ".cache"), { recursive: true, force: true });
fs.writeFileSync(path.join(bundle, "manifest.json"), JSON.stringify({ models }));
