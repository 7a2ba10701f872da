/**
 * npm run slurm -- --shards N [--gpu] [--logs DIR] [--sbatch "ARGS"]: submits the probe
 * shards as one Slurm job array (probe.sbatch), then the judge (judge.sbatch) to run
 * after every shard has ended, and prints both job ids. The environment goes with the
 * jobs (sbatch --export=ALL): PROBESPEC_CACHE_DIR must be on a filesystem every node sees.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT, cacheRoot } from "../../models/registry/registry.js";

function usage(why: string): never {
  console.error(`npm run slurm: ${why}
usage: npm run slurm -- --shards N [--gpu] [--logs DIR] [--sbatch "ARGS"]
  --shards N    probe in N array tasks (1 ≤ N)
  --gpu         each task asks for one GPU (--gres=gpu:1) and probes with PROBESPEC_DEVICE=cuda
  --logs DIR    where the jobs' output goes (default: <results store>/slurm-logs)
  --sbatch ARGS more sbatch options for both jobs, e.g. "--partition=gpu --time=02:00:00"`);
  process.exit(2);
}

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at < 0 ? undefined : (args[at + 1] ?? usage(`${name} needs a value`));
};
const shardsText = option("--shards") ?? usage("--shards is required");
if (!/^\d+$/.test(shardsText) || Number(shardsText) < 1) usage(`--shards ${shardsText} is not a number of shards`);
const shards = Number(shardsText);
const gpu = args.includes("--gpu");
const store = cacheRoot();
const logs = path.resolve(option("--logs") ?? path.join(store, "slurm-logs"));
const extra = (option("--sbatch") ?? "").split(/\s+/).filter(Boolean);
fs.mkdirSync(logs, { recursive: true });

const device = gpu ? ",PROBESPEC_DEVICE=cuda" : "";
const env = `ALL,PROBESPEC_ROOT=${PROJECT_ROOT},PROBESPEC_CACHE_DIR=${store},PROBESPEC_LOGS=${logs}${device}`;
/** sbatch --parsable prints "id" or "id;cluster". */
const sbatch = (opts: string[], script: string) =>
  execFileSync("sbatch", ["--parsable", ...opts, ...extra, path.join(import.meta.dirname, script)], {
    encoding: "utf8",
  })
    .trim()
    .split(";")[0];

const array = sbatch(
  [
    `--array=1-${shards}`,
    `--output=${path.join(logs, "probe-%A_%a.out")}`,
    `--chdir=${PROJECT_ROOT}`,
    `--export=${env}`,
    ...(gpu ? ["--gres=gpu:1"] : []),
  ],
  "probe.sbatch",
);
// afterany, not afterok: a shard that fails or is cancelled must still be reported (as an error verdict).
const judge = sbatch(
  [
    `--dependency=afterany:${array}`,
    `--output=${path.join(logs, "judge-%j.out")}`,
    `--chdir=${PROJECT_ROOT}`,
    `--export=${env},PROBESPEC_JOB=${array},PROBESPEC_SHARDS=${shards},PROBESPEC_SHARD_LOGS=${path.join(logs, `probe-${array}_{i}.out`)}`,
  ],
  "judge.sbatch",
);
console.log(`probe shards: job ${array} (array 1-${shards}${gpu ? ", one GPU each" : ""})`);
console.log(`judge: job ${judge} (after every shard has ended)`);
console.log(`store: ${store}`);
console.log(`logs: ${logs}`);
