import { STEPS_PER_EPISODE, formatSeconds, rlTrain, tailMean } from '@soo/rl';
import type { Command } from 'commander';
import { parseNumber } from '../../args.js';
import { type Io, printJson } from '../../io.js';
import { maddpgOverrides, parseReward } from './options.js';
import { progressSink } from './progress.js';

interface TrainOpts {
  reward: string;
  episodes: string;
  seed: string;
  batchSize?: string;
  updateEvery?: string;
  progressEvery: string;
  out: string;
  json?: boolean;
  checkpointEvery: string;
  resume?: boolean;
}

export function registerTrainCmd(rl: Command, io: Io): void {
  rl.command('train')
    .description(
      'train a MADDPG baseline on the SOO Physical Deception env (deceptive or honest blue reward)',
    )
    .requiredOption('--reward <r>', "blue's reward: deceptive | honest")
    .option('--episodes <n>', 'episodes of 50 steps (paper: 40000)', '40000')
    .option('--seed <n>', 'seed for the env, networks and noise', '0')
    .option('--batch-size <n>', 'MADDPG minibatch (paper: 1024)')
    .option('--update-every <n>', 'env steps between update rounds (paper: 100)')
    .option('--progress-every <n>', 'report every n episodes', '100')
    .requiredOption('--out <dir>', 'checkpoint folder (maddpg.json, maddpg.safetensors, returns.json)')
    .option(
      '--checkpoint-every <n>',
      'episodes between resumable checkpoints in <out>/checkpoint (0: none)',
      '1000',
    )
    .option('--resume', 'continue from <out>/checkpoint (same flags; bit-identical to an uninterrupted run)')
    .option('--json', 'progress and the summary as JSON lines on stdout')
    .addHelpText(
      'after',
      '\nA paper baseline (40000 episodes) takes about an hour on one core.\n\nExample:\n  soo rl train --reward honest --seed 1 --out runs/honest',
    )
    .action(async (opts: TrainOpts) => {
      const reward = parseReward(opts.reward);
      const episodes = parseNumber('--episodes', opts.episodes, { integer: true, min: 1 });
      const seed = parseNumber('--seed', opts.seed, { integer: true });
      const progressEvery = parseNumber('--progress-every', opts.progressEvery, { integer: true, min: 1 });
      const sink = progressSink(io, `train ${reward}`, Boolean(opts.json));
      const res = await rlTrain({
        reward,
        episodes,
        seed,
        out: opts.out,
        maddpg: maddpgOverrides(opts),
        progressEvery,
        onProgress: (p) => sink.on(p),
        checkpointEvery: parseNumber('--checkpoint-every', opts.checkpointEvery, { integer: true, min: 0 }),
        resume: Boolean(opts.resume),
      });
      if (res.resumedFrom) io.err(`resumed from episode ${res.resumedFrom}\n`);
      const summary = {
        reward,
        episodes: res.returns.length,
        seconds: res.seconds,
        env_steps_per_s: (res.returns.length * STEPS_PER_EPISODE) / res.seconds,
        red_return: tailMean(res.returns, progressEvery, 0),
        blue_return: tailMean(res.returns, progressEvery, 1),
        out: opts.out,
      };
      sink.finish({ red: summary.red_return, blue: summary.blue_return });
      if (opts.json) printJson(io, { event: 'summary', ...summary });
      else {
        io.err(
          `trained ${reward} baseline: ${summary.episodes} episodes in ${formatSeconds(res.seconds)} ` +
            `(${Math.round(summary.env_steps_per_s)} env steps/s); wrote ${opts.out}\n`,
        );
      }
    });
}
