import type { Io } from './io.js';

export interface ProgressOptions {
  /** What is being counted ("step", "prompt"). */
  label: string;
  total: number;
  /** JSON lines on stdout instead of a bar. */
  json: boolean;
}

export interface Progress {
  /** Advance to `done` (absolute) with named values (loss, ...). */
  update(done: number, values?: Record<string, number>): void;
  /**
   * Final line; the bar stays on screen. `done` (default: the last update) sets the final count, e.g. the
   * total when the work reports progress before each unit. Without a TTY the final line is not repeated when
   * the last update already printed the same count and values.
   */
  finish(values?: Record<string, number>, done?: number): void;
  /**
   * `done` units were finished before this process started (a resumed run): elapsed time and the rate (so
   * the ETA) count from now and from `done`, not from 0.
   */
  rebase(done: number): void;
}

/** Seconds between heartbeat lines (`SOO_HEARTBEAT_S` overrides; tests set it low). */
function heartbeatSeconds(): number {
  const s = Number(process.env.SOO_HEARTBEAT_S);
  return Number.isFinite(s) && s > 0 ? s : 20;
}

/**
 * A heartbeat for a long phase that has no steps to count (loading weights, writing a checkpoint): a line
 * every `SOO_HEARTBEAT_S` seconds (default 20) while it runs, so that a slow phase never looks like a hang.
 * Nothing is printed for a phase shorter than one interval.
 */
export function heartbeat(io: Io, what: string, json: boolean): { stop: () => void } {
  const start = Date.now();
  const timer = setInterval(() => {
    const s = Math.round((Date.now() - start) / 1000);
    if (json) io.out(JSON.stringify({ event: 'heartbeat', phase: what, elapsed_s: s }) + '\n');
    else io.err(`... still ${what} (${fmtDuration(s)})\n`);
  }, heartbeatSeconds() * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m >= 60
    ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
    : `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

function fmtValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(3);
}

/**
 * Progress for long work: a redrawn bar with rate and ETA when stderr is a terminal, a JSON object per
 * update on stdout with `--json` (`{"event":"progress","label","done","total","elapsed_s","eta_s",...}`),
 * and plain lines every 10% otherwise (CI logs).
 */
export function createProgress(io: Io, opts: ProgressOptions): Progress {
  let start = Date.now();
  let base = 0;
  let lastPlain = -1;
  let lastPlainLine = '';
  const render = (done: number, values: Record<string, number>, final: boolean): void => {
    const elapsed = (Date.now() - start) / 1000;
    const rate = done > base ? elapsed / (done - base) : NaN;
    const eta = done > base ? rate * (opts.total - done) : NaN;
    if (opts.json) {
      io.out(
        JSON.stringify({
          event: final ? 'done' : 'progress',
          label: opts.label,
          done,
          total: opts.total,
          elapsed_s: Number(elapsed.toFixed(3)),
          eta_s: Number.isFinite(eta) ? Number(eta.toFixed(3)) : null,
          ...values,
        }) + '\n',
      );
      return;
    }
    const vals = Object.entries(values)
      .map(([k, v]) => `${k} ${fmtValue(v)}`)
      .join('  ');
    const frac = opts.total > 0 ? Math.min(1, done / opts.total) : 1;
    if (io.isTTY) {
      const width = 24;
      const filled = Math.round(frac * width);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      io.err(
        `\r${opts.label} ${bar} ${done}/${opts.total}  ${vals}  ${fmtDuration(elapsed)} < ETA ${fmtDuration(eta)}\x1b[K${final ? '\n' : ''}`,
      );
      return;
    }
    const decile = Math.floor(frac * 10);
    const key = `${done}/${opts.total}  ${vals}`;
    if (final ? key !== lastPlainLine : decile > lastPlain) {
      lastPlain = decile;
      lastPlainLine = key;
      io.err(`${opts.label} ${key}  elapsed ${fmtDuration(elapsed)}  eta ${fmtDuration(eta)}\n`);
    }
  };
  let lastDone = 0;
  let lastValues: Record<string, number> = {};
  return {
    update(done, values = {}) {
      lastDone = done;
      lastValues = values;
      render(done, values, false);
    },
    finish(values, done) {
      render(done ?? lastDone, values ?? lastValues, true);
    },
    rebase(done) {
      start = Date.now();
      base = done;
      lastDone = done;
      lastPlain = Math.floor((opts.total > 0 ? Math.min(1, done / opts.total) : 1) * 10);
    },
  };
}
