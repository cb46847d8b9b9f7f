import { relative, resolve } from 'node:path';
import { cpus } from 'node:os';
import {
  PAPER_RUBRIC_SEEDS,
  ReproduceInterruptedError,
  ReproduceSettingsError,
  formatSeconds,
  reproduce,
  type ReproduceConfig,
  type ReproduceEvent,
} from '@soo/rl';
import type { Command } from 'commander';
import { parseNumber } from '../../args.js';
import { InterruptedError, UsageError } from '../../errors.js';
import { type Io, printJson } from '../../io.js';
import { maddpgOverrides, parseEpisodeCounts, parseIntList, parseSeeds } from './options.js';
import { progressSink } from './progress.js';

interface ReproduceOpts {
  out: string;
  baselines?: string;
  budget?: boolean;
  trainEpisodes: string;
  finetuneEpisodes: string;
  finetuneSeeds: string;
  classifySeeds: string;
  classifyEpisodes: string;
  rubricSeeds: string;
  rubricEpisodes?: string;
  rubricProtocol: string;
  sooValueEpisodes: string;
  batchSize?: string;
  updateEvery?: string;
  profileSeconds: string;
  seed: string;
  jobs: string;
  json?: boolean;
}

/**
 * Renders `reproduce`'s events: one stderr line per phase start/skip/finish, and a progress bar (or JSON
 * lines with --json) per phase. Phases that run in parallel print plain lines (two redrawn bars would
 * overwrite each other).
 */
function renderEvents(io: Io, json: boolean): (e: ReproduceEvent) => void {
  const plainIo: Io = { ...io, isTTY: false };
  const sinks = new Map<string, ReturnType<typeof progressSink>>();
  return (e) => {
    switch (e.type) {
      case 'phase-skipped':
        io.err(
          `reproduce: ${e.phase}: done earlier, skipping (${relative(process.cwd(), e.dir) || e.dir})\n`,
        );
        break;
      case 'phase-started':
        io.err(`reproduce: ${e.phase}: started\n`);
        break;
      case 'phase-progress': {
        let sink = sinks.get(e.phase);
        if (!sink) sinks.set(e.phase, (sink = progressSink(e.parallel ? plainIo : io, e.phase, json)));
        sink.on(e.progress);
        break;
      }
      case 'phase-work-done':
        sinks.get(e.phase)?.finish(e.values);
        break;
      case 'phase-finished':
        io.err(`reproduce: ${e.phase}: done in ${formatSeconds(e.seconds)}\n`);
        break;
      case 'interrupted':
        io.err('\nreproduce: interrupted; stopping workers (finished phases are kept)\n');
        break;
      case 'report-written':
        break;
    }
  };
}

/**
 * `--budget`: the whole protocol in under 30 minutes on a 2-core machine, with the shipped baselines.
 * Each value applies only where the flag was not given on the command line.
 */
export const BUDGET_PRESET = {
  baselines: 'shipped',
  finetuneEpisodes: '2000',
  classifyEpisodes: '1000',
  rubricEpisodes: '1000',
} as const;

export function registerReproduceCmd(rl: Command, io: Io): void {
  rl.command('reproduce')
    .description(
      'the whole paper protocol, resumable: profile, both baselines, classification, SOO fine-tuning, rubric, report.md',
    )
    .requiredOption(
      '--out <dir>',
      'run folder (one subfolder per phase; finished phases are skipped on rerun)',
    )
    .option(
      '--baselines <train|shipped|dir>',
      "train both baselines here (train, the default), use the package's (shipped), or a folder with deceptive/ and honest/",
    )
    .option(
      '--budget',
      `the < 30 min preset on 2 cores: --baselines ${BUDGET_PRESET.baselines} --finetune-episodes ${BUDGET_PRESET.finetuneEpisodes} --classify-episodes ${BUDGET_PRESET.classifyEpisodes} (flags given explicitly win)`,
    )
    .option('--train-episodes <n>', 'episodes per baseline (paper: 40000)', '40000')
    .option('--finetune-episodes <n>', 'fine-tuning episodes per agent (paper: 10000)', '10000')
    .option(
      '--finetune-seeds <k>',
      'fine-tuned agents per arm (SOO, and the control without the SOO term)',
      '5',
    )
    .option('--classify-seeds <n|list>', 'classifier seeds: a count (drawn from --seed) or a list', '10')
    .option('--classify-episodes <n|list>', 'classifier budgets: n sweeps 1, 100, …, n (paper: 1500)', '1500')
    .option('--rubric-seeds <list>', 'rubric seeds', PAPER_RUBRIC_SEEDS.join(','))
    .option(
      '--rubric-protocol <blue|paper>',
      'blue: every blue against common reds (default); paper: each agent with its own red',
      'blue',
    )
    .option(
      '--rubric-episodes <n>',
      'rubric episodes per seed and agent (default: 1000 for blue, 100 for paper)',
    )
    .option(
      '--soo-value-episodes <n>',
      'episodes per classifier seed for the SOO-value plot of every agent',
      '100',
    )
    .option('--batch-size <n>', 'MADDPG minibatch for the baselines (paper: 1024)')
    .option('--update-every <n>', 'env steps between update rounds for the baselines (paper: 100)')
    .option('--profile-seconds <x>', 'seconds per throughput measurement (0 skips the profile)', '2')
    .option(
      '--seed <n>',
      'base seed: deceptive n, honest n+1, fine-tuning n+2, classifier seeds drawn from n',
      '0',
    )
    .option(
      '--jobs <n>',
      'phases run in parallel worker threads',
      String(Math.max(1, Math.min(2, cpus().length))),
    )
    .option('--json', 'progress as JSON lines; the last line is the summary')
    .addHelpText(
      'after',
      '\nStages: baselines (unless given), then 2·K fine-tuned agents and the classifier in parallel worker\nthreads, then the rubric (blue against common reds), then the SOO value of every agent; report.md at the\nend. --budget fits in under 30 min on 2 idle cores. Ctrl-C stops; rerun the same command to resume\nfrom the last finished phase.\n\nExample:\n  soo rl reproduce --out runs/rl-budget --budget\n  soo rl reproduce --out runs/rl-full --baselines train',
    )
    .action(async (opts: ReproduceOpts, cmd: Command) => {
      if (opts.budget) {
        const given = (k: string) => cmd.getOptionValueSource(k) === 'cli';
        if (!given('baselines')) opts.baselines = BUDGET_PRESET.baselines;
        if (!given('finetuneEpisodes')) opts.finetuneEpisodes = BUDGET_PRESET.finetuneEpisodes;
        if (!given('classifyEpisodes')) opts.classifyEpisodes = BUDGET_PRESET.classifyEpisodes;
        if (!given('rubricEpisodes')) opts.rubricEpisodes = BUDGET_PRESET.rubricEpisodes;
      }
      if (opts.rubricProtocol !== 'blue' && opts.rubricProtocol !== 'paper')
        throw new UsageError(`--rubric-protocol must be blue or paper, got ${opts.rubricProtocol}`);
      const seed = parseNumber('--seed', opts.seed, { integer: true });
      const config: ReproduceConfig = {
        baselines:
          opts.baselines === undefined || opts.baselines === 'train'
            ? null
            : opts.baselines === 'shipped'
              ? 'shipped'
              : resolve(opts.baselines),
        trainEpisodes: parseNumber('--train-episodes', opts.trainEpisodes, { integer: true, min: 1 }),
        finetuneEpisodes: parseNumber('--finetune-episodes', opts.finetuneEpisodes, {
          integer: true,
          min: 1,
        }),
        classifySeeds: parseSeeds('--classify-seeds', opts.classifySeeds, seed),
        classifyEpisodes: parseEpisodeCounts('--classify-episodes', opts.classifyEpisodes),
        rubricSeeds: parseIntList('--rubric-seeds', opts.rubricSeeds, 0),
        rubricEpisodes: parseNumber(
          '--rubric-episodes',
          opts.rubricEpisodes ?? (opts.rubricProtocol === 'blue' ? '1000' : '100'),
          { integer: true, min: 1 },
        ),
        rubricProtocol: opts.rubricProtocol,
        finetuneSeeds: parseNumber('--finetune-seeds', opts.finetuneSeeds, { integer: true, min: 1 }),
        sooValueEpisodes: parseNumber('--soo-value-episodes', opts.sooValueEpisodes, {
          integer: true,
          min: 1,
        }),
        maddpg: maddpgOverrides(opts),
        seed,
      };
      const profileSeconds = parseNumber('--profile-seconds', opts.profileSeconds, { min: 0 });
      const jobs = parseNumber('--jobs', opts.jobs, { integer: true, min: 1 });
      const json = Boolean(opts.json);
      const abort = new AbortController();
      const onSigint = (): void => abort.abort();
      process.on('SIGINT', onSigint);
      try {
        const report = await reproduce({
          out: opts.out,
          config,
          profileSeconds,
          jobs,
          signal: abort.signal,
          onEvent: renderEvents(io, json),
        });
        if (json) printJson(io, { event: 'summary', ...report.summary });
        else {
          io.out(report.markdown);
          io.err(`reproduce: wrote ${report.reportFile}\n`);
        }
      } catch (e) {
        if (e instanceof ReproduceSettingsError) throw new UsageError(e.message);
        if (e instanceof ReproduceInterruptedError) throw new InterruptedError(e.message);
        throw e;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
