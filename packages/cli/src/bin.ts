#!/usr/bin/env node
import { main } from './index.js';

// A closed pipe (`soo inspect … | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Never hang after the command is done: a filesystem call that never returns (a stalled mount; the command
// already reported it as FS_TIMEOUT) would keep the event loop alive. The timer does not keep it alive itself.
setTimeout(() => process.exit(code), 5_000).unref();
