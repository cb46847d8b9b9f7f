import { classifySummary, formatSeconds, rlClassify, shippedBaseline, writeClassify } from '@soo/rl';
import type { Command } from 'commander';
import { parseNumber } from '../../args.js';
import { type Io, printJson } from '../../io.js';
import { parseEpisodeCounts, parseSeeds } from './options.js';
import { progressSink } from './progress.js';

interface ClassifyOpts {
  deceptive?: string;
  honest?: string;
  seeds: string;
  seed: string;
  episodes: string;
  out?: string;
  json?: boolean;
}

export function registerClassifyCmd(rl: Command, io: Io): void {
  rl.command('classify')
    .description('classify deceptive vs honest agents by their mean SOO value (accuracy per episodes/seed)')
    .option('--deceptive <dir>', 'deceptive checkpoint (default: the shipped baseline)')
    .option('--honest <dir>', 'honest checkpoint (default: the shipped baseline)')
    .option(
      '--seeds <n|list>',
      'number of evaluation seeds (drawn from --seed), or a comma-separated list',
      '10',
    )
    .option('--seed <n>', 'seed for drawing the evaluation seeds', '0')
    .option(
      '--episodes <n|list>',
      'episodes per seed: n sweeps the paper budgets 1, 100, 200, …, n (paper: 1500); or a comma-separated list',
      '500',
    )
    .option('--out <dir>', 'write classify.json and table.txt here')
    .option('--json', 'progress as JSON lines; the last line is {"accuracy": …} at the largest budget')
    .addHelpText(
      'after',
      '\nA seed is classified correctly iff score(honest) < score(deceptive), the score being the mean SOO value\nover the self-condition steps of the first n episodes.\n\nExample:\n  soo rl classify --seeds 10 --episodes 1500',
    )
    .action(async (opts: ClassifyOpts) => {
      const seeds = parseSeeds('--seeds', opts.seeds, parseNumber('--seed', opts.seed, { integer: true }));
      const episodeCounts = parseEpisodeCounts('--episodes', opts.episodes);
      const deceptive = opts.deceptive ?? shippedBaseline('deceptive');
      const honest = opts.honest ?? shippedBaseline('honest');
      const sink = progressSink(io, 'classify', Boolean(opts.json));
      const t0 = performance.now();
      const res = await rlClassify({
        deceptive,
        honest,
        seeds,
        episodeCounts,
        onProgress: (p) => sink.on(p),
      });
      const seconds = (performance.now() - t0) / 1000;
      const summary = classifySummary(res, seconds, deceptive, honest);
      sink.finish({ accuracy: summary.accuracy });
      if (opts.out) await writeClassify(opts.out, res, summary);
      if (opts.json) printJson(io, summary);
      else {
        io.out(res.table + '\n');
        io.err(
          `accuracy ${(100 * summary.accuracy).toFixed(0)}% (${summary.correct}/${seeds.length}) at ${summary.episodes} ` +
            `episodes/seed; ${formatSeconds(seconds)}${opts.out ? `; wrote ${opts.out}` : ''}\n`,
        );
      }
    });
}
