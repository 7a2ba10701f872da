/**
 * The README is the first screen a newcomer reads: short, with both commands, and every page it sends them to there.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { supportedTable } from "../models/architectures/readme.js";

const read = (f: string) => fs.readFileSync(path.join(PROJECT_ROOT, f), "utf8");
const pages = ["README.md", ...fs.readdirSync(path.join(PROJECT_ROOT, "docs")).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith(".md"),
);

/** A Markdown heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens. */
const anchor = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");

describe("the README and docs/", () => {
  it("keep the README within 200 lines, with the main job's command and the tests'", () => {
    const readme = read("README.md");
    expect(readme.split("\n").length).toBeLessThanOrEqual(200);
    expect(readme).toContain("npx vitest hypotheses");
    expect(readme).toContain("npm test");
  });

  it("link only to files a clone has, and to headings those files hold", () => {
    for (const page of pages) {
      for (const [, target] of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [file, hash] = target.split("#");
        const to = file ? path.normalize(path.join(path.dirname(page), file)) : page;
        expect(fs.existsSync(path.join(PROJECT_ROOT, to)), `${page} links to ${target}`).toBe(true);
        if (hash && to.endsWith(".md")) {
          const headings = [...read(to).matchAll(/^#+ (.+)$/gm)].map((m) => anchor(m[1]));
          expect(headings, `${page} links to ${target}`).toContain(hash);
        }
      }
    }
  });

  it("never send a README reader to a file outside the project", () => {
    expect(read("README.md")).not.toMatch(/\.\.\/shared|DESIGN\.md/);
  });

  it("give the architectures converted as the architecture table renders them (npx tsx tools/architectures_readme.ts rewrites it)", () => {
    expect(read("README.md")).toContain(supportedTable());
  });
});
