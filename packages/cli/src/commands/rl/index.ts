/**
 * `soo rl …`: the SOO paper's RL experiments (Physical Deception, MADDPG, SOO value, fine-tuning, rubric).
 * The work is in `@soo/rl`; these files parse flags and render progress.
 */
import type { Command } from 'commander';
import type { Io } from '../../io.js';
import { registerClassifyCmd } from './classify.js';
import { registerFinetuneCmd } from './finetune.js';
import { registerProfileCmd } from './profile.js';
import { registerReproduceCmd } from './reproduce.js';
import { registerRubricCmd } from './rubric.js';
import { registerTrainCmd } from './train.js';

export function registerRl(program: Command, io: Io): void {
  const rl = program
    .command('rl')
    .description(
      'RL experiments: train baselines, classify by SOO value, SOO fine-tuning, rubric, full reproduction',
    );
  registerTrainCmd(rl, io);
  registerClassifyCmd(rl, io);
  registerFinetuneCmd(rl, io);
  registerProfileCmd(rl, io);
  registerRubricCmd(rl, io);
  registerReproduceCmd(rl, io);
  for (const c of [rl, ...rl.commands])
    c.configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
}
