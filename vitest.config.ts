import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // `npx vitest hypotheses` runs once and exits; `--watch` still opts in.
    watch: false,
    reporters: ["default", "./reports/reporter.ts"],
    projects: [
      {
        test: {
          name: "hypotheses",
          include: ["hypotheses/**/*.spec.ts"],
          globalSetup: ["hypotheses/setup.ts"],
          testTimeout: 120_000,
        },
      },
      {
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
