import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { rlProfile, type RlProfileResult } from '@soo/rl';
import type { Command } from 'commander';
import { parseNumber } from '../../args.js';
import { UsageError } from '../../errors.js';
import { type Io, printJson } from '../../io.js';
import { parseIntList } from './options.js';
import { progressSink } from './progress.js';

interface ProfileOpts {
  seconds: string;
  batchSizes: string;
  out?: string;
  json?: boolean;
}

function profileTable(r: RlProfileResult): string {
  const lines = [
    `env steps/s (random actions)              ${Math.round(r.envStepsPerSec)}`,
    `rollout steps/s (policies + noise + buffer) ${Math.round(r.rolloutStepsPerSec)}`,
  ];
  for (const u of r.updates)
    lines.push(`update rounds/s, batch ${u.batchSize}`.padEnd(43) + ` ${u.roundsPerSec.toFixed(1)}`);
  return lines.join('\n') + '\n';
}

export function registerProfileCmd(rl: Command, io: Io): void {
  rl.command('profile')
    .description('measure env steps/s, rollout steps/s and MADDPG update rounds/s on this machine')
    .option('--seconds <x>', 'seconds per measurement', '2')
    .option('--batch-sizes <list>', 'batch sizes for the update measurement', '1024,256')
    .option('--out <file>', 'write the result as JSON')
    .option('--json', 'print the result as one JSON line')
    .action(async (opts: ProfileOpts) => {
      const seconds = parseNumber('--seconds', opts.seconds, { min: 0 });
      if (seconds <= 0) throw new UsageError(`--seconds: expected a number > 0, got "${opts.seconds}"`);
      const batchSizes = parseIntList('--batch-sizes', opts.batchSizes, 1);
      const sink = progressSink(io, 'profile', Boolean(opts.json));
      const res = await rlProfile({ seconds, batchSizes, onProgress: (p) => sink.on(p) });
      const record = { ...res, loadavg1m: loadavg()[0], cores: cpus().length };
      if (opts.out) {
        await mkdir(dirname(resolve(opts.out)), { recursive: true });
        await writeFile(opts.out, JSON.stringify(record, null, 2) + '\n');
      }
      if (opts.json) printJson(io, record);
      else io.out(profileTable(res));
    });
}
