import { refuseVirtualFs } from '@soo/core';
import { Command, CommanderError } from 'commander';
import { registerCapability } from './commands/capability.js';
import { registerDemo } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerEval } from './commands/eval.js';
import { registerExperiment } from './commands/experiment.js';
import { registerForward } from './commands/forward.js';
import { registerLatent } from './commands/latent.js';
import { registerInspect } from './commands/inspect.js';
import { registerRl } from './commands/rl/index.js';
import { registerScore } from './commands/score.js';
import { registerStep } from './commands/step.js';
import { registerTrain } from './commands/train.js';
import { registerTokenize } from './commands/tokenize.js';
import { registerToy } from './commands/toy.js';
import { EXIT_OK, EXIT_USAGE, reportError } from './errors.js';
import { type Io, processIo } from './io.js';

export { UsageError, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from './errors.js';
export type { Io } from './io.js';

export const VERSION = '0.1.0';

/** Build the `soo` program. Every command registers itself here. */
export function createProgram(io: Io = processIo): Command {
  const program = new Command('soo')
    .description(
      'Self-Other Overlap fine-tuning: inspect models, tokenize, compute SOO steps, train and evaluate',
    )
    .version(VERSION)
    .option('--verbose', 'print stacks on errors')
    .showHelpAfterError(false)
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  registerInspect(program, io);
  registerTokenize(program, io);
  registerForward(program, io);
  registerStep(program, io);
  registerScore(program, io);
  registerEval(program, io);
  registerLatent(program, io);
  registerCapability(program, io);
  registerTrain(program, io);
  registerExperiment(program, io);
  registerRl(program, io);
  registerToy(program, io);
  registerDemo(program, io);
  registerExport(program, io);
  program.commands.forEach((c) =>
    c.configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) }),
  );
  return program;
}

/**
 * Run `soo` with the given arguments (without `node` and the script name) and return the exit code:
 * 0 ok, 1 runtime error, 2 usage error.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const program = createProgram(io);
  program.exitOverride();
  // nested groups too (`soo rl train`), so their usage errors also return codes instead of exiting
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  all(program).forEach((c) => c.exitOverride());
  const verbose = argv.includes('--verbose');
  try {
    // Every command: an output under /proc or /sys is refused before anything runs (a recursive mkdir
    // there never returns in Node).
    argv.forEach((a, i) => {
      if (a === '--out' && argv[i + 1] !== undefined) refuseVirtualFs(argv[i + 1] as string, '--out');
      else if (a.startsWith('--out=')) refuseVirtualFs(a.slice('--out='.length), '--out');
    });
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return EXIT_OK;
      return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    return reportError(io, e, verbose);
  }
}
