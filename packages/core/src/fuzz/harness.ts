/**
 * The fuzz harness: runs a reader on generated and mutated inputs (fast-check: reproducible from a seed,
 * failing inputs shrunk to a small case) and checks one property per case:
 *
 *   either a correct result, or a typed `SooError` naming the file and the field;
 *   no other exception, no hang (each case under a time budget), no memory blow-up.
 *
 * fast-check rather than a hand-rolled loop: it is the maintained property-based testing library for
 * TypeScript, its runs are reproducible from (seed, path), and it shrinks a failure to a minimal input,
 * which is what makes a fuzz failure actionable.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { SooError } from '../errors.js';

export interface FuzzTarget<T> {
  /** Short name ("safetensors", "config.json", ...). */
  name: string;
  /** What the target feeds the reader. */
  covers: string;
  arbitrary: fc.Arbitrary<T>;
  /** Write `input` under `dir` and run the reader; the resolved value is the result. */
  run(input: T, dir: string): Promise<unknown>;
  /** Check a result that came back without an error (throw when it is wrong). */
  check?(result: unknown, input: T): void;
}

export interface FuzzOptions {
  runs: number;
  seed: number;
  /** Budget per case in ms (default 2000). */
  caseBudgetMs?: number;
  /** Growth of array buffers + heap allowed in one case (default 256 MiB). */
  memoryBudgetBytes?: number;
  /** Called every 100 cases. */
  onProgress?: (done: number) => void;
}

export interface FuzzReport {
  target: string;
  covers: string;
  seed: number;
  /** Cases run (generated + mutated inputs; shrinking runs not counted). */
  cases: number;
  /** Readers that returned a (checked) result. */
  results: number;
  /** Typed SooErrors naming file and field. */
  typedErrors: number;
  /** Error codes seen, with counts. */
  codes: Record<string, number>;
  crashes: number;
  hangs: number;
  memoryBlowUps: number;
  slowestCaseMs: number;
  seconds: number;
  /** The first failure, shrunk: message and the input (truncated). */
  failure?: { kind: 'crash' | 'hang' | 'memory'; message: string; input: string };
}

class FuzzFailure extends Error {
  constructor(
    readonly kind: 'crash' | 'hang' | 'memory',
    message: string,
  ) {
    super(message);
  }
}

/** A scratch folder on tmpfs when there is one (10 000 cases write 10 000 files). */
export function fuzzScratch(name: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(path.join(base, `soo-fuzz-${name.replace(/[^a-z0-9]+/gi, '-')}-`));
}

function describeInput(input: unknown): string {
  try {
    if (input instanceof Uint8Array)
      return `<${input.length} bytes> ` + Buffer.from(input.subarray(0, 200)).toString('latin1');
    const s =
      typeof input === 'string'
        ? input
        : JSON.stringify(input, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v));
    return s.length > 600 ? s.slice(0, 600) + '...' : s;
  } catch {
    return String(input);
  }
}

/** Run `target` for `opts.runs` cases; never throws for a reader's failure (see the report). */
export async function fuzz<T>(target: FuzzTarget<T>, opts: FuzzOptions): Promise<FuzzReport> {
  const budget = opts.caseBudgetMs ?? 2000;
  const memBudget = opts.memoryBudgetBytes ?? 256 * 2 ** 20;
  const dir = fuzzScratch(target.name);
  const report: FuzzReport = {
    target: target.name,
    covers: target.covers,
    seed: opts.seed,
    cases: 0,
    results: 0,
    typedErrors: 0,
    codes: {},
    crashes: 0,
    hangs: 0,
    memoryBlowUps: 0,
    slowestCaseMs: 0,
    seconds: 0,
  };
  let shrinking = false;
  const t0 = performance.now();
  const property = fc.asyncProperty(target.arbitrary, async (input) => {
    if (!shrinking) {
      report.cases++;
      if (report.cases % 100 === 0) opts.onProgress?.(report.cases);
    }
    const mem0 = process.memoryUsage();
    const c0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
    try {
      const value = await Promise.race([
        target.run(input, dir),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new FuzzFailure('hang', `no answer within ${budget} ms`)), budget);
        }),
      ]);
      outcome = { ok: true, value };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
    const ms = performance.now() - c0;
    if (!shrinking) report.slowestCaseMs = Math.max(report.slowestCaseMs, ms);
    const mem1 = process.memoryUsage();
    const grew = mem1.arrayBuffers - mem0.arrayBuffers + (mem1.heapUsed - mem0.heapUsed);
    const fail = (f: FuzzFailure): never => {
      if (!shrinking) {
        if (f.kind === 'crash') report.crashes++;
        else if (f.kind === 'hang') report.hangs++;
        else report.memoryBlowUps++;
      }
      // fast-check generates no new case after a failure: every later run is shrinking it
      shrinking = true;
      throw f;
    };
    if (!outcome.ok && outcome.error instanceof FuzzFailure) fail(outcome.error);
    if (ms > budget) fail(new FuzzFailure('hang', `took ${ms.toFixed(0)} ms (budget ${budget} ms)`));
    if (grew > memBudget)
      fail(new FuzzFailure('memory', `grew memory by ${(grew / 2 ** 20).toFixed(0)} MiB in one case`));
    if (outcome.ok) {
      try {
        target.check?.(outcome.value, input);
      } catch (e) {
        fail(new FuzzFailure('crash', `wrong result: ${(e as Error).message}`));
      }
      if (!shrinking) report.results++;
      return;
    }
    const e = outcome.error;
    if (!(e instanceof SooError)) {
      fail(
        new FuzzFailure(
          'crash',
          `untyped ${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)}`,
        ),
      );
    }
    const se = e as SooError;
    if ((!se.file || !se.field) && process.env.FUZZ_SURVEY) {
      const key = `${se.code} ${se.file ? 'field' : 'file'}: ${se.message.replace(se.file ?? '\u0000', '<file>').slice(0, 140)}`;
      (report as FuzzReport & { survey?: Record<string, number> }).survey ??= {};
      const sv = (report as FuzzReport & { survey: Record<string, number> }).survey;
      sv[key] = (sv[key] ?? 0) + 1;
    } else if (!se.file || !se.field) {
      fail(
        new FuzzFailure('crash', `SooError ${se.code} without ${se.file ? 'field' : 'file'}: ${se.message}`),
      );
    }
    if (!shrinking) {
      report.typedErrors++;
      report.codes[se.code] = (report.codes[se.code] ?? 0) + 1;
    }
  });
  const details = await fc.check(property, { numRuns: opts.runs, seed: opts.seed });
  if (details.failed) {
    const err = details.errorInstance as FuzzFailure | undefined;
    report.failure = {
      kind: err instanceof FuzzFailure ? err.kind : 'crash',
      message: err?.message ?? 'failed',
      input: describeInput(details.counterexample?.[0]),
    };
  }
  report.seconds = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });
  return report;
}
