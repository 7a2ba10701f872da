/**
 * Fixtures exported by the real torch.onnx.export (tools/make_fixtures.py),
 * with the notebook's own torch numbers on the same weights beside each.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ModelEntrySchema } from "../models/registry/schema.js";
import { probeModel } from "../probes/probe.js";
import { at, lastTokenLogits, rel, relErr } from "./helpers.js";
import { notebookNumbers } from "../reports/results.js";

const FIXTURES = path.join(import.meta.dirname, "fixtures");
const FAMILY: Record<string, "mistral" | "pythia" | "gemma"> = {
  mistral: "mistral",
  gpt_neox: "pythia",
  gemma: "gemma",
};

describe("torch.onnx.export fixtures against the notebook's torch numbers", () => {
  for (const name of fs
    .readdirSync(FIXTURES)
    .filter((f) => f.startsWith("torch-"))
    .sort()) {
    it(`${name}: probes through the registry, and every seed-compatible metric matches torch`, async () => {
      const dir = path.join(FIXTURES, name);
      const ref = JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8"));
      const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
      const entry = ModelEntrySchema.parse({ id: name, family: FAMILY[config.model_type], source: { dir } });
      const r = await probeModel(entry, dir, [ref.prompt], { device: "cpu" });
      expect(r.layers).toBe(config.num_hidden_layers);
      expect(r.parallel).toBe(config.model_type === "gpt_neox");
      notebookNumbers(r).residual!.norms.forEach((n, L) =>
        expect(rel(n, ref.norms[L]), `norm ${L}`).toBeLessThan(1e-5),
      );
      notebookNumbers(r).residual!.gains.forEach((g, L) =>
        expect(rel(g, ref.gains[L]), `gain ${L}`).toBeLessThan(1e-5),
      );
      expect(notebookNumbers(r).residual!.contracting_pct).toBe(ref.contracting_pct);
      for (const m of ["unembedding", "embedding"] as const) {
        for (const [k, v] of Object.entries(ref[m])) {
          if (typeof v === "number")
            expect(rel(((notebookNumbers(r) as never)[m] as never)[k], v), `${m}.${k}`).toBeLessThan(
              k.startsWith("spectral") || k === "max_singular" ? 1e-6 : 1e-5,
            );
          else expect(((notebookNumbers(r) as never)[m] as never)[k]).toEqual(v);
        }
      }
      expect(rel(notebookNumbers(r).wu_we_ratio!, ref.wu_we_ratio)).toBeLessThan(1e-5);
      expect(r.tied.value).toBe(ref.tied_embeddings);
      for (const [k, v] of Object.entries(ref.entropy))
        expect(rel((notebookNumbers(r).entropy! as never)[k], v as number), `entropy.${k}`).toBeLessThan(1e-5);
      // The logit lens re-applies the final norm the locator read (kind, eps, gain): at the last layer it is the model's output.
      expect(rel(at(r, "lens.entropy")[r.layers - 1], ref.entropy.entropy)).toBeLessThan(1e-5);
    });

    it(`${name}: ONNX Runtime's last-token logits equal torch's within 1e-5`, async () => {
      const dir = path.join(FIXTURES, name);
      const ref = JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8"));
      expect(
        relErr(await lastTokenLogits(path.join(dir, "model.onnx"), ref.input_ids), ref.logits_last_token),
      ).toBeLessThan(1e-5);
    });
  }
});
