/**
 * The backend conformance suite, contract v2 (`backend-spec.ts`): every primitive and option of a `Backend`
 * checked against the HF/PEFT oracle fixtures that ship in `@soo/core/fixtures`, each fixture with both
 * config formats.
 *
 *   import { runBackendConformance } from '@soo/core/testing';
 *   runBackendConformance('my-backend', () => createMyBackend());                     // vitest
 *   runBackendConformance('my-backend', () => createMyBackend(), { dtype: 'bfloat16' });
 *   const report = await checkBackendConformance(() => createMyBackend(), { fixtures: ['llama'] });  // no vitest
 *
 * The checks (ids usable in `skip` and `only`; `skip` also takes a capability group `train` / `hooks` /
 * `generate`, a fixture label, or `<fixture>/<check>`):
 * - forward (`checks-forward.ts`): logits, logits.last, hidden_states, o_proj, stop_at, padded, padding.right,
 *   intervene.{patch,add,scale,zero,callback}, lora.logits, adapter.off, adapter.attach, parameters;
 * - training (`checks-train.ts`): soo.{full,last,mean}, kl, lm, objectives.sum, backward.accumulate,
 *   grad_norm, dropout, adamw.step, adamw.oracle, resume; full.train (with `fullTraining`);
 * - generation (`checks-generate.ts`): greedy, decode.logits, sampling.seeded.
 * A check that needs a capability the backend denies is skipped. Budgets per dtype: `tolerances.ts`.
 * The suite's own tests (`mutants.ts`) run it against wrappers that break one rule each: every one must
 * fail, and a wrapper rounding every output to bf16 must pass at the bf16 budgets.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Backend, ComputeDtype } from '../backend-spec.js';
import { ConformanceFailure, type ErrorLog } from './assert.js';
import type { CheckNeeds, ConformanceCheckDef } from './check-types.js';
import { FORWARD_CHECKS } from './checks-forward.js';
import { GENERATE_CHECKS } from './checks-generate.js';
import { TRAIN_CHECKS } from './checks-train.js';
import { FixtureContext } from './context.js';
import { conformanceFixtures } from './fixtures.js';
import { type ConformanceTolerances, defaultTolerances } from './tolerances.js';

export type { ConformanceCheckDef, CheckNeeds } from './check-types.js';
export { ConformanceFailure } from './assert.js';

/** Every check, in run order. */
export const CONFORMANCE_CHECKS: readonly ConformanceCheckDef[] = [
  ...FORWARD_CHECKS,
  ...TRAIN_CHECKS,
  ...GENERATE_CHECKS,
];
export const CONFORMANCE_CHECK_IDS: readonly string[] = CONFORMANCE_CHECKS.map((c) => c.id);

/** What runs with a fixture's second config format by default: the outputs a config difference would move. */
export const SECONDARY_CONFIG_CHECKS: readonly string[] = [
  'logits',
  'hidden_states',
  'padded',
  'lora.logits',
  'greedy',
];

export interface ConformanceOptions {
  /** Compute dtype to load every model in (default: the backend's first `capabilities.dtypes`). */
  dtype?: ComputeDtype;
  /** Budgets over the dtype's defaults (`defaultTolerances`). */
  tolerances?: Partial<ConformanceTolerances>;
  /** Check ids, capability groups, fixture labels or `<fixture>/<check>` to skip. */
  skip?: readonly string[];
  /** Only these check ids (default all). */
  only?: readonly string[];
  /** Only these fixture labels (default all): llama, mistral, gemma2, qwen2, llama3-rope-rslora, ... */
  fixtures?: readonly string[];
  /** Config files to run each fixture with (default both formats); the first gets every check. */
  configFiles?: readonly string[];
  /**
   * Checks run with the config files after the first (default `SECONDARY_CONFIG_CHECKS`; `'all'` for every
   * check). A v2 backend never reads a config file: core normalises both formats to one `DecoderConfig`
   * (its own tests compare them), so a second format only needs the checks that would show a difference.
   */
  secondaryConfigChecks?: readonly string[] | 'all';
  /** Report every comparison's error and its share of the budget (also env SOO_CONFORMANCE_LOG=1). */
  log?: boolean | ErrorLog;
}

export interface ConformanceResult {
  fixture: string;
  configFile: string;
  check: string;
  status: 'passed' | 'failed' | 'skipped';
  /** Why it failed (or was skipped). */
  message?: string;
  ms: number;
}

export interface ConformanceReport {
  backend: string;
  dtype: ComputeDtype;
  results: ConformanceResult[];
  failed: ConformanceResult[];
  passed: number;
  ms: number;
}

interface Plan {
  dtype: ComputeDtype;
  tol: ConformanceTolerances;
  fixtures: Array<[string, string]>;
  configFiles: readonly string[];
  checks: readonly ConformanceCheckDef[];
  skippedByOption(label: string, check: ConformanceCheckDef, configIndex: number): boolean;
  log: ErrorLog | undefined;
}

const consoleLog: ErrorLog = (label, error, budget) =>
  console.log(
    `[conformance] ${label}: ${error.toExponential(2)} (${((100 * error) / budget).toFixed(1)}% of ${budget.toExponential(1)})`,
  );

function plan(backend: Backend | null, options: ConformanceOptions): Plan {
  const dtype = options.dtype ?? backend?.capabilities.dtypes[0] ?? 'float32';
  const skip = new Set(options.skip ?? []);
  const log =
    typeof options.log === 'function'
      ? options.log
      : (options.log ?? process.env.SOO_CONFORMANCE_LOG === '1')
        ? consoleLog
        : undefined;
  for (const id of [...(options.only ?? [])])
    if (!CONFORMANCE_CHECK_IDS.includes(id)) throw new Error(`conformance: unknown check "${id}" in only`);
  const fixtures = conformanceFixtures().filter(
    ([label]) => !options.fixtures || options.fixtures.includes(label),
  );
  if (options.fixtures)
    for (const f of options.fixtures)
      if (!fixtures.some(([l]) => l === f)) throw new Error(`conformance: unknown fixture "${f}"`);
  const secondary = options.secondaryConfigChecks ?? SECONDARY_CONFIG_CHECKS;
  return {
    dtype,
    tol: { ...defaultTolerances(dtype), ...options.tolerances },
    fixtures,
    configFiles: options.configFiles ?? ['config.json', 'config.hub-v4.json'],
    checks: CONFORMANCE_CHECKS.filter((c) => !options.only || options.only.includes(c.id)),
    skippedByOption: (label, c, configIndex) =>
      skip.has(c.id) ||
      skip.has(label) ||
      skip.has(`${label}/${c.id}`) ||
      c.needs.some((n) => skip.has(n)) ||
      (configIndex > 0 && secondary !== 'all' && !secondary.includes(c.id)),
    log,
  };
}

function missingCapability(backend: Backend, c: ConformanceCheckDef): CheckNeeds | undefined {
  return c.needs.find((n) => !backend.capabilities[n]);
}

function checkBackend(backend: Backend, dtype: ComputeDtype): void {
  if (backend.specificationVersion !== 'v2')
    throw new ConformanceFailure(
      `specificationVersion is "${String(backend.specificationVersion)}", expected "v2"`,
    );
  if (!backend.capabilities.dtypes.includes(dtype))
    throw new ConformanceFailure(
      `the backend does not offer ${dtype} (capabilities.dtypes: ${backend.capabilities.dtypes.join(', ')})`,
    );
}

/**
 * Run the suite without a test framework and return what passed and failed (every check runs; a failure
 * does not stop the others). What the mutant tests and the "Write a backend" page use.
 */
export async function checkBackendConformance(
  makeBackend: () => Backend | Promise<Backend>,
  options: ConformanceOptions = {},
): Promise<ConformanceReport> {
  const t0 = performance.now();
  const backend = await makeBackend();
  const p = plan(backend, options);
  checkBackend(backend, p.dtype);
  const results: ConformanceResult[] = [];
  for (const [label, dir] of p.fixtures) {
    for (const [configIndex, configFile] of p.configFiles.entries()) {
      const ctx = await FixtureContext.open(backend, label, dir, configFile, p.dtype, p.tol, p.log);
      try {
        for (const c of p.checks) {
          const t = performance.now();
          const missing = missingCapability(backend, c);
          if (p.skippedByOption(label, c, configIndex) || missing) {
            results.push({
              fixture: label,
              configFile,
              check: c.id,
              status: 'skipped',
              message: missing ? `needs ${missing}` : 'skipped by option',
              ms: 0,
            });
            continue;
          }
          try {
            await c.run(ctx);
            results.push({
              fixture: label,
              configFile,
              check: c.id,
              status: 'passed',
              ms: performance.now() - t,
            });
          } catch (e) {
            const message =
              e instanceof Error
                ? `${e.name === 'ConformanceFailure' ? '' : `${e.name}: `}${e.message}`
                : String(e);
            results.push({
              fixture: label,
              configFile,
              check: c.id,
              status: 'failed',
              message,
              ms: performance.now() - t,
            });
          }
        }
      } finally {
        await ctx.dispose();
      }
    }
  }
  const failed = results.filter((r) => r.status === 'failed');
  return {
    backend: backend.name,
    dtype: p.dtype,
    results,
    failed,
    passed: results.filter((r) => r.status === 'passed').length,
    ms: performance.now() - t0,
  };
}

/** One line per failure: `<fixture> (<config>) <check>: <message>`. */
export function formatConformanceFailures(report: ConformanceReport): string {
  return report.failed.map((r) => `${r.fixture} (${r.configFile}) ${r.check}: ${r.message ?? ''}`).join('\n');
}

/**
 * Register the suite with vitest (call at the top level of a test file): one test per fixture, config file
 * and check. `makeBackend` is called once, in a `beforeAll`.
 */
export function runBackendConformance(
  name: string,
  makeBackend: () => Backend | Promise<Backend>,
  options: ConformanceOptions = {},
): void {
  const p = plan(null, options);
  describe(`backend conformance v2: ${name}${options.dtype ? ` (${options.dtype})` : ''}`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await makeBackend();
      checkBackend(backend, options.dtype ?? backend.capabilities.dtypes[0] ?? 'float32');
    });
    for (const [label, dir] of p.fixtures) {
      for (const [configIndex, configFile] of p.configFiles.entries()) {
        describe(`${label} (${configFile})`, () => {
          let ctx: FixtureContext | null = null;
          beforeAll(async () => {
            const dtype = options.dtype ?? backend.capabilities.dtypes[0] ?? 'float32';
            const tol = { ...defaultTolerances(dtype), ...options.tolerances };
            ctx = await FixtureContext.open(backend, label, dir, configFile, dtype, tol, p.log);
          });
          afterAll(async () => {
            await ctx?.dispose();
          });
          for (const c of p.checks) {
            if (
              configIndex > 0 &&
              p.skippedByOption(label, c, configIndex) &&
              !p.skippedByOption(label, c, 0)
            )
              continue;
            it.skipIf(p.skippedByOption(label, c, configIndex))(`${c.id}: ${c.title}`, async (t) => {
              if (missingCapability(backend, c)) {
                t.skip();
                return;
              }
              await c.run(ctx as FixtureContext);
            });
          }
        });
      }
    }
  });
}
