/**
 * Past one machine, on a real Slurm: a single-node cluster on localhost (test/slurm.ts),
 * `npm run slurm`'s submitter, 3 probe shards over 5 models as one job array, then the
 * judge. Its report must equal a one-machine run's number for number; a cancelled shard
 * must leave its models as error verdicts that name it, and the report all the same.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../models/registry/registry.js";
import { childEnv, runHypotheses, tmpDir } from "./helpers.js";
import { startCluster, waitFor, type Cluster } from "./slurm.js";
import { ConfigError } from "../onnx/errors.js";
import { readConfig } from "../probes/config.js";
import { runProbes } from "../probes/run.js";
import { ownerOf } from "../probes/shard.js";

const MODELS = ["mistral-analog", "llama-analog", "gemma-analog", "pythia-analog", "apertus-analog"];
/** Sorted ids dealt round-robin over 3 shards: apertus, mistral | gemma, pythia | llama. */
const SHARD_2 = ["gemma-analog", "pythia-analog"];

describe("probe shards as a Slurm job array, judged once", () => {
  let cluster: Cluster | string;
  const root = tmpDir("probespec-slurm-");
  const prompts = path.join(root, "prompts.json");
  beforeAll(() => {
    cluster = startCluster(path.join(root, "cluster"));
    fs.writeFileSync(
      prompts,
      JSON.stringify({
        name: "three",
        prompts: ["The capital of France is", "Water boils at", "def add(a, b):"].map((text) => ({
          kind: "fact",
          text,
        })),
      }),
    );
  }, 60_000);
  afterAll(() => {
    if (typeof cluster !== "string") cluster.stop();
  });

  /** The same run's settings for every way of running it: one thread, so that sums add up in one order. */
  const settings = (store: string, report: string) => ({
    PROBESPEC_MODELS: MODELS.join(","),
    PROBESPEC_PROMPTS: prompts,
    PROBESPEC_CACHE_DIR: store,
    PROBESPEC_REPORT_DIR: report,
    PROBESPEC_THREADS: "1",
  });

  /**
   * Submits the shards and the judge as `npm run slurm` does. With `between`, both are
   * submitted held, `between` runs, and then they are released: a shard cannot finish first.
   */
  function submit(name: string, between?: (array: string) => void) {
    const c = cluster as Cluster;
    const [store, report, logs] = ["store", "report", "logs"].map((d) => path.join(root, name, d));
    const env = childEnv({ ...c.env, ...settings(store, report) });
    const out = spawnSync(
      process.execPath,
      [
        path.join(PROJECT_ROOT, "node_modules/tsx/dist/cli.mjs"),
        path.join(PROJECT_ROOT, "scripts/slurm/submit.ts"),
        "--shards",
        "3",
        "--logs",
        logs,
        ...(between ? ["--sbatch", "--hold"] : []),
      ],
      { env, encoding: "utf8" },
    );
    expect(out.status, out.stderr).toBe(0);
    const array = /probe shards: job (\d+)/.exec(out.stdout)![1];
    const judge = /judge: job (\d+)/.exec(out.stdout)![1];
    if (between) {
      between(array);
      const release = spawnSync("scontrol", ["release", array, judge], { env, encoding: "utf8" });
      expect(release.status, release.stderr).toBe(0);
    }
    const queued = () =>
      spawnSync("squeue", ["-h", "-j", `${array},${judge}`], { env, encoding: "utf8" }).stdout.trim() !== "";
    expect(
      waitFor(() => !queued(), 300),
      `jobs ${array}, ${judge} still queued`,
    ).toBe(true);
    const results = path.join(report, "results.json");
    expect(fs.existsSync(results), `no report; judge log:\n${readLogs(logs)}`).toBe(true);
    return { array, logs, results: JSON.parse(fs.readFileSync(results, "utf8")), env };
  }
  const readLogs = (logs: string) =>
    fs.existsSync(logs)
      ? fs
          .readdirSync(logs)
          .map((f) => fs.readFileSync(path.join(logs, f), "utf8"))
          .join("\n")
      : "";

  it("3 shards over 5 models, then the judge: one report, number for number a one-machine run's", (ctx) => {
    if (typeof cluster === "string") return ctx.skip(cluster);
    const { array, logs, results: sharded } = submit("full");
    const one = runHypotheses(undefined, settings(path.join(root, "one", "store"), path.join(root, "one", "report")));
    expect(sharded.models_tested.sort(), `${JSON.stringify(sharded.skipped, null, 1)}\n${readLogs(logs)}`).toEqual(
      [...MODELS].sort(),
    );
    // The judge probed nothing: every result came from the store the shards filled.
    expect(sharded.provenance.model_loads).toBe(0);
    expect(one.results.provenance.model_loads).toBe(5);
    for (const key of ["unembedding_analysis", "residual_stream_analysis", "entropy_analysis", "extended", "verdicts"])
      expect(sharded[key], key).toEqual(one.results[key]);
    // Who probed what: the host, the shard and the provider, per model.
    for (const id of MODELS) {
      const m = sharded.provenance.models[id];
      expect(m.host).toBe(os.hostname());
      expect(m.shard).toEqual({ job: array, shard: `${SHARD_2.includes(id) ? 2 : id === "llama-analog" ? 3 : 1}/3` });
    }
    expect(sharded.provenance.execution_provider).toEqual(["cpu"]);
  });

  it("a cancelled shard leaves its models as error verdicts naming the shard and its log, and the report is written all the same", (ctx) => {
    if (typeof cluster === "string") return ctx.skip(cluster);
    const { array, logs, results } = submit("cancelled", (id) => {
      const cancel = spawnSync("scancel", [`${id}_2`], { env: childEnv((cluster as Cluster).env), encoding: "utf8" });
      expect(cancel.status, cancel.stderr).toBe(0);
    });
    const errors = results.skipped.filter((s: { error?: boolean }) => s.error);
    expect(errors.map((s: { id: string }) => s.id).sort()).toEqual(SHARD_2);
    for (const e of errors) {
      expect(e.reason).toMatch(new RegExp(`shard 2/3 of job ${array} (never ran|started on .* and never finished)`));
      expect(e.reason).toContain(path.join(logs, `probe-${array}_2.out`));
    }
    // Hypotheses that need a cancelled shard's model are errors; the one that needs only the subject is judged.
    expect(results.verdicts["silent-exit"].verdict).toBe("error");
    expect(results.verdicts["silent-exit"].reason).toContain("shard 2/3");
    expect(results.verdicts["residual-explosion"].verdict).not.toBe("error");
    expect(results.models_tested.sort()).toEqual(MODELS.filter((m) => !SHARD_2.includes(m)).sort());
  });
});

describe("sharding, without a cluster", () => {
  it("deals sorted ids round-robin: the same owner whatever the order or the host, shards one model apart at most", () => {
    const ids = ["e", "a", "d", "c", "b", "f", "g"];
    const owners = ids.map((id) => ownerOf(id, ids, 3));
    expect(owners).toEqual(ids.map((id) => ownerOf(id, [...ids].reverse(), 3)));
    const counts = [1, 2, 3].map((i) => owners.filter((o) => o === i).length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(ownerOf("a", ids, 3)).toBe(1);
  });

  it("refuses a shard that is not i/n with 1 ≤ i ≤ n, and a store a shard cannot write, in one line each", async () => {
    for (const bad of ["0/3", "4/3", "2", "a/b", "1/0"])
      expect(() => readConfig({ PROBESPEC_SHARD: bad })).toThrow(/PROBESPEC_SHARD=.* is not a shard i\/n/);
    expect(() => readConfig({ PROBESPEC_SHARDS: "many" })).toThrow(ConfigError);
    expect(() => readConfig({ PROBESPEC_SHARD: "1/2", PROBESPEC_SHARDS: "2" })).toThrow(/exclude each other/);
    await expect(
      runProbes({
        env: { PROBESPEC_SHARD: "1/1", PROBESPEC_CACHE_DIR: "/proc/no-store", PROBESPEC_MODELS: "llama-analog" },
        promptSet: { name: "t", file: "-", prompts: ["Hi"] },
      }),
    ).rejects.toThrow(/results store \/proc\/no-store .* cannot be written/);
  });
});
