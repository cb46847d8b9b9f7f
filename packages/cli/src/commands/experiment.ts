import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  executeRun,
  experimentWarnings,
  isRunDone,
  planRuns,
  readExperimentConfig,
  readRunSummaries,
  writeExperimentReport,
  writeRunSpec,
  writeFileAtomic,
  type RunSpec,
} from '@soo/core';
import type { Command } from 'commander';
import { parseNumber } from '../args.js';
import { resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import { type Io, printJson } from '../io.js';
import { createProgress } from '../progress.js';
import { parseSlurmFlags, slurmFlagsGiven, type SlurmFlags } from '../slurm/options.js';
import { currentSlurmTask, slurmHolderGone } from '../slurm/scheduler.js';
import { experimentStatus, type ExperimentStatus, type RunState } from '../slurm/status.js';
import { submitExperiment } from '../slurm/submit.js';

/** The built `soo` entry point next to this module (dist/bin.js), for child runs. */
function binPath(): string {
  return fileURLToPath(new URL('./bin.js', import.meta.url));
}

function runChild(runFile: string, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const bin = binPath();
    if (!existsSync(bin)) {
      reject(
        new UsageError(
          `--jobs > 1 runs each run as its own \`soo\` process and needs the built CLI (${bin}); build it or use --jobs 1`,
        ),
      );
      return;
    }
    void fsp.open(logFile, 'w').then((fh) => {
      const child = spawn(process.execPath, [bin, 'experiment', 'run-one', runFile, '--json'], {
        stdio: ['ignore', fh.fd, fh.fd],
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        void fh.close();
        if (code === 0) resolve();
        else reject(new Error(`run ${runFile} failed with exit code ${code}; see ${logFile}`));
      });
    }, reject);
  });
}

export function registerExperiment(program: Command, io: Io): void {
  const exp = program
    .command('experiment')
    .description(
      'arms x seeds: train, evaluate, latent SOO and capability per run, then a paper-style report',
    );

  exp
    .command('run')
    .description(
      'run every arm x seed of an experiment.json (resumable: finished runs are not redone), then write the report',
    )
    .argument(
      '<experiment>',
      'experiment.json (its fields: "Experiment files" in packages/core/README.md, or the docs site reference)',
    )
    .option('--out <dir>', 'output folder (default: <name>-results beside the experiment file)')
    .option('--jobs <n>', 'runs at once; above 1 each run is its own soo process', '1')
    .option('--json', 'progress and the summary as JSON lines')
    .option(
      '--executor <local|slurm>',
      'local: run here (--jobs at once); slurm: submit one Slurm job array, one task per run, and return',
      'local',
    )
    .option('--partition <name>', 'slurm: sbatch --partition')
    .option('--time <limit>', 'slurm: time limit per task (sbatch --time, e.g. 2:00:00)')
    .option('--gpus-per-task <n>', 'slurm: sbatch --gpus-per-task')
    .option('--cpus-per-task <n>', 'slurm: sbatch --cpus-per-task')
    .option('--mem <size>', 'slurm: memory per task (sbatch --mem, e.g. 32G)')
    .option('--account <name>', 'slurm: sbatch --account')
    .option('--qos <name>', 'slurm: sbatch --qos')
    .option('--array-parallelism <n>', 'slurm: at most n tasks at once (the %n of --array)')
    .option(
      '--sbatch-arg <arg>',
      'slurm: one more sbatch option, e.g. --sbatch-arg=--constraint=a100 (repeatable)',
      collect,
      [],
    )
    .option(
      '--setup <line>',
      'slurm: a shell line each task runs first, e.g. "module load cuda" or "source venv/bin/activate" (repeatable)',
      collect,
      [],
    )
    .option(
      '--resubmit',
      'slurm: submit again the runs that are not done and not queued (failed, cancelled, pre-empted)',
    )
    .action(async (file: string, opts: RunFlags) => {
      const jobs = parseNumber('--jobs', opts.jobs, { integer: true, min: 1 });
      if (opts.executor !== 'local' && opts.executor !== 'slurm')
        throw new UsageError(`--executor: expected local or slurm, got "${opts.executor}"`);
      const slurmOnly = [...slurmFlagsGiven(opts), ...(opts.resubmit ? ['--resubmit'] : [])];
      if (opts.executor === 'local' && slurmOnly.length)
        throw new UsageError(`${slurmOnly.join(', ')}: only with --executor slurm`);
      if (opts.executor === 'slurm' && opts.jobs !== '1')
        throw new UsageError(
          '--jobs: only with --executor local (Slurm runs the tasks; see --array-parallelism)',
        );
      const slurm = opts.executor === 'slurm' ? parseSlurmFlags(opts) : null;
      const cfg = await readExperimentConfig(file);
      const out = path.resolve(
        opts.out ?? path.join(path.dirname(path.resolve(file)), `${cfg.name}-results`),
      );
      await fsp.mkdir(path.join(out, 'runs'), { recursive: true });
      const { file: _src, ...normalised } = cfg;
      await writeFileAtomic(path.join(out, 'experiment.json'), JSON.stringify(normalised, null, 2) + '\n');
      const runs = planRuns(cfg);
      const todo: Array<{ spec: RunSpec; file: string }> = [];
      for (const spec of runs) {
        const dir = path.join(out, 'runs', spec.id);
        if (isRunDone(dir)) continue;
        todo.push({ spec, file: await writeRunSpec(dir, spec) });
      }
      if (slurm) {
        const bin = binPath();
        if (!existsSync(bin))
          throw new UsageError(`--executor slurm runs the built CLI (${bin}) in each task; build it first`);
        const r = await submitExperiment({
          name: cfg.name,
          out,
          runIds: runs.map((r) => r.id),
          soo: { node: process.execPath, bin },
          options: slurm,
          resubmit: Boolean(opts.resubmit),
        });
        if (opts.json)
          printJson(io, {
            event: 'submitted',
            out,
            ...(r.submitted
              ? { submitted: true, job: r.job, runs: r.runs, array: r.array, script: r.script }
              : { submitted: false, why: r.why }),
          });
        else if (r.submitted)
          io.err(
            `submitted job ${r.job}: ${r.runs.length} of ${runs.length} runs (array ${r.array})\n` +
              `script: ${r.script}\nstatus: soo experiment status ${out}\nreport: soo experiment report ${out}\n`,
          );
        else io.err(`not submitted: ${r.why}\n`);
        return;
      }
      const progress = createProgress(io, { label: 'runs', total: runs.length, json: Boolean(opts.json) });
      let done = runs.length - todo.length;
      progress.update(done);
      const backend = jobs === 1 ? await resolveBackend(cfg.backend) : null;
      const queue = [...todo];
      const worker = async (): Promise<void> => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { spec, file: runFile } = next;
          if (backend) await executeRun(runFile, async () => backend);
          else await runChild(runFile, path.join(path.dirname(runFile), 'run.log'));
          done++;
          progress.update(done);
          if (!opts.json) io.err(`finished ${spec.id}\n`);
        }
      };
      await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, todo.length)) }, worker));
      progress.finish();
      const summaries = await readRunSummaries(path.join(out, 'runs'));
      const table = await writeExperimentReport(out, cfg, summaries);
      const warnings = experimentWarnings(table);
      if (!opts.json) for (const w of warnings) io.err(`warning: ${w}\n`);
      if (opts.json)
        printJson(io, {
          event: 'summary',
          out,
          runs: summaries.length,
          skipped: runs.length - todo.length,
          warnings,
          table,
        });
      else
        io.err(
          `report: ${path.join(out, 'report.md')} (${summaries.length} runs, ${runs.length - todo.length} already done)\n`,
        );
    });

  exp
    .command('run-one')
    .description('execute one run folder (what `experiment run` and cluster jobs call)')
    .argument('<run>', 'the run.json of a run folder')
    .option('--json', 'phases as JSON lines')
    .action(async (runFile: string, opts: { json?: boolean }) => {
      const spec = JSON.parse(await fsp.readFile(runFile, 'utf8')) as RunSpec;
      if (isRunDone(path.dirname(runFile))) {
        io.err(`${spec.id}: already done\n`);
        return;
      }
      const job = currentSlurmTask();
      const summary = await executeRun(
        runFile,
        (name) => resolveBackend(name),
        {
          onPhase: (phase) =>
            opts.json
              ? printJson(io, { event: 'phase', run: spec.id, phase })
              : io.err(`${spec.id}: ${phase}\n`),
        },
        // a task's lock names its Slurm task; a lock left on another node by a task that left the queue
        // (pre-empted) is stale
        { lock: { ...(job ? { job } : {}), holderGone: slurmHolderGone } },
      );
      if (opts.json) printJson(io, { event: 'summary', ...summary });
    });

  exp
    .command('status')
    .description(
      "each run's state: done, pending, running, failed (exit code, log), from the run folders and Slurm's squeue/sacct",
    )
    .argument('<out>', 'the experiment output folder')
    .option('--json', 'the states as one JSON line (with --wait: progress lines first)')
    .option('--wait', 'wait until no run is pending or running (a progress bar of finished runs meanwhile)')
    .option('--interval <s>', 'with --wait: seconds between looks at the queue', '30')
    .action(async (out: string, opts: { json?: boolean; wait?: boolean; interval: string }) => {
      const interval = parseNumber('--interval', opts.interval, { min: 0.1 });
      let { status } = await readStatus(out);
      if (opts.wait) {
        const settled = (st: ExperimentStatus): number =>
          st.runs.filter((r) => r.state !== 'pending' && r.state !== 'running').length;
        const progress = createProgress(io, {
          label: 'runs settled',
          total: status.runs.length,
          json: Boolean(opts.json),
        });
        progress.update(settled(status));
        while (settled(status) < status.runs.length) {
          await new Promise((r) => setTimeout(r, interval * 1000));
          ({ status } = await readStatus(out));
          progress.update(settled(status));
        }
        progress.finish();
      }
      if (opts.json) {
        printJson(io, { event: 'status', out: path.resolve(out), ...status });
        return;
      }
      io.out(statusTable(status, path.resolve(out)));
    });

  exp
    .command('report')
    .description(
      'build the report from the finished runs of an output folder, and name the runs still missing',
    )
    .argument('<out>', 'the experiment output folder')
    .option('--json', 'the summary as one JSON line')
    .action(async (out: string, opts: { json?: boolean }) => {
      const { cfg, status } = await readStatus(out);
      const summaries = await readRunSummaries(path.join(out, 'runs'));
      const missing = status.runs.filter((r) => r.state !== 'done');
      const table = await writeExperimentReport(
        out,
        cfg,
        summaries,
        missing.map((r) => r.run),
      );
      if (opts.json) {
        printJson(io, {
          event: 'summary',
          out: path.resolve(out),
          runs: summaries.length,
          missing: missing.map(({ run, state, exitCode, log }) => ({ run, state, exitCode, log })),
          warnings: experimentWarnings(table),
        });
        return;
      }
      io.err(
        `report: ${path.join(out, 'report.md')} (${summaries.length} of ${status.runs.length} runs)\n` +
          (missing.length ? `missing ${missing.length}: ${missing.map(describeMissing).join(', ')}\n` : ''),
      );
    });
}

interface RunFlags extends SlurmFlags {
  out?: string;
  jobs: string;
  json?: boolean;
  executor: string;
  resubmit?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function readStatus(
  out: string,
): Promise<{ cfg: Awaited<ReturnType<typeof readExperimentConfig>>; status: ExperimentStatus }> {
  const cfg = await readExperimentConfig(path.join(out, 'experiment.json'));
  const status = await experimentStatus(
    path.resolve(out),
    planRuns(cfg).map((r) => r.id),
  );
  return { cfg, status };
}

function describeMissing(r: RunState): string {
  const exit = r.exitCode !== undefined && r.exitCode !== null ? `, exit ${r.exitCode}` : '';
  return `${r.run} (${r.state}${r.slurmState && r.state === 'failed' ? ` ${r.slurmState}` : ''}${exit})`;
}

/** The status as an aligned text table, one run a line, then the counts. */
function statusTable(st: ExperimentStatus, out: string): string {
  const rows = [
    ['run', 'state', 'task', 'slurm', 'exit', 'checkpoint', 'log'],
    ...st.runs.map((r) => [
      r.run,
      r.state,
      r.task ?? '-',
      r.slurmState ? r.slurmState + (r.reason ? ` (${r.reason})` : '') : '-',
      r.exitCode === undefined || r.exitCode === null ? '-' : String(r.exitCode),
      r.checkpointStep === null ? '-' : `step ${r.checkpointStep}`,
      path.relative(out, r.log),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  const counts = new Map<string, number>();
  for (const r of st.runs) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  const sources = [st.sources.squeue ? 'squeue' : null, st.sources.sacct ? 'sacct' : null].filter(Boolean);
  return (
    lines.join('\n') +
    '\n' +
    `${st.runs.length} runs: ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')}` +
    ` (from the run folders${sources.length ? ` and ${sources.join(', ')}` : ''})\n`
  );
}
