import type { RlProgress } from '@soo/rl';
import type { Io } from '../../io.js';
import { createProgress, type Progress } from '../../progress.js';

function numeric(detail: RlProgress['detail']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(detail ?? {}))
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

/** A progress bar for `@soo/rl`'s progress reports, created on the first one (when the total is known). */
export function progressSink(io: Io, label: string, json: boolean) {
  let bar: Progress | undefined;
  let total = 0;
  return {
    on(p: RlProgress): void {
      bar ??= createProgress(io, { label, total: p.total, json });
      total = p.total;
      bar.update(p.done, numeric(p.detail));
    },
    /** The work is complete: the final line shows done = total (reports may come before each unit). */
    finish(values?: Record<string, number>): void {
      bar?.finish(values, total);
    },
  };
}
