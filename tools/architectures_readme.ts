/**
 * Rewrites the README's table of converted architectures from the architecture table (models/architectures/readme.ts):
 *   npx tsx tools/architectures_readme.ts
 */
import fs from "node:fs";
import path from "node:path";
import { README_END, README_START, supportedTable } from "../models/architectures/readme.js";

const file = path.join(import.meta.dirname, "..", "README.md");
const text = fs.readFileSync(file, "utf8");
const [from, to] = [text.indexOf(README_START), text.indexOf(README_END)];
if (from < 0 || to < from) throw new Error(`${file} has no ${README_START} … ${README_END} block to rewrite`);
fs.writeFileSync(file, text.slice(0, from) + supportedTable() + text.slice(to + README_END.length));
