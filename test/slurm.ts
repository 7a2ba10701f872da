/**
 * A single-node Slurm cluster on localhost for the tests: munged, slurmctld and slurmd
 * started as root with a configuration in a temporary folder (proctrack/linuxproc,
 * task/none: no cgroups needed), and stopped by the pids they wrote. Where this is not
 * root or Slurm is not installed or will not start, `startCluster` says why instead.
 */
import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface Cluster {
  env: Record<string, string>;
  dir: string;
  stop(): void;
}

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).stdout.trim();

/** Waits for `ok` up to `seconds`, polling. */
export function waitFor(ok: () => boolean, seconds: number): boolean {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (ok()) return true;
    spawnSync("sleep", ["0.5"]);
  }
  return ok();
}

export function startCluster(dir: string): Cluster | string {
  if (process.getuid?.() !== 0) return "not root: slurmd and munged are started as root";
  const missing = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol"].filter((c) => !which(c));
  if (missing.length) return `Slurm is not installed (no ${missing.join(", ")}; apt install slurm-wlm munge)`;
  const munge = path.join(dir, "munge");
  fs.mkdirSync(munge, { mode: 0o700, recursive: true });
  fs.mkdirSync(path.join(dir, "state"));
  fs.mkdirSync(path.join(dir, "spool"));
  fs.writeFileSync(path.join(munge, "key"), crypto.randomBytes(1024), { mode: 0o600 });
  const pids = [path.join(dir, "slurmd.pid"), path.join(dir, "slurmctld.pid"), path.join(munge, "pid")];
  const stop = () => {
    for (const f of pids) {
      try {
        process.kill(Number(fs.readFileSync(f, "utf8").trim()), "SIGTERM");
      } catch {
        // not started, or gone already
      }
    }
  };
  const host = os.hostname();
  // Ports of this run's own, so that a cluster left behind by another run does not answer.
  const port = 20000 + (process.pid % 20000);
  const conf = path.join(dir, "slurm.conf");
  fs.writeFileSync(
    conf,
    [
      "ClusterName=probespec",
      `SlurmctldHost=${host}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      "AuthType=auth/munge",
      "CredType=cred/munge",
      `AuthInfo=socket=${munge}/sock`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SchedulerType=sched/builtin",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_CPU",
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${pids[1]}`,
      `SlurmdPidFile=${pids[0]}`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      "ReturnToService=2",
      "MpiDefault=none",
      "JobCompType=jobcomp/none",
      "AccountingStorageType=accounting_storage/none",
      `NodeName=${host} CPUs=${os.cpus().length} State=UNKNOWN`,
      "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
      "",
    ].join("\n"),
  );
  const env = { SLURM_CONF: conf };
  try {
    execFileSync("munged", [
      "--force",
      `--socket=${munge}/sock`,
      `--key-file=${munge}/key`,
      `--pid-file=${pids[2]}`,
      `--log-file=${munge}/log`,
      `--seed-file=${munge}/seed`,
    ]);
    execFileSync("slurmctld", [], { env: { ...process.env, ...env } });
    execFileSync("slurmd", [], { env: { ...process.env, ...env } });
  } catch (e) {
    stop();
    return `Slurm did not start: ${(e as Error).message.split("\n")[0]}`;
  }
  const idle = () =>
    /idle/.test(spawnSync("sinfo", ["-h", "-o", "%t"], { env: { ...process.env, ...env }, encoding: "utf8" }).stdout);
  if (!waitFor(idle, 30)) {
    stop();
    return `Slurm started but its node never came up idle (see ${dir}/slurmctld.log)`;
  }
  return { env, dir, stop };
}
