import { UsageError } from './errors.js';

/** Parse "1,2,3" (spaces allowed) into integers; the flag name goes into the error. */
export function parseIds(flag: string, value: string): number[] {
  const parts = value.split(/[\s,]+/).filter((p) => p.length > 0);
  if (parts.length === 0) throw new UsageError(`${flag}: expected comma-separated token ids, got "${value}"`);
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`${flag}: "${p}" is not a token id (a non-negative integer)`);
    return n;
  });
}

export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function parseNumber(
  flag: string,
  value: string,
  opts: { integer?: boolean; min?: number } = {},
): number {
  const n = Number(value);
  if (
    !Number.isFinite(n) ||
    (opts.integer && !Number.isInteger(n)) ||
    (opts.min !== undefined && n < opts.min)
  ) {
    const what = opts.integer ? 'an integer' : 'a number';
    throw new UsageError(
      `${flag}: expected ${what}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, got "${value}"`,
    );
  }
  return n;
}
