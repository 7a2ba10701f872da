import { defineConfig } from "vitest/config";

/** Whether this run is the hypotheses project alone, as the README's main command and `--project hypotheses` start it. */
const args = process.argv.slice(2);
const HYPOTHESES_ONLY =
  (args.includes("hypotheses") || args.includes("--project=hypotheses")) &&
  !args.some((a) => a === "harness" || a === "--project=harness");

export default defineConfig({
  // The project's root wherever vitest is started from inside it: the specs are found from any subfolder.
  root: import.meta.dirname,
  test: {
    // `npx vitest hypotheses` runs once and exits; `--watch` still opts in.
    watch: false,
    // The main job (`npx vitest hypotheses`, `vitest run --project hypotheses`) prints probespec's own output only: its
    // reporter decides what a verdict prints, and prints a crash in the harness with its stack. vitest's default
    // reporter would add a pass/fail count and assertion diffs that say less than the verdicts; the harness's own tests
    // keep it.
    reporters: HYPOTHESES_ONLY ? ["./reports/reporter.ts"] : ["default", "./reports/reporter.ts"],
    projects: [
      {
        root: import.meta.dirname,
        test: {
          name: "hypotheses",
          include: ["hypotheses/**/*.spec.ts"],
          globalSetup: ["hypotheses/setup.ts"],
          testTimeout: 120_000,
        },
      },
      {
        root: import.meta.dirname,
        test: {
          name: "harness",
          include: ["test/**/*.test.ts"],
          globalSetup: ["test/setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
