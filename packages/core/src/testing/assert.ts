/**
 * Assertions of the conformance suite. Plain errors (no test framework), so the suite runs from vitest and
 * programmatically alike; every message names what was compared and the error as a share of its budget.
 */
import { relativeError } from './fixtures.js';

/** A conformance check found the backend wrong. */
export class ConformanceFailure extends Error {
  override name = 'ConformanceFailure';
}

/** Where measured errors go (the suite's `log` option). */
export type ErrorLog = (label: string, error: number, budget: number) => void;

export function fail(message: string): never {
  throw new ConformanceFailure(message);
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) fail(message);
}

export function isAllZero(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i] as number)) return false;
  return true;
}

export function sameShape(label: string, got: readonly number[] | undefined, want: readonly number[]): void {
  check(
    got !== undefined && got.length === want.length && got.every((d, i) => d === want[i]),
    `${label}: shape [${got?.join(', ') ?? 'missing'}], expected [${want.join(', ')}]`,
  );
}

/**
 * Relative error ‖out − ref‖ / ‖ref‖ below `budget`; a reference of all zeros requires exact zeros (a
 * relative error against zero is undefined). Returns the error.
 */
export function close(
  label: string,
  out: ArrayLike<number> | undefined,
  ref: ArrayLike<number>,
  budget: number,
  log?: ErrorLog,
): number {
  if (!out) fail(`${label}: missing`);
  check(out.length === ref.length, `${label}: ${out.length} values, expected ${ref.length}`);
  check(allFinite(out), `${label}: has non-finite values`);
  if (isAllZero(ref)) {
    check(isAllZero(out), `${label}: the reference is all zeros, expected exact zeros`);
    return 0;
  }
  const err = relativeError(out, ref);
  log?.(label, err, budget);
  check(
    err < budget,
    `${label}: relative error ${err.toExponential(2)} is ${((100 * err) / budget).toFixed(0)}% of the ${budget.toExponential(1)} budget`,
  );
  return err;
}

/** Scalars: |out − ref| / |ref| below `budget` (|out − ref| below `budget` when ref is 0). */
export function closeScalar(label: string, out: number, ref: number, budget: number, log?: ErrorLog): number {
  check(Number.isFinite(out), `${label}: ${out} is not finite`);
  const err = ref === 0 ? Math.abs(out) : Math.abs(out - ref) / Math.abs(ref);
  log?.(label, err, budget);
  check(
    err < budget,
    `${label}: ${out} vs reference ${ref}: relative error ${err.toExponential(2)} is ${((100 * err) / budget).toFixed(0)}% of the ${budget.toExponential(1)} budget`,
  );
  return err;
}

/** Bit-identical float arrays. */
export function identical(label: string, out: Float32Array | undefined, ref: Float32Array): void {
  if (!out) fail(`${label}: missing`);
  check(out.length === ref.length, `${label}: ${out.length} values, expected ${ref.length}`);
  const a = new Uint32Array(out.buffer, out.byteOffset, out.length);
  const b = new Uint32Array(ref.buffer, ref.byteOffset, ref.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) fail(`${label}: not bit-identical (first difference at ${i}: ${out[i]} vs ${ref[i]})`);
  }
}
