/** The probespec command as a newcomer meets it: a help that lists every command, and one measure on one prompt. */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { runProbes } from "../probes/run.js";
import { COMMANDS } from "../bin/commands.js";
import { childEnv, TEST_CACHE } from "./helpers.js";

const probespec = (...args: string[]) =>
  spawnSync(
    process.execPath,
    [path.join(PROJECT_ROOT, "node_modules/tsx/dist/cli.mjs"), path.join(PROJECT_ROOT, "bin/probespec.ts"), ...args],
    { cwd: PROJECT_ROOT, env: childEnv({ PROBESPEC_CACHE_DIR: TEST_CACHE }), encoding: "utf8", timeout: 120_000 },
  );

describe("the probespec command", () => {
  it("--help exits 0 and lists every command, the main job first", () => {
    const r = probespec("--help");
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[1]).toMatch(/^ {2}npx vitest hypotheses +the main job/);
    for (const [c] of COMMANDS) expect(r.stdout).toContain(c);
  });

  it("says which commands exist when given one it does not know, exit 2", () => {
    const r = probespec("bogus");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^"bogus" is not a probespec command; the commands are:\nusage:\n/);
    for (const [c] of COMMANDS) expect(r.stderr).toContain(c);
  });

  it("measure prints one measure of one model on one prompt: the numbers the probe run gives that prompt", async () => {
    const prompt = "The capital of France is";
    const r = probespec("measure", "llama-analog", "resid.norm", prompt, "--json");
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout);
    const run = await runProbes({
      env: { PROBESPEC_MODELS: "llama-analog", PROBESPEC_CACHE_DIR: TEST_CACHE, PROBESPEC_DEVICE: "cpu" },
      promptSet: { name: "two", file: "-", prompts: [prompt, "Another prompt entirely."] },
    });
    const norms = (run.results[0].measures["resid.norm"] as { perPrompt: number[][] }).perPrompt[0];
    expect(got).toMatchObject({ model: "llama-analog", measure: "resid.norm", prompt });
    expect(got.value).toEqual(norms);
    const table = probespec("measure", "llama-analog", "resid.norm", prompt);
    expect(table.stdout).toMatch(
      /^llama-analog {2}resid\.norm \(.*\) on "The capital of France is"\n {2}layer {3}0 {2}\d/,
    );
  });

  it("doctor ends with a one-line summary: probe points found and missing, the provider, the weights' size", () => {
    const r = probespec("doctor", "llama-analog");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").at(-1)).toMatch(
      /^summary {4}\d+ probe points found, (none missing|\d+ unavailable \(.*\)); runs on cpu; weights \d+\.\d\d GB on disk/,
    );
  });

  it("models lists every entry with its source and whether it is here", () => {
    const r = probespec("models");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^id +kind +source +status +needs$/m);
    expect(r.stdout).toMatch(/^tinyllama-1\.1b +real +GGUF .* here/m);
    expect(r.stdout).toMatch(/^mistral-7b +real +hub mistralai\/Mistral-7B-v0\.1 +absent +huggingface-cli download/m);
  });
});
