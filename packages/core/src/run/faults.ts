/**
 * Fault injection for the reliability tests (never set in normal use): `SOO_FAULT=<point>[@<n>][,...]`.
 *
 *   kill:<point>@n     SIGKILL this process the n-th time (1-based, default 1) the run passes <point>
 *   enospc:<point>@n   throw ENOSPC (as a full disk would) the n-th time the run passes <point>
 *
 * Points: ckpt-begin, ckpt-adapter (adapter written, optimizer not yet), ckpt-optimizer, ckpt-swap (old
 * checkpoint moved aside, new one not yet in place), ckpt-done, final-adapter (before the final adapter is
 * written), completed (after it, before the run is marked completed), step (after each optimizer step).
 */
const counts = new Map<string, number>();
let parsed: Array<{ kind: 'kill' | 'enospc'; point: string; n: number }> | null = null;

function faults(): Array<{ kind: 'kill' | 'enospc'; point: string; n: number }> {
  if (parsed) return parsed;
  parsed = [];
  for (const item of (process.env.SOO_FAULT ?? '').split(',')) {
    const m = /^(kill|enospc):([a-z-]+)(?:@(\d+))?$/.exec(item.trim());
    if (m) parsed.push({ kind: m[1] as 'kill' | 'enospc', point: m[2] as string, n: Number(m[3] ?? 1) });
  }
  return parsed;
}

/** Mark that the run passed `point`; acts when SOO_FAULT asks for it. */
export function faultPoint(point: string): void {
  if (!process.env.SOO_FAULT) return;
  const c = (counts.get(point) ?? 0) + 1;
  counts.set(point, c);
  for (const f of faults()) {
    if (f.point !== point || f.n !== c) continue;
    if (f.kind === 'kill') process.kill(process.pid, 'SIGKILL');
    const e = new Error(
      `ENOSPC: no space left on device, write (simulated at ${point})`,
    ) as NodeJS.ErrnoException;
    e.code = 'ENOSPC';
    e.errno = -28;
    throw e;
  }
}

/** Forget counts (tests in one process). */
export function resetFaults(): void {
  counts.clear();
  parsed = null;
}
