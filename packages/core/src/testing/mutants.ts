/**
 * The suite's own tests: mutant backends that wrap a correct one and break one rule each. Every mutant must
 * fail the suite (and be caught by the checks named in `caughtBy`), and a wrapper that rounds every output
 * to bf16 must pass at the bf16 budgets: a suite that passes wrong backends, or fails correct low-precision
 * ones, is itself wrong.
 *
 *   import { runMutantConformance } from '@soo/core/testing';
 *   runMutantConformance('tfjs-cpu', createTfjsCpuBackend, { fixtures: ['llama'], configFiles: ['config.json'] });
 *
 * Any backend can run them: they only wrap the contract.
 */
import { describe, expect, it } from 'vitest';
import type {
  AdamWStepOptions,
  Backend,
  BackendModel,
  BackwardOptions,
  ForwardOptions,
  HostTensor,
  Objective,
  TokenBatch,
} from '../backend-spec.js';
import {
  checkBackendConformance,
  type ConformanceOptions,
  type ConformanceReport,
  formatConformanceFailures,
} from './conformance.js';
import { roundToBf16 } from './references.js';

/** A model whose methods delegate to `inner`, except `overrides`. */
export function delegateModel(inner: BackendModel, overrides: Partial<BackendModel>): BackendModel {
  const base: BackendModel = {
    get config() {
      return inner.config;
    },
    get backend() {
      return inner.backend;
    },
    get dtype() {
      return inner.dtype;
    },
    forward: (b, o) => inner.forward(b, o),
    attachAdapter: (a) => inner.attachAdapter(a),
    detachAdapter: () => inner.detachAdapter(),
    parameters: () => inner.parameters(),
    getParameters: () => inner.getParameters(),
    setParameters: (v) => inner.setParameters(v),
    backward: (b, o, opt) => inner.backward(b, o, opt),
    gradNorm: () => inner.gradNorm(),
    getGradients: () => inner.getGradients(),
    zeroGrad: () => inner.zeroGrad(),
    adamwStep: (o) => inner.adamwStep(o),
    exportOptimizerState: () => inner.exportOptimizerState(),
    importOptimizerState: (s) => inner.importOptimizerState(s),
    prefill: (b, o) => inner.prefill(b, o),
    decode: (c, i) => inner.decode(c, i),
    dispose: () => inner.dispose(),
  };
  // Descriptors, not values: an override may be a getter (`dtype`).
  return Object.defineProperties(base, Object.getOwnPropertyDescriptors(overrides));
}

/** A backend whose models are `wrap(inner model)`. */
export function wrapBackend(
  inner: Backend,
  name: string,
  wrap: (m: BackendModel) => BackendModel,
  capabilities: Partial<Backend['capabilities']> = {},
  mapDtype: (d: BackendModel['dtype'] | undefined) => BackendModel['dtype'] | undefined = (d) => d,
): Backend {
  return {
    specificationVersion: inner.specificationVersion,
    name,
    capabilities: { ...inner.capabilities, ...capabilities },
    async loadModel(source, options = {}) {
      return wrap(await inner.loadModel(source, { ...options, dtype: mapDtype(options.dtype) }));
    },
  };
}

export interface Mutant {
  id: string;
  /** The rule it breaks. */
  breaks: string;
  /** Checks expected to catch it (at least one must fail). */
  caughtBy: readonly string[];
  wrap(m: BackendModel): BackendModel;
}

function withBatch(b: TokenBatch, patch: Partial<TokenBatch>): TokenBatch {
  return { ...b, ...patch };
}

function sequentialPositions(b: TokenBatch): Int32Array {
  return Int32Array.from({ length: b.rows * b.tokens }, (_, i) => i % b.tokens);
}

function meanWeights(b: TokenBatch): Float32Array {
  const w = new Float32Array(b.rows * b.tokens);
  for (let r = 0; r < b.rows; r++) {
    let n = 0;
    for (let t = 0; t < b.tokens; t++) n += b.attentionMask[r * b.tokens + t] as number;
    for (let t = 0; t < b.tokens; t++) if (b.attentionMask[r * b.tokens + t]) w[r * b.tokens + t] = 1 / n;
  }
  return w;
}

/** Which LoRA gradient the `lora-grad-dropped` mutant loses: layer 0's q_proj lora_A (always before the hook). */
function droppedKey(names: Iterable<string>): string | undefined {
  return [...names].find((k) => k.includes('layers.0.') && k.includes('q_proj') && k.includes('lora_A'));
}

export const MUTANTS: readonly Mutant[] = [
  {
    id: 'last-as-mean',
    breaks: "SOO pooling 'last' computed as 'mean' (pool weights ignored)",
    caughtBy: ['soo.last'],
    wrap: (m) =>
      delegateModel(m, {
        backward: (b, objs, o) =>
          m.backward(
            b,
            objs.map((x) => (x.kind === 'soo' && x.poolWeights ? { ...x, poolWeights: meanWeights(b) } : x)),
            o,
          ),
      }),
  },
  {
    id: 'accumulate-overwrites',
    breaks: 'backward overwrites the gradients instead of adding to them (gradient accumulation ignored)',
    caughtBy: ['backward.accumulate'],
    wrap: (m) =>
      delegateModel(m, {
        backward: (b, objs, o) => {
          m.zeroGrad();
          return m.backward(b, objs, o);
        },
      }),
  },
  {
    id: 'grad-scale-ignored',
    breaks: 'adamwStep ignores gradScale (clipping ignored)',
    caughtBy: ['adamw.step'],
    wrap: (m) => delegateModel(m, { adamwStep: (o) => m.adamwStep({ ...o, gradScale: 1 }) }),
  },
  {
    id: 'lora-grad-dropped',
    breaks: 'one LoRA tensor gets no gradient (layer 0 q_proj lora_A never trains)',
    caughtBy: ['soo.full', 'adamw.oracle'],
    wrap: (m) => {
      const drop = async (g: Map<string, HostTensor>) => {
        const k = droppedKey(g.keys());
        if (k) g.delete(k);
        return g;
      };
      return delegateModel(m, {
        getGradients: async () => drop(await m.getGradients()),
        gradNorm: async () => {
          const g = await drop(await m.getGradients());
          let s = 0;
          for (const t of g.values()) for (const x of t.data) s += x * x;
          return Math.sqrt(s);
        },
        adamwStep: async (o: AdamWStepOptions) => {
          const before = await m.getParameters();
          const k = droppedKey(before.keys());
          await m.adamwStep(o);
          if (k) {
            const after = await m.getParameters();
            after.set(k, before.get(k) as HostTensor);
            await m.setParameters(after);
          }
        },
      });
    },
  },
  {
    id: 'decode-position-off-by-one',
    breaks: 'decode uses position id + 1 for the new token',
    caughtBy: ['decode.logits', 'greedy'],
    wrap: (m) =>
      delegateModel(m, {
        decode: (c, i) => m.decode(c, { ...i, positionIds: Int32Array.from(i.positionIds, (p) => p + 1) }),
      }),
  },
  {
    id: 'position-ids-ignored',
    breaks: "the batch's position ids are ignored (0..T-1 per row, wrong for left padding)",
    caughtBy: ['decode.logits'],
    wrap: (m) =>
      delegateModel(m, {
        forward: (b, o) => m.forward(withBatch(b, { positionIds: sequentialPositions(b) }), o),
        prefill: (b, o) => m.prefill(withBatch(b, { positionIds: sequentialPositions(b) }), o),
        backward: (b, objs, o) => m.backward(withBatch(b, { positionIds: sequentialPositions(b) }), objs, o),
      }),
  },
  {
    id: 'mask-ignored',
    breaks: 'the attention mask is ignored (padding attended to)',
    caughtBy: ['padded'],
    wrap: (m) => {
      const ones = (b: TokenBatch) =>
        withBatch(b, { attentionMask: new Uint8Array(b.rows * b.tokens).fill(1) });
      return delegateModel(m, {
        forward: (b, o) => m.forward(ones(b), o),
        prefill: (b, o) => m.prefill(ones(b), o),
        backward: (b, objs, o) => m.backward(ones(b), objs, o),
      });
    },
  },
  {
    id: 'adamw-no-bias-correction',
    breaks: "AdamW without bias correction (torch's m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t) dropped)",
    caughtBy: ['adamw.step', 'adamw.oracle'],
    wrap: (m) => {
      // Uncorrected AdamW through a correct one: lr' = lr (1 − β1^t) / √(1 − β2^t), eps' = eps / √(1 − β2^t)
      // give lr m / (√v + eps); the decay is kept at lr · wd.
      let t = 0;
      return delegateModel(m, {
        adamwStep: (o) => {
          t++;
          const bc1 = 1 - o.betas[0] ** t;
          const bc2 = Math.sqrt(1 - o.betas[1] ** t);
          const lr = (o.lr * bc1) / bc2;
          return m.adamwStep({ ...o, lr, eps: o.eps / bc2, weightDecay: (o.weightDecay * o.lr) / lr });
        },
      });
    },
  },
  {
    id: 'adapter-flag-ignored',
    breaks: 'forward/prefill ignore adapter: false (the base model is never run)',
    caughtBy: ['adapter.off', 'kl'],
    wrap: (m) => {
      const on = <T extends { adapter?: boolean }>(o: T | undefined): T => ({ ...(o as T), adapter: true });
      return delegateModel(m, {
        forward: (b, o) => m.forward(b, on(o)),
        prefill: (b, o) => m.prefill(b, on(o)),
      });
    },
  },
  {
    id: 'stop-at-ignored',
    breaks: 'forward ignores stopAt and runs every layer',
    caughtBy: ['stop_at'],
    wrap: (m) =>
      delegateModel(m, {
        forward: async (b, o) => {
          if (!o.stopAt) return m.forward(b, o);
          const r = await m.forward(b, { ...o, stopAt: null, logits: 'all' });
          return { ...r, logits: null };
        },
      }),
  },
  {
    id: 'stop-at-early',
    breaks:
      "forward stops after the attention when asked to stop after the block (the block's output is lost)",
    caughtBy: ['stop_at'],
    wrap: (m) =>
      delegateModel(m, {
        forward: (b, o: ForwardOptions) =>
          m.forward(
            b,
            o.stopAt && o.stopAt.stage === 'block'
              ? { ...o, stopAt: { layer: o.stopAt.layer, stage: 'attn' } }
              : o,
          ),
      }),
  },
  {
    id: 'kl-base-with-adapter',
    breaks: 'the KL base distribution is computed with the adapter on (KL = 0, no gradient)',
    caughtBy: ['kl'],
    wrap: (m) =>
      delegateModel(m, {
        backward: async (b, objs: readonly Objective[], o: BackwardOptions) => {
          const r = await m.backward(
            b,
            objs.map((x) => (x.kind === 'kl' ? { ...x, weight: 0 } : x)),
            o,
          );
          const values = r.values.map((v, i) => (objs[i]?.kind === 'kl' ? 0 : v));
          return { loss: values.reduce((s, v, i) => s + (objs[i]?.weight ?? 0) * v, 0), values };
        },
      }),
  },
  {
    id: 'interventions-ignored',
    breaks: 'forward applies no intervention (captures and logits as if none were given)',
    caughtBy: ['intervene.add', 'intervene.scale', 'intervene.zero', 'intervene.patch'],
    wrap: (m) =>
      delegateModel(m, {
        forward: (b, o) =>
          m.forward(b, { ...o, interventions: (o.interventions ?? []).filter((x) => x.kind === 'callback') }),
      }),
  },
  {
    id: 'optimizer-steps-not-exported',
    breaks:
      'exportOptimizerState omits the per-parameter step counts (a resumed run restarts bias correction)',
    caughtBy: ['resume', 'adamw.step'],
    wrap: (m) =>
      delegateModel(m, {
        exportOptimizerState: async () =>
          new Map([...(await m.exportOptimizerState())].filter(([k]) => !k.startsWith('step.'))),
      }),
  },
];

function roundTensor(t: HostTensor): HostTensor {
  return { data: roundToBf16(t.data), shape: t.shape };
}

function roundScalar(x: number): number {
  return roundToBf16(Float32Array.of(x))[0] as number;
}

/**
 * A correct backend whose every output is rounded to bfloat16 (logits, captures, callback inputs, losses,
 * gradients and their norm, prefill/decode logits), declared as a bf16 backend. Parameters and optimizer
 * state are state, not outputs: they round-trip exactly (bf16 values are float32 values). It must pass the
 * suite at the bf16 budgets.
 */
export function roundOutputsToBf16(inner: Backend): Backend {
  return wrapBackend(
    inner,
    `${inner.name}+bf16-outputs`,
    (m) =>
      delegateModel(m, {
        get dtype() {
          return 'bfloat16' as const;
        },
        forward: async (b, o) => {
          const interventions = o.interventions?.map((x) =>
            x.kind === 'callback' ? { ...x, fn: (t: HostTensor) => x.fn(roundTensor(t)) } : x,
          );
          const r = await m.forward(b, { ...o, interventions });
          return {
            logits: r.logits ? roundTensor(r.logits) : null,
            captures: new Map([...r.captures].map(([k, t]) => [k, roundTensor(t)])),
          };
        },
        backward: async (b, objs, o) => {
          const r = await m.backward(b, objs, o);
          return { loss: roundScalar(r.loss), values: r.values.map(roundScalar) };
        },
        gradNorm: async () => roundScalar(await m.gradNorm()),
        getGradients: async () => new Map([...(await m.getGradients())].map(([k, t]) => [k, roundTensor(t)])),
        prefill: async (b, o) => {
          const r = await m.prefill(b, o);
          return { cache: r.cache, logits: roundTensor(r.logits) };
        },
        decode: async (c, i) => roundTensor(await m.decode(c, i)),
      }),
    { dtypes: ['bfloat16'] },
    () => inner.capabilities.dtypes[0],
  );
}

export interface MutantConformanceOptions extends ConformanceOptions {
  /** Only these mutant ids (default all). */
  mutants?: readonly string[];
  /** Also check that rounding every output to bf16 passes at the bf16 budgets (default true). */
  bf16?: boolean;
  /**
   * Also run every mutant with its outputs rounded to bf16, at the bf16 budgets: each must still fail, so the
   * looser budgets do not let a wrong low-precision backend through (default false).
   */
  bf16Mutants?: boolean;
}

/** Which checks failed, per mutant, after `runMutantConformance` ran (for reports). */
export const mutantResults = new Map<string, ConformanceReport>();

/**
 * Register the suite's self-tests with vitest: each mutant of `makeBackend()` must fail the suite (by one of
 * its `caughtBy` checks), and `roundOutputsToBf16(makeBackend())` must pass at bf16 budgets. Run on a fixture
 * subset (`fixtures`, `configFiles`) to keep it quick.
 */
export function runMutantConformance(
  name: string,
  makeBackend: () => Backend | Promise<Backend>,
  options: MutantConformanceOptions = {},
): void {
  const mutants = MUTANTS.filter((m) => !options.mutants || options.mutants.includes(m.id));
  describe(`conformance suite self-test on ${name}`, () => {
    for (const mutant of mutants) {
      it(`mutant ${mutant.id} (${mutant.breaks}) fails the suite`, async () => {
        const report = await checkBackendConformance(
          async () => {
            const inner = await makeBackend();
            return wrapBackend(inner, `${inner.name}+${mutant.id}`, mutant.wrap);
          },
          // No mutant touches full-parameter training: its check would only cost time here.
          { ...options, skip: [...(options.skip ?? []), 'full.train'] },
        );
        mutantResults.set(mutant.id, report);
        const caught = [...new Set(report.failed.map((r) => r.check))];
        expect(caught.length, `mutant ${mutant.id} passed every check`).toBeGreaterThan(0);
        expect(
          caught.some((c) => mutant.caughtBy.includes(c)),
          `mutant ${mutant.id} caught by [${caught.join(', ')}], expected one of [${mutant.caughtBy.join(', ')}]`,
        ).toBe(true);
      });
    }
    if (options.bf16Mutants) {
      for (const mutant of mutants) {
        it(`mutant ${mutant.id} with bf16 outputs fails the suite at bf16 budgets`, async () => {
          const report = await checkBackendConformance(
            async () => {
              const inner = await makeBackend();
              return roundOutputsToBf16(wrapBackend(inner, `${inner.name}+${mutant.id}`, mutant.wrap));
            },
            { ...options, dtype: 'bfloat16', skip: [...(options.skip ?? []), 'full.train'] },
          );
          mutantResults.set(`${mutant.id}@bf16`, report);
          const caught = [...new Set(report.failed.map((r) => r.check))];
          expect(
            caught.some((c) => mutant.caughtBy.includes(c)),
            `mutant ${mutant.id} at bf16 caught by [${caught.join(', ')}], expected one of [${mutant.caughtBy.join(', ')}]`,
          ).toBe(true);
        });
      }
    }
    if (options.bf16 !== false) {
      it('a wrapper rounding every output to bf16 passes at the bf16 budgets', async () => {
        const report = await checkBackendConformance(async () => roundOutputsToBf16(await makeBackend()), {
          ...options,
          dtype: 'bfloat16',
        });
        mutantResults.set('bf16-outputs', report);
        expect(report.failed, formatConformanceFailures(report)).toEqual([]);
      });
    }
  });
}
