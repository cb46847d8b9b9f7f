import { PAPER_RUBRIC_SEEDS, rlRubric, shippedBaseline } from '@soo/rl';
import type { Command } from 'commander';
import { parseNumber } from '../../args.js';
import { UsageError } from '../../errors.js';
import { type Io, printJson } from '../../io.js';
import { parseIntList } from './options.js';
import { progressSink } from './progress.js';

interface RubricOpts {
  deceptive?: string;
  honest?: string;
  soo?: string;
  condition: string[];
  seeds: string;
  episodes: string;
  out: string;
  json?: boolean;
}

function parseConditions(opts: RubricOpts): Record<string, string> {
  const conditions: Record<string, string> = {};
  for (const c of opts.condition) {
    const m = /^([A-Za-z0-9_-]+)=(.+)$/.exec(c);
    if (!m)
      throw new UsageError(`--condition: expected name=dir (name of letters, digits, - or _), got "${c}"`);
    conditions[m[1]!] = m[2]!;
  }
  return conditions;
}

export function registerRubricCmd(rl: Command, io: Io): void {
  rl.command('rubric')
    .description(
      'deception rubric: heatmaps of deceptive moves and grid-MSE behavioural differences between agents',
    )
    .option('--deceptive <dir>', 'deceptive checkpoint (default: the shipped baseline)')
    .option('--honest <dir>', 'honest checkpoint (default: the shipped baseline)')
    .option('--soo <dir>', 'SOO fine-tuned checkpoint')
    .option(
      '--condition <name=dir>',
      'more conditions (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--no-baselines', 'compare only --soo and --condition agents')
    .option('--seeds <list>', 'evaluation seeds', PAPER_RUBRIC_SEEDS.join(','))
    .option('--episodes <n>', 'evaluation episodes per seed and agent', '100')
    .option(
      '--noise-floor <offset>',
      'also score every agent against itself on seeds shifted by <offset> (the rubric\'s noise floor, "X↔X′")',
    )
    .option(
      '--opponent <name>',
      'run every agent against the red of condition <name> (e.g. deceptive), so grids differ by blue only',
    )
    .requiredOption('--out <dir>', 'folder for heatmap_<name>.svg, trajectory_<name>.svg and rubric.json')
    .option('--json', 'progress and the differences as JSON lines on stdout')
    .action(async (opts: RubricOpts & { baselines: boolean; noiseFloor?: string; opponent?: string }) => {
      const seeds = parseIntList('--seeds', opts.seeds, 0);
      const episodes = parseNumber('--episodes', opts.episodes, { integer: true, min: 1 });
      const extra = parseConditions(opts);
      const conditions: Record<string, string> = {};
      if (opts.baselines) {
        conditions.deceptive = opts.deceptive ?? shippedBaseline('deceptive');
        conditions.honest = opts.honest ?? shippedBaseline('honest');
      }
      if (opts.soo) conditions.soo = opts.soo;
      Object.assign(conditions, extra);
      if (Object.keys(conditions).length < 2)
        throw new UsageError('rubric needs at least two agents to compare');
      const sink = progressSink(io, 'rubric', Boolean(opts.json));
      const res = await rlRubric({
        conditions,
        seeds,
        episodes,
        out: opts.out,
        ...(opts.noiseFloor !== undefined
          ? { noiseFloorSeedOffset: parseNumber('--noise-floor', opts.noiseFloor, { integer: true, min: 1 }) }
          : {}),
        ...(opts.opponent !== undefined ? { opponent: { from: opts.opponent } } : {}),
        onProgress: (p) => sink.on(p),
      });
      sink.finish();
      const differences = Object.fromEntries(
        Object.entries(res.differences).map(([k, d]) => [k, { mean: d.mean, sd: d.sd, perSeed: d.perSeed }]),
      );
      const floors = res.noiseFloor ?? {};
      if (opts.json)
        printJson(io, {
          event: 'summary',
          differences,
          ...(res.noiseFloor ? { noiseFloor: floors } : {}),
          files: res.files,
        });
      else {
        io.out(rubricTable({ ...res.differences, ...floors }));
        io.err(`wrote ${res.files.length} files to ${opts.out}\n`);
      }
    });
}

function rubricTable(differences: Record<string, { mean: number; sd: number }>): string {
  const lines = ['pair                      grid MSE (mean ± sd over seeds)'];
  for (const [k, d] of Object.entries(differences))
    lines.push(`${k.padEnd(26)}${d.mean.toPrecision(4)} ± ${d.sd.toPrecision(3)}`);
  return lines.join('\n') + '\n';
}
