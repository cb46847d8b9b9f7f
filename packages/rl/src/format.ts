/** Env steps per episode of the Physical Deception env (rl.md D.4). */
export const STEPS_PER_EPISODE = 50;

/** A duration for people: `12.3 s`, `4 min 5 s`, `1 h 02 min`. */
export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`
    : `${m} min ${Math.round(s % 60)} s`;
}

/** Mean return of `agent` (0 red, 1 blue) over the last `k` episodes. */
export function tailMean(returns: readonly number[][], k: number, agent: number): number {
  const tail = returns.slice(-k);
  return tail.reduce((s, r) => s + r[agent]!, 0) / Math.max(1, tail.length);
}
