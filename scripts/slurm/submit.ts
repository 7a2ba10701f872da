/**
 * npm run slurm -- --shards N [--gpu] [--logs DIR] [--sbatch "ARGS"]: submits the probe
 * shards as one Slurm job array (probe.sbatch), then the judge (judge.sbatch) to run
 * after every shard has ended, and prints both job ids. The environment goes with the
 * jobs (sbatch --export=ALL): PROBESPEC_CACHE_DIR must be on a filesystem every node sees.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { PROJECT_ROOT } from "../../models/registry/registry.js";
import { jobEnvironment, readConfig } from "../../probes/config.js";
import { ConfigError } from "../../onnx/errors.js";
import { makeDir } from "../../onnx/io.js";

function usage(why: string): never {
  console.error(`npm run slurm: ${why}
usage: npm run slurm -- --shards N [--gpu] [--logs DIR] [--sbatch "ARGS"]
  --shards N    probe in N array tasks (1 ≤ N)
  --gpu         each task asks for one GPU (--gres=gpu:1) and probes with PROBESPEC_DEVICE=cuda
  --logs DIR    where the jobs' output goes (default: <results store>/slurm-logs)
  --sbatch ARGS more sbatch options for both jobs, quoted as a shell would, e.g. "--partition=gpu --comment='a b'"`);
  process.exit(2);
}

/** The options, each once; anything else (a typo, a value that is another option) is refused. */
function parseArgs(args: string[]) {
  const values: Partial<Record<"--shards" | "--logs" | "--sbatch", string>> = {};
  let gpu = false;
  for (let i = 0; i < args.length; i++) {
    const [name, inline] = args[i].startsWith("--") && args[i].includes("=") ? args[i].split(/=(.*)/s) : [args[i]];
    if (name === "--gpu" && inline === undefined) {
      gpu = true;
      continue;
    }
    if (name !== "--shards" && name !== "--logs" && name !== "--sbatch") usage(`"${args[i]}" is not an option`);
    if (name in values) usage(`${name} is given twice`);
    const value = inline ?? args[++i];
    if (value === undefined || (inline === undefined && /^--[a-z]/.test(value) && name !== "--sbatch"))
      usage(`${name} needs a value`);
    values[name] = value;
  }
  return { ...values, gpu };
}

/** Shell words: blanks split, single and double quotes group, a backslash escapes the next character. */
function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else word = (word ?? "") + (c === "\\" && i + 1 < text.length ? text[++i] : c);
  }
  if (quote) usage(`--sbatch "${text}" has an unclosed ${quote}`);
  if (word !== undefined) words.push(word);
  return words;
}

const opts = parseArgs(process.argv.slice(2));
const shardsText = opts["--shards"] ?? usage("--shards is required");
if (!/^\d+$/.test(shardsText) || Number(shardsText) < 1) usage(`--shards ${shardsText} is not a number of shards`);
const shards = Number(shardsText);
const extra = shellWords(opts["--sbatch"] ?? "");
// Nothing is created before Slurm is known to be there.
const version = spawnSync("sbatch", ["--version"], { encoding: "utf8" });
if (version.error)
  usage(
    `sbatch cannot be run (${(version.error as NodeJS.ErrnoException).code ?? version.error.message}): submit from a Slurm login node, or see docs/slurm.md to probe shards by hand`,
  );
let store: string;
try {
  store = readConfig().cacheDir;
} catch (e) {
  usage(e instanceof ConfigError ? e.message : String(e));
}
const logs = path.resolve(opts["--logs"] ?? path.join(store, "slurm-logs"));
try {
  makeDir(logs);
} catch (e) {
  usage(`the logs folder ${logs} cannot be created: ${(e as Error).message}`);
}

/**
 * probespec's variables reach the jobs through sbatch's own environment and --export=ALL, never
 * spelt into --export's list, where a comma in a path would split it.
 */
const jobEnv = jobEnvironment({
  PROBESPEC_ROOT: PROJECT_ROOT,
  PROBESPEC_CACHE_DIR: store,
  PROBESPEC_LOGS: logs,
  ...(opts.gpu ? { PROBESPEC_DEVICE: "cuda" } : {}),
});
/** sbatch --parsable prints "id" or "id;cluster". */
function sbatch(args: string[], script: string, env: NodeJS.ProcessEnv): string {
  const out = spawnSync(
    "sbatch",
    ["--parsable", "--export=ALL", ...args, ...extra, path.join(import.meta.dirname, script)],
    { encoding: "utf8", env },
  );
  if (out.status !== 0) {
    console.error(`npm run slurm: sbatch refused ${script}: ${(out.stderr || out.stdout).trim()}`);
    process.exit(1);
  }
  return out.stdout.trim().split(";")[0];
}

const array = sbatch(
  [
    `--array=1-${shards}`,
    `--output=${path.join(logs, "probe-%A_%a.out")}`,
    `--chdir=${PROJECT_ROOT}`,
    ...(opts.gpu ? ["--gres=gpu:1"] : []),
  ],
  "probe.sbatch",
  jobEnv,
);
// afterany, not afterok: a shard that fails or is cancelled must still be reported (as an error verdict).
const judge = sbatch(
  [`--dependency=afterany:${array}`, `--output=${path.join(logs, "judge-%j.out")}`, `--chdir=${PROJECT_ROOT}`],
  "judge.sbatch",
  {
    ...jobEnv,
    PROBESPEC_JOB: array,
    PROBESPEC_SHARDS: String(shards),
    PROBESPEC_SHARD_LOGS: path.join(logs, `probe-${array}_{i}.out`),
  },
);
console.log(`probe shards: job ${array} (array 1-${shards}${opts.gpu ? ", one GPU each" : ""})`);
console.log(`judge: job ${judge} (after every shard has ended)`);
console.log(`store: ${store}`);
console.log(`logs: ${logs}`);
