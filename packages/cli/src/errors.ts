import { isSooError } from '@soo/core';
import type { Io } from './io.js';

/** A command-line usage problem (bad flag combination): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The user interrupted (Ctrl-C) after state was saved: exit code 130, as shells expect. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** Core's messages name API functions; at the command line, name the command that does the same. */
export function forCommandLine(message: string): string {
  return message.replace(/\(listHookPoints lists them\)/g, '(`soo inspect <model>` lists them)');
}

/** Print one line for an error (stack with --verbose) and return the exit code. */
export function reportError(io: Io, e: unknown, verbose: boolean): number {
  if (e instanceof UsageError) {
    io.err(`soo: ${e.message}\n(see soo <command> --help)\n`);
    return EXIT_USAGE;
  }
  if (e instanceof InterruptedError) {
    io.err(`soo: ${e.message}\n`);
    return EXIT_INTERRUPTED;
  }
  if (isSooError(e)) {
    io.err(`soo: error [${e.code}]: ${forCommandLine(e.message)}\n`);
  } else if (e instanceof Error) {
    io.err(`soo: unexpected error: ${e.message}\n`);
  } else {
    io.err(`soo: unexpected error: ${String(e)}\n`);
  }
  if (verbose && e instanceof Error && e.stack) io.err(e.stack + '\n');
  else io.err('(run with --verbose for the stack)\n');
  return EXIT_RUNTIME;
}
