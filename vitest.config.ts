import { defineConfig } from "vitest/config";

export default defineConfig({
  // The project's root wherever vitest is started from inside it: the specs are found from any subfolder.
  root: import.meta.dirname,
  test: {
    // `npx vitest hypotheses` runs once and exits; `--watch` still opts in.
    watch: false,
    reporters: ["default", "./reports/reporter.ts"],
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
