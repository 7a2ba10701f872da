/**
 * One architecture table: what probespec knows about a model type is in models/architectures/table.ts, and the
 * code that reads it asks the entry, never the type's name.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { ARCHITECTURES, CHECKPOINT_TYPES } from "../models/architectures/table.js";

/** Every .ts file under a folder of the project, as [path, text]. */
const sources = (dir: string): [string, string][] =>
  fs
    .readdirSync(path.join(PROJECT_ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => path.join(dir, f))
    .map((f) => [f, fs.readFileSync(path.join(PROJECT_ROOT, f), "utf8")]);

describe("the architecture table", () => {
  it("is the only place under models/ and probes/ that branches on a model type, family or GGUF architecture", () => {
    const names = Object.keys(ARCHITECTURES).join("|");
    // A comparison of a type-holding value with a name, a switch over one, or a list of the table's names.
    const branch = new RegExp(
      [
        String.raw`(?<!typeof\s+(\w+\.)*)\b(model_?[tT]ype|family|arch(itecture)?)\s*[!=]==\s*"`,
        String.raw`"\s*[!=]==\s*(\w+\.)*(model_?[tT]ype|family|arch(itecture)?)\b`,
        String.raw`switch\s*\(\s*(\w+\.)*(model_?[tT]ype|family|arch(itecture)?)\s*\)`,
        String.raw`\[\s*"(${names})"\s*,\s*"(${names})"`,
      ].join("|"),
    );
    const found = [...sources("models"), ...sources("probes")]
      .filter(([f]) => !f.startsWith(path.join("models", "architectures")))
      .flatMap(([f, text]) =>
        text
          .split("\n")
          .map((line, i) => [i, line] as const)
          .filter(([, line]) => branch.test(line) && !/^\s*(\/\/|\*|\/\*)/.test(line))
          .map(([i, line]) => `${f}:${i + 1}: ${line.trim()}`),
      );
    expect(found).toEqual([]);
  });

  it("names every converted type's config keys it renames, and each entry's traits are whole", () => {
    for (const t of CHECKPOINT_TYPES) {
      const a = ARCHITECTURES[t];
      // Phi's one norm feeds both branches; every other type names two.
      expect(a.names.norms, t).toHaveLength(a.parallel && a.sharedNorm ? 1 : 2);
      expect(a.rotaryFraction, t).toBeGreaterThanOrEqual(0);
      expect(a.rotaryFraction, t).toBeLessThanOrEqual(1);
      // A type with no RoPE has learned positions instead.
      if (a.rotaryFraction === 0) expect(a.names.positions, t).toBeDefined();
      for (const [common, own] of Object.entries(a.checkpoint?.keys ?? {}))
        expect(own, `${t} ${common}`).not.toBe(common);
    }
  });

  it("stands under every source: models/writer/ and the table import nothing from models/analogs/", () => {
    const found = [...sources(path.join("models", "writer")), ...sources(path.join("models", "architectures"))].flatMap(
      ([f, text]) =>
        [...text.matchAll(/from "([^"]+)"/g)].filter((m) => /(^|\/)analogs\//.test(m[1])).map((m) => `${f}: ${m[1]}`),
    );
    expect(found).toEqual([]);
  });
});
