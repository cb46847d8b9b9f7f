import type { Io } from './io.js';

/** An Io that records what a command prints (for tests and embedding). */
export function captureIo(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTTY: false,
    stdout: () => out,
    stderr: () => err,
  };
}

/** Run `soo <args>` in-process through `main` (exit codes 0 / 1 / 2 / 130) and capture what it prints. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('./index.js');
  const io = captureIo();
  const code = await main(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

/** A one-node Slurm cluster on localhost for tests (installed with apt as root when missing). */
export { ensureSlurm, startTestCluster, type TestCluster } from './slurm/test-cluster.js';
