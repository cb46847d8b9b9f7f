import { STEPS_PER_EPISODE, formatSeconds, rlFinetune, shippedBaseline } from '@soo/rl';
import type { Command } from 'commander';
import { parseNumber } from '../../args.js';
import { type Io, printJson } from '../../io.js';
import { progressSink } from './progress.js';

interface FinetuneOpts {
  from?: string;
  episodes: string;
  seed: string;
  lambda: string;
  beta: string;
  sooBatch?: string;
  progressEvery: string;
  out: string;
  json?: boolean;
}

export function registerFinetuneCmd(rl: Command, io: Io): void {
  rl.command('finetune')
    .description(
      "SOO fine-tuning of blue's policy: λ·MSE(A_self, A_other) + β·MSE(π, π_baseline) before each update",
    )
    .option('--from <dir>', 'baseline to fine-tune (default: the shipped deceptive baseline)')
    .option('--episodes <n>', 'episodes (paper: 10000)', '10000')
    .option('--seed <n>', 'seed', '0')
    .option('--lambda <x>', 'weight of the SOO term', '1')
    .option('--beta <x>', 'weight of the anchor to the baseline actions', '1')
    .option('--soo-batch <n>', 'rows per SOO step (default: the MADDPG batch size)')
    .option('--progress-every <n>', 'report every n episodes', '100')
    .requiredOption('--out <dir>', 'checkpoint folder for the fine-tuned agents')
    .option('--json', 'progress and the summary as JSON lines on stdout')
    .action(async (opts: FinetuneOpts) => {
      const episodes = parseNumber('--episodes', opts.episodes, { integer: true, min: 1 });
      const seed = parseNumber('--seed', opts.seed, { integer: true });
      const lambda = parseNumber('--lambda', opts.lambda, { min: 0 });
      const beta = parseNumber('--beta', opts.beta, { min: 0 });
      const progressEvery = parseNumber('--progress-every', opts.progressEvery, { integer: true, min: 1 });
      const batchSize =
        opts.sooBatch !== undefined
          ? parseNumber('--soo-batch', opts.sooBatch, { integer: true, min: 1 })
          : undefined;
      const from = opts.from ?? shippedBaseline('deceptive');
      const sink = progressSink(io, 'finetune', Boolean(opts.json));
      const res = await rlFinetune({
        from,
        episodes,
        seed,
        lambda,
        beta,
        ...(batchSize !== undefined ? { batchSize } : {}),
        out: opts.out,
        progressEvery,
        onProgress: (p) => sink.on(p),
      });
      const summary = {
        from,
        episodes: res.returns.length,
        seconds: res.seconds,
        env_steps_per_s: (res.returns.length * STEPS_PER_EPISODE) / res.seconds,
        soo_steps: res.sooLoss.length,
        soo_loss_first: res.sooLoss[0] ?? null,
        soo_loss_last: res.sooLoss[res.sooLoss.length - 1] ?? null,
        out: opts.out,
      };
      sink.finish();
      if (opts.json) printJson(io, { event: 'summary', ...summary });
      else {
        io.err(
          `fine-tuned ${from}: ${summary.episodes} episodes, ${summary.soo_steps} SOO steps ` +
            `(SOO term ${summary.soo_loss_first ?? 'n/a'} -> ${summary.soo_loss_last ?? 'n/a'}) in ${formatSeconds(res.seconds)}; wrote ${opts.out}\n`,
        );
      }
    });
}
