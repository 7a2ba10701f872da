/**
 * The README's table of what probespec converts, rendered from the architecture table, so that the page a
 * newcomer reads cannot drift from what the code does (test/docs.test.ts holds the README to it).
 */
import { CHECKPOINT_TYPES, GGUF_ARCHITECTURES } from "./table.js";

export const README_START =
  "<!-- architectures: rendered from models/architectures/table.ts by tools/architectures_readme.ts -->";
export const README_END = "<!-- /architectures -->";

export function supportedTable(): string {
  const codes = (names: readonly string[]) => names.map((n) => `\`${n}\``).join(" ");
  return [
    README_START,
    "| converted from | architectures |",
    "|---|---|",
    `| HF checkpoint (safetensors; 16-bit matrices read in place) | ${codes(CHECKPOINT_TYPES)} |`,
    `| GGUF (block formats kept as their codes) | ${codes([...GGUF_ARCHITECTURES.keys()])} |`,
    README_END,
  ].join("\n");
}
