import type { SlurmOptions } from './options.js';

/** The files of a Slurm submission, all under `<out>/slurm/`. */
export const SCRIPT_NAME = 'experiment.sbatch';
export const LOG_DIR = 'logs';
/** What each task writes into its run folder when `run-one` returns: its job, task and exit code. */
export const TASK_EXIT_FILE = 'task-exit.json';

export interface ScriptInput {
  /** The experiment's name (the job name is soo-<name>). */
  name: string;
  /** The experiment output folder (absolute; the shared filesystem path). */
  out: string;
  /** Every run id of the experiment, in plan order: array task i runs runIds[i]. */
  runIds: readonly string[];
  /**
   * How a task starts soo: `node` from the task's PATH (the submitting shell's, as sbatch exports it, after
   * the --setup lines), else this absolute node binary; and the CLI entry point that planned the runs (on
   * the shared filesystem).
   */
  soo: { node: string; bin: string };
  options: SlurmOptions;
}

/** Single-quote a word for bash. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The --array value: task indices (ranges folded: 0-3,5) and the %N limit. */
export function arraySpec(indices: readonly number[], parallelism?: number): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',') + (parallelism ? `%${parallelism}` : '');
}

/**
 * The sbatch script of an experiment: one array task per run, each calling `soo experiment run-one` on its
 * run folder (the entry point the local executor uses), its output appended to `<run>/run.log`, and its
 * exit code recorded in `<run>/task-exit.json`. A finished run's task exits at once, so the script can be
 * resubmitted by hand as it is (`sbatch experiment.sbatch`) or for some runs (`sbatch --array=1,3 ...`).
 */
export function sbatchScript(s: ScriptInput): string {
  const o = s.options;
  const slurmDir = `${s.out}/slurm`;
  const directives: string[] = [
    `--job-name=soo-${s.name}`,
    `--array=${arraySpec(
      s.runIds.map((_, i) => i),
      o.arrayParallelism,
    )}`,
    `--output=${slurmDir}/${LOG_DIR}/%A_%a.log`,
    `--chdir=${s.out}`,
    '--ntasks=1',
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.time ? [`--time=${o.time}`] : []),
    ...(o.gpusPerTask ? [`--gpus-per-task=${o.gpusPerTask}`] : []),
    ...(o.cpusPerTask ? [`--cpus-per-task=${o.cpusPerTask}`] : []),
    ...(o.mem ? [`--mem=${o.mem}`] : []),
    ...(o.account ? [`--account=${o.account}`] : []),
    ...(o.qos ? [`--qos=${o.qos}`] : []),
    ...o.sbatchArgs,
  ];
  const lines = [
    '#!/bin/bash',
    `# soo experiment "${s.name}": one Slurm array task per run (written by soo experiment run --executor slurm).`,
    `# Task i runs RUNS[i] below with \`soo experiment run-one <out>/runs/<run>/run.json\`. Finished runs exit at`,
    '# once and unfinished ones resume from their checkpoints, so this file can be resubmitted by hand:',
    `#   sbatch ${slurmDir}/${SCRIPT_NAME}              (every run)`,
    `#   sbatch --array=1,3 ${slurmDir}/${SCRIPT_NAME}  (tasks 1 and 3)`,
    '# `soo experiment status <out>` shows each run; `soo experiment run ... --resubmit` resubmits the unfinished.',
    ...directives.map((d) => `#SBATCH ${d}`),
    '',
    'set -u',
    ...(o.setup.length ? ['', '# --setup', ...o.setup] : []),
    '',
    `RUNS=(${s.runIds.map(shellQuote).join(' ')})`,
    'run="${RUNS[$SLURM_ARRAY_TASK_ID]}"',
    `dir=${shellQuote(`${s.out}/runs`)}/"$run"`,
    'task="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
    `node="$(command -v node || echo ${shellQuote(s.soo.node)})"`,
    'echo "soo: task $task runs $run on $(hostname) with $node $("$node" --version)"',
    `"$node" ${shellQuote(s.soo.bin)} experiment run-one "$dir/run.json" --json >>"$dir/run.log" 2>&1`,
    'code=$?',
    `printf '{"job":"%s","task":%s,"run":"%s","exitCode":%s,"host":"%s","finished":"%s"}\\n' \\`,
    '  "$SLURM_ARRAY_JOB_ID" "$SLURM_ARRAY_TASK_ID" "$run" "$code" "$(hostname)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\',
    `  >"$dir/${TASK_EXIT_FILE}.tmp" && mv -f "$dir/${TASK_EXIT_FILE}.tmp" "$dir/${TASK_EXIT_FILE}"`,
    'echo "soo: task $task ($run) exited $code; its log: $dir/run.log"',
    'exit "$code"',
    '',
  ];
  return lines.join('\n');
}
