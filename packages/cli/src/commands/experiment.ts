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
    .action(async (file: string, opts: { out?: string; jobs: string; json?: boolean }) => {
      const jobs = parseNumber('--jobs', opts.jobs, { integer: true, min: 1 });
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
      const summary = await executeRun(runFile, (name) => resolveBackend(name), {
        onPhase: (phase) =>
          opts.json
            ? printJson(io, { event: 'phase', run: spec.id, phase })
            : io.err(`${spec.id}: ${phase}\n`),
      });
      if (opts.json) printJson(io, { event: 'summary', ...summary });
    });

  exp
    .command('report')
    .description('rebuild the report from the finished runs of an output folder')
    .argument('<out>', 'the experiment output folder')
    .action(async (out: string) => {
      const cfg = await readExperimentConfig(path.join(out, 'experiment.json'));
      const summaries = await readRunSummaries(path.join(out, 'runs'));
      await writeExperimentReport(out, cfg, summaries);
      io.err(`report: ${path.join(out, 'report.md')} (${summaries.length} runs)\n`);
    });
}
