/**
 * Checks of the training primitives: `backward` with each objective (SOO under every pooling, KL, next-token)
 * and their sum, accumulation, `gradNorm`, dropout seeds, `adamwStep` (options, clipping scale, per-parameter
 * step counts), five steps against the oracle, and optimizer state export/import.
 *
 * Losses are compared with float64 values core computes from the backend's own forward outputs (pooling,
 * KL, cross-entropy); gradients with the oracle (SOO `full`) or, for every other objective, by directional
 * derivatives: a central finite difference of the backend's loss along random directions against
 * grad · direction in float64.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {
  AdamWStepOptions,
  BackendModel,
  BackwardOptions,
  HostTensor,
  Objective,
  TokenBatch,
} from '../backend-spec.js';
import { type HookPoint, stopPointFor } from '../hooks.js';
import { Rng } from '../rng.js';
import { SafetensorsFile, serializeSafetensors } from '../safetensors/index.js';
import { check, close, closeScalar, fail, identical } from './assert.js';
import type { ConformanceCheckDef } from './check-types.js';
import { rightPadBatch } from '../batch.js';
import { type FixtureContext, padIdOf } from './context.js';
import { relativeError } from './fixtures.js';
import {
  adamwReferenceStep,
  crossEntropyReference,
  dotMaps,
  klReference,
  newAdamWReferenceState,
  norm,
  oracleTensor,
  sooReference,
} from './references.js';

type Batch = TokenBatch & { lengths: number[] };

/** The oracle's SOO pair as one batch [self, other] (equal lengths, no padding). */
function fullPairBatch(ctx: FixtureContext): Batch {
  const s = ctx.oracle.json.soo;
  return rightPadBatch([s.self_ids, s.other_ids], padIdOf(ctx.config));
}

/** Two SOO pairs of different lengths, right-padded: [self0, self1, other0, other1]. */
function pooledPairsBatch(ctx: FixtureContext): Batch {
  const s = ctx.oracle.json.soo;
  const n = s.self_ids.length - 4;
  return rightPadBatch(
    [s.self_ids, s.self_ids.slice(0, n), s.other_ids, s.other_ids.slice(0, n)],
    padIdOf(ctx.config),
  );
}

/** Two rows of the oracle prompt, the second shorter (right-padded): for KL and next-token objectives. */
function textBatch(ctx: FixtureContext): Batch {
  const ids = ctx.oracle.json.input_ids;
  return rightPadBatch([ids, ids.slice(0, ids.length - 5)], padIdOf(ctx.config));
}

/** Pool weights over each row's real tokens: `last` 1 on the last, `mean` 1/len on each. */
function poolWeights(b: Batch, pooling: 'last' | 'mean'): Float32Array {
  const w = new Float32Array(b.rows * b.tokens);
  b.lengths.forEach((len, r) => {
    if (pooling === 'last') w[r * b.tokens + len - 1] = 1;
    else for (let t = 0; t < len; t++) w[r * b.tokens + t] = 1 / len;
  });
  return w;
}

function sooObjective(
  ctx: FixtureContext,
  b: Batch,
  pooling: 'last' | 'mean' | 'full',
  weight = 1,
): Objective {
  return {
    kind: 'soo',
    hook: ctx.hook,
    poolWeights: pooling === 'full' ? null : poolWeights(b, pooling),
    weight,
  };
}

function klObjective(b: Batch, weight = 1): Objective {
  const real = b.lengths.reduce((a, n) => a + n, 0);
  const weights = new Float32Array(b.rows * b.tokens);
  b.lengths.forEach((len, r) => {
    for (let t = 0; t < len; t++) weights[r * b.tokens + t] = 1 / real;
  });
  return { kind: 'kl', weights, weight };
}

function lmObjective(b: Batch, weight = 1): Objective {
  const T = b.tokens;
  const targets = new Int32Array(b.rows * T);
  const weights = new Float32Array(b.rows * T);
  const count = b.lengths.reduce((a, n) => a + n - 1, 0);
  b.lengths.forEach((len, r) => {
    for (let t = 0; t + 1 < len; t++) {
      targets[r * T + t] = b.ids[r * T + t + 1] as number;
      weights[r * T + t] = 1 / count;
    }
  });
  return { kind: 'lm', targets, weights, weight };
}

function options(objectives: readonly Objective[], extra: Partial<BackwardOptions> = {}): BackwardOptions {
  const soo = objectives.every((o) => o.kind === 'soo');
  return {
    scale: 1,
    dropout: 0,
    dropoutSeed: 0,
    stopAt: soo ? stopPointFor(objectives.map((o) => (o as { hook: HookPoint }).hook)) : null,
    ...extra,
  };
}

function rowWeights(w: Float32Array, b: Batch, r: number): number[] {
  return Array.from(w.subarray(r * b.tokens, r * b.tokens + (b.lengths[r] as number)));
}

/** Float64 SOO value of a batch from the hook's outputs of each row run alone (adapter on), and κ. */
async function sooFromForward(
  ctx: FixtureContext,
  m: BackendModel,
  b: Batch,
  pooling: 'last' | 'mean' | 'full',
): Promise<{ value: number; kappa: number }> {
  // One padded forward (right padding leaves each row's real positions as if alone: `padding.right`).
  const out = await m.forward(b, { capture: [ctx.hook], logits: 'none', stopAt: stopPointFor([ctx.hook]) });
  const t = out.captures.get(ctx.hook.name);
  if (!t) fail(`forward did not capture ${ctx.hook.name}`);
  const W = ctx.hook.width;
  const rows = b.lengths.map((len, r) => t.data.subarray(r * b.tokens * W, (r * b.tokens + len) * W));
  const weights =
    pooling === 'full'
      ? null
      : b.lengths.map((len) => {
          const w = new Float64Array(len);
          if (pooling === 'last') w[len - 1] = 1;
          else w.fill(1 / len);
          return w;
        });
  return sooReference(rows, ctx.hook.width, weights);
}

/** A loss against its float64 reference, the budget scaled by the reference's condition number. */
function closeLoss(ctx: FixtureContext, label: string, out: number, ref: number, kappa: number): void {
  const k = Math.max(1, Number.isFinite(kappa) ? kappa : 1);
  closeScalar(`${label} (κ ${k.toFixed(1)})`, out, ref, ctx.tol.loss * k, ctx.log);
}

async function lossAndGrads(
  m: BackendModel,
  b: TokenBatch,
  objectives: readonly Objective[],
  extra: Partial<BackwardOptions> = {},
): Promise<{ loss: number; values: number[]; grads: Map<string, HostTensor> }> {
  m.zeroGrad();
  const r = await m.backward(b, objectives, options(objectives, extra));
  check(Number.isFinite(r.loss), `backward: loss ${r.loss}`);
  check(
    r.values.length === objectives.length,
    `backward: ${r.values.length} values for ${objectives.length} objectives`,
  );
  const grads = await m.getGradients();
  m.zeroGrad();
  return { loss: r.loss, values: r.values, grads };
}

function copyParams(p: ReadonlyMap<string, HostTensor>): Map<string, HostTensor> {
  return new Map([...p].map(([k, t]) => [k, { data: t.data.slice(), shape: [...t.shape] }]));
}

/**
 * Directional derivatives: the gradient of `backward` along directions D against a central finite difference
 * (8 (f(h) − f(−h)) − (f(2h) − f(−2h))) / 12h of `reference`, the objective recomputed in float64 from the
 * backend's forward outputs (a bf16 loss scalar is too coarse to difference). D = Ĝ + ½ R̂ (unit reported
 * gradient plus a unit random direction): a gradient off by a factor shows to first order, an error
 * orthogonal to it to second order through Ĝ and to first order through R̂. Random directions alone would be
 * nearly orthogonal to the gradient in thousands of dimensions and measure only noise.
 */
/** Directions per check: one D = Ĝ + ½R̂ already tests the scale and (to second order) the direction of G. */
const DIRECTIONS = 1;

async function directional(
  ctx: FixtureContext,
  m: BackendModel,
  b: TokenBatch,
  objectives: readonly Objective[],
  label: string,
  reference: (m: BackendModel) => Promise<number>,
): Promise<void> {
  const { grads } = await lossAndGrads(m, b, objectives);
  const theta = copyParams(await m.getParameters());
  const gFlat = new Map([...grads].map(([k, t]) => [k, t.data]));
  const gNorm = Math.sqrt(dotMaps(gFlat, gFlat));
  check(gNorm > 0 && Number.isFinite(gNorm), `${label}: gradient norm ${gNorm}`);
  const h = ctx.tol.directional >= 1e-2 ? 0.05 : 0.01;
  const at = async (dir: Map<string, Float64Array>, s: number): Promise<number> => {
    const p = new Map<string, HostTensor>();
    for (const [k, t] of theta) {
      const d = dir.get(k) as Float64Array;
      p.set(k, {
        data: Float32Array.from(t.data, (x, i) => x + s * h * (d[i] as number)),
        shape: [...t.shape],
      });
    }
    await m.setParameters(p);
    return reference(m);
  };
  try {
    for (let i = 0; i < DIRECTIONS; i++) {
      const rng = new Rng(`conformance/direction/${i}`);
      const rand = new Map(
        [...theta].map(([k, t]) => [k, Float64Array.from(rng.normalArray(t.data.length))]),
      );
      const rNorm = Math.sqrt(dotMaps(rand, rand));
      const dir = new Map<string, Float64Array>();
      for (const [k, t] of theta) {
        const g = gFlat.get(k);
        const r = rand.get(k) as Float64Array;
        dir.set(
          k,
          Float64Array.from(
            { length: t.data.length },
            (_, j) => (g ? (g[j] as number) / gNorm : 0) + (0.5 * (r[j] as number)) / rNorm,
          ),
        );
      }
      const gd = dotMaps(dir, gFlat);
      const [m2, m1, p1, p2] = [await at(dir, -2), await at(dir, -1), await at(dir, 1), await at(dir, 2)];
      const fd = (8 * (p1 - m1) - (p2 - m2)) / (12 * h);
      const err = Math.abs(fd - gd) / Math.max(Math.abs(gd), Math.abs(fd));
      ctx.log?.(`${label} directional derivative ${i}`, err, ctx.tol.directional);
      check(
        err < ctx.tol.directional,
        `${label}: directional derivative ${i}: finite difference ${fd.toExponential(4)} vs grad·direction ${gd.toExponential(4)} (relative error ${err.toExponential(2)}, budget ${ctx.tol.directional.toExponential(1)})`,
      );
    }
  } finally {
    await m.setParameters(theta);
  }
}

async function withModel<T>(ctx: FixtureContext, f: (m: BackendModel) => Promise<T>): Promise<T> {
  const m = await ctx.load({ adapter: true });
  try {
    return await f(m);
  } finally {
    m.dispose();
  }
}

/** Each row's real positions of [rows, tokens, V] logits. */
function rowLogits(l: HostTensor | null, b: Batch, r: number, V: number): Float32Array {
  if (!l) fail('forward returned no logits');
  return l.data.subarray(r * b.tokens * V, (r * b.tokens + (b.lengths[r] as number)) * V);
}

async function klReferenceOf(ctx: FixtureContext, m: BackendModel, b: Batch, o: Objective & { kind: 'kl' }) {
  const V = ctx.config.vocabSize;
  const base = (await m.forward(b, { logits: 'all', adapter: false })).logits;
  const tuned = (await m.forward(b, { logits: 'all' })).logits;
  let value = 0;
  let sens = 0;
  for (let r = 0; r < b.rows; r++) {
    const k = klReference(
      rowLogits(base, b, r, V),
      rowLogits(tuned, b, r, V),
      V,
      rowWeights(o.weights, b, r),
    );
    value += k.value;
    sens += k.sensitivity;
  }
  return { value, kappa: sens / value };
}

async function lmReferenceOf(ctx: FixtureContext, m: BackendModel, b: Batch, o: Objective & { kind: 'lm' }) {
  const V = ctx.config.vocabSize;
  const tuned = (await m.forward(b, { logits: 'all' })).logits;
  let value = 0;
  let sens = 0;
  for (let r = 0; r < b.rows; r++) {
    const n = b.lengths[r] as number;
    const targets = Array.from(o.targets.subarray(r * b.tokens, r * b.tokens + n));
    const ce = crossEntropyReference(rowLogits(tuned, b, r, V), V, targets, rowWeights(o.weights, b, r));
    value += ce.value;
    sens += ce.sensitivity;
  }
  return { value, kappa: sens / value };
}

const ADAMW_KEYS = ['exp_avg', 'exp_avg_sq', 'step'] as const;

function adamwOracleOptions(ctx: FixtureContext): AdamWStepOptions {
  const a = ctx.oracle.json.soo.adamw;
  return { lr: a.lr, betas: a.betas, eps: a.eps, weightDecay: a.weight_decay, gradScale: 1 };
}

async function trainStep(
  m: BackendModel,
  b: TokenBatch,
  objectives: readonly Objective[],
  o: AdamWStepOptions,
  extra: Partial<BackwardOptions> = {},
): Promise<number> {
  m.zeroGrad();
  const r = await m.backward(b, objectives, options(objectives, extra));
  await m.adamwStep(o);
  return r.loss;
}

export const TRAIN_CHECKS: readonly ConformanceCheckDef[] = [
  {
    id: 'soo.full',
    title: 'SOO pooling full: loss vs the oracle and the forward captures, every LoRA gradient vs the oracle',
    needs: ['train', 'hooks'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = fullPairBatch(ctx);
        const { loss, values, grads } = await lossAndGrads(m, b, [sooObjective(ctx, b, 'full')]);
        const fwd = await sooFromForward(ctx, m, b, 'full');
        closeLoss(ctx, 'soo.full loss vs the oracle', loss, ctx.oracle.json.soo.loss, fwd.kappa);
        closeLoss(ctx, 'soo.full loss vs core float64 from forward captures', loss, fwd.value, fwd.kappa);
        closeScalar('values[0] = loss (weight 1)', values[0] as number, loss, 1e-12);
        const keys = [...ctx.oracle.tensors.keys()]
          .filter((k) => k.startsWith('grad.'))
          .map((k) => k.slice(5));
        for (const k of grads.keys()) check(keys.includes(k), `getGradients: unknown parameter "${k}"`);
        for (const key of keys) {
          const want = oracleTensor(ctx.oracle, `grad.${key}`);
          const got = grads.get(key);
          if (!got && want.every((x) => x === 0)) continue; // never reached (past the stop point): no gradient
          close(`grad.${key}`, got?.data, want, ctx.tol.grads, ctx.log);
        }
      });
    },
  },
  ...(['last', 'mean'] as const).map((pooling): ConformanceCheckDef => ({
    id: `soo.${pooling}`,
    title: `SOO pooling ${pooling} on padded pairs: loss vs core float64, directional derivatives`,
    needs: ['train', 'hooks'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = pooledPairsBatch(ctx);
        const obj = [sooObjective(ctx, b, pooling)];
        const { loss } = await lossAndGrads(m, b, obj);
        const ref = await sooFromForward(ctx, m, b, pooling);
        closeLoss(
          ctx,
          `soo.${pooling} loss vs core float64 from forward captures`,
          loss,
          ref.value,
          ref.kappa,
        );
        await directional(
          ctx,
          m,
          b,
          obj,
          `soo.${pooling}`,
          async (x) => (await sooFromForward(ctx, x, b, pooling)).value,
        );
      });
    },
  })),
  {
    id: 'kl',
    title: 'KL(base || tuned): value vs float64 from logits, directional derivatives',
    needs: ['train'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = textBatch(ctx);
        const o = klObjective(b) as Objective & { kind: 'kl' };
        const { loss } = await lossAndGrads(m, b, [o]);
        const ref = await klReferenceOf(ctx, m, b, o);
        check(ref.value > 0, 'the fixture adapter should change the next-token distribution');
        closeLoss(ctx, 'kl vs float64 from adapter-off and adapter-on logits', loss, ref.value, ref.kappa);
        if (ctx.oracle.json.saved_bf16 !== true) {
          // Anchored to the oracle: KL(softmax(logits) || softmax(lora.logits)) of the prompt alone. (On bf16
          // checkpoints the oracle's base logits come from bf16 RoPE buffers, its adapter logits do not.)
          const one = rightPadBatch([ctx.oracle.json.input_ids], padIdOf(ctx.config));
          const o1 = klObjective(one) as Objective & { kind: 'kl' };
          const r1 = await lossAndGrads(m, one, [o1]);
          const k = klReference(
            oracleTensor(ctx.oracle, 'logits'),
            oracleTensor(ctx.oracle, 'lora.logits'),
            ctx.config.vocabSize,
            Array.from(o1.weights),
          );
          closeLoss(
            ctx,
            'kl vs float64 from the oracle logits and lora.logits',
            r1.loss,
            k.value,
            k.sensitivity / k.value,
          );
        }
        await directional(ctx, m, b, [o], 'kl', async (x) => (await klReferenceOf(ctx, x, b, o)).value);
      });
    },
  },
  {
    id: 'lm',
    title: 'next-token objective: value vs float64 cross-entropy from logits, directional derivatives',
    needs: ['train'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = textBatch(ctx);
        const o = lmObjective(b) as Objective & { kind: 'lm' };
        const { loss } = await lossAndGrads(m, b, [o]);
        const ref = await lmReferenceOf(ctx, m, b, o);
        closeLoss(ctx, 'lm vs float64 cross-entropy from logits', loss, ref.value, ref.kappa);
        // Anchored to the oracle: the prompt alone against cross-entropy of the oracle's lora.logits.
        const one = rightPadBatch([ctx.oracle.json.input_ids], padIdOf(ctx.config));
        const o1 = lmObjective(one) as Objective & { kind: 'lm' };
        const r1 = await lossAndGrads(m, one, [o1]);
        const ce = crossEntropyReference(
          oracleTensor(ctx.oracle, 'lora.logits'),
          ctx.config.vocabSize,
          Array.from(o1.targets),
          Array.from(o1.weights),
        );
        closeLoss(
          ctx,
          'lm vs float64 cross-entropy of the oracle lora.logits',
          r1.loss,
          ce.value,
          ce.sensitivity / ce.value,
        );
        await directional(ctx, m, b, [o], 'lm', async (x) => (await lmReferenceOf(ctx, x, b, o)).value);
      });
    },
  },
  {
    id: 'objectives.sum',
    title: 'several objectives in one backward: loss = Σ weight·value, gradients add up',
    needs: ['train', 'hooks'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = textBatch(ctx);
        const parts: Objective[] = [
          sooObjective(ctx, b, 'mean', 1),
          klObjective(b, 0.5),
          lmObjective(b, 0.25),
        ];
        const each: Array<Awaited<ReturnType<typeof lossAndGrads>>> = [];
        for (const o of parts) each.push(await lossAndGrads(m, b, [{ ...o, weight: 1 }], { stopAt: null }));
        const all = await lossAndGrads(m, b, parts);
        parts.forEach((o, i) =>
          closeScalar(
            `value of ${o.kind}`,
            all.values[i] as number,
            each[i]?.values[0] as number,
            ctx.tol.loss,
            ctx.log,
          ),
        );
        const sum = parts.reduce((s, o, i) => s + o.weight * (all.values[i] as number), 0);
        closeScalar('loss = Σ weight·value', all.loss, sum, ctx.tol.loss, ctx.log);
        for (const [k, g] of all.grads) {
          const want = new Float64Array(g.data.length);
          parts.forEach((o, i) => {
            const gi = each[i]?.grads.get(k);
            if (gi)
              for (let j = 0; j < want.length; j++)
                want[j] = (want[j] as number) + o.weight * (gi.data[j] as number);
          });
          close(`gradient ${k} = Σ weight·gradient`, g.data, want, ctx.tol.grads, ctx.log);
        }
      });
    },
  },
  {
    id: 'backward.accumulate',
    title: 'two backward calls with scale ½ = one with scale 1; zeroGrad clears',
    needs: ['train', 'hooks'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = pooledPairsBatch(ctx);
        const obj = [sooObjective(ctx, b, 'last')];
        const once = await lossAndGrads(m, b, obj);
        m.zeroGrad();
        const r1 = await m.backward(b, obj, options(obj, { scale: 0.5 }));
        const r2 = await m.backward(b, obj, options(obj, { scale: 0.5 }));
        closeScalar('loss of a scale-½ call (unscaled)', r1.loss, once.loss, ctx.tol.loss, ctx.log);
        closeScalar('loss of the second call', r2.loss, once.loss, ctx.tol.loss, ctx.log);
        const twice = await m.getGradients();
        check(twice.size > 0, 'no gradients after backward');
        for (const [k, g] of once.grads)
          close(`accumulated ${k}`, twice.get(k)?.data, g.data, ctx.tol.grads, ctx.log);
        m.zeroGrad();
        const cleared = await m.getGradients();
        for (const [k, g] of cleared)
          check(
            g.data.every((x) => x === 0),
            `gradient ${k} not cleared by zeroGrad`,
          );
      });
    },
  },
  {
    id: 'grad_norm',
    title: 'gradNorm is the global 2-norm of the accumulated gradients',
    needs: ['train', 'hooks'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = pooledPairsBatch(ctx);
        const obj = [sooObjective(ctx, b, 'mean')];
        m.zeroGrad();
        await m.backward(b, obj, options(obj));
        const grads = await m.getGradients();
        const want = Math.sqrt([...grads.values()].reduce((s, g) => s + norm(g.data) ** 2, 0));
        check(want > 0, 'all gradients are zero');
        closeScalar('gradNorm', await m.gradNorm(), want, ctx.tol.grads, ctx.log);
        m.zeroGrad();
      });
    },
  },
  {
    id: 'dropout',
    title: 'LoRA dropout: the same seed gives identical gradients, another seed or p = 0 different ones',
    needs: ['train', 'hooks'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = pooledPairsBatch(ctx);
        const obj = [sooObjective(ctx, b, 'mean')];
        const a = await lossAndGrads(m, b, obj, { dropout: 0.5, dropoutSeed: 7 });
        const again = await lossAndGrads(m, b, obj, { dropout: 0.5, dropoutSeed: 7 });
        const other = await lossAndGrads(m, b, obj, { dropout: 0.5, dropoutSeed: 8 });
        const none = await lossAndGrads(m, b, obj);
        for (const [k, g] of a.grads)
          identical(`gradient ${k}, same dropout seed`, again.grads.get(k)?.data, g.data);
        const flat = (g: Map<string, HostTensor>) =>
          Float64Array.from([...a.grads.keys()].flatMap((k) => Array.from(g.get(k)?.data ?? [])));
        check(
          relativeError(flat(other.grads), flat(a.grads)) > 1e-3,
          'another dropout seed gives the same gradients',
        );
        check(
          relativeError(flat(none.grads), flat(a.grads)) > 1e-3,
          'dropout 0.5 gives the gradients of dropout 0',
        );
      });
    },
  },
  {
    id: 'adamw.step',
    title:
      'adamwStep vs float64 torch AdamW: gradScale, decoupled weight decay, per-parameter bias correction',
    needs: ['train', 'hooks'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const b = pooledPairsBatch(ctx);
        const obj = [sooObjective(ctx, b, 'last')];
        const p0 = await m.getParameters();
        const ref = new Map([...p0].map(([k, t]) => [k, Float64Array.from(t.data)]));
        const state = newAdamWReferenceState();
        const steps: AdamWStepOptions[] = [
          { lr: 1e-2, betas: [0.9, 0.999], eps: 0, weightDecay: 0.1, gradScale: 0.25 },
          { lr: 2e-2, betas: [0.8, 0.99], eps: 0, weightDecay: 0.05, gradScale: 1 },
        ];
        let stepped = new Set<string>();
        for (const [i, o] of steps.entries()) {
          m.zeroGrad();
          await m.backward(b, obj, options(obj));
          const grads = await m.getGradients();
          stepped = new Set([...stepped, ...grads.keys()]);
          // eps near the gradients' size, so the step depends on their scale (Adam is otherwise scale-free).
          const all = [...grads.values()].flatMap((g) => Array.from(g.data, Math.abs)).sort((x, y) => x - y);
          o.eps = (all[Math.floor(all.length / 2)] as number) * o.gradScale;
          await m.adamwStep(o);
          adamwReferenceStep(ref, grads, state, o);
          const now = await m.getParameters();
          for (const [k, t0] of p0) {
            const got = now.get(k)?.data as Float32Array;
            if (!stepped.has(k)) {
              identical(`step ${i + 1}: ${k} (no gradient) untouched`, got, t0.data);
              continue;
            }
            const r = ref.get(k) as Float64Array;
            close(
              `step ${i + 1}: update of ${k}`,
              Float64Array.from(got, (x, j) => x - (t0.data[j] as number)),
              Float64Array.from(r, (x, j) => x - (t0.data[j] as number)),
              ctx.tol.adamw,
              ctx.log,
            );
          }
        }
        const exported = await m.exportOptimizerState();
        for (const k of stepped) {
          for (const which of ADAMW_KEYS)
            check(exported.has(`${which}.${k}`), `exportOptimizerState: no "${which}.${k}"`);
          const st = exported.get(`step.${k}`) as HostTensor;
          check(
            st.data.length === 1 && st.data[0] === state.step.get(k),
            `step.${k} = ${st.data[0]}, expected ${state.step.get(k)}`,
          );
          close(
            `exp_avg.${k}`,
            exported.get(`exp_avg.${k}`)?.data,
            state.expAvg.get(k) as Float64Array,
            ctx.tol.adamw,
            ctx.log,
          );
          close(
            `exp_avg_sq.${k}`,
            exported.get(`exp_avg_sq.${k}`)?.data,
            state.expAvgSq.get(k) as Float64Array,
            ctx.tol.adamw,
            ctx.log,
          );
        }
        for (const name of exported.keys()) {
          const param = name.slice(name.indexOf('.') + 1);
          check(stepped.has(param), `exportOptimizerState has "${name}" for a parameter never stepped`);
        }
      });
    },
  },
  {
    id: 'adamw.oracle',
    title: 'five AdamW steps on the SOO loss (pooling full): losses and parameters vs the oracle',
    needs: ['train', 'hooks'],
    async run(ctx) {
      await withModel(ctx, async (m) => {
        const a = ctx.oracle.json.soo.adamw;
        const b = fullPairBatch(ctx);
        const obj = [sooObjective(ctx, b, 'full')];
        const losses: Array<[number, number]> = [];
        for (let s = 0; s <= a.steps; s++) {
          const kappa = (await sooFromForward(ctx, m, b, 'full')).kappa;
          if (s < a.steps) losses.push([await trainStep(m, b, obj, adamwOracleOptions(ctx)), kappa]);
          else losses.push([(await lossAndGrads(m, b, obj)).loss, kappa]);
        }
        losses.forEach(([l, kappa], s) =>
          closeScalar(
            `loss before step ${s + 1} (κ ${kappa.toFixed(1)})`,
            l,
            a.losses_before_each_step_then_final[s] as number,
            ctx.tol.adamw * Math.max(1, kappa),
            ctx.log,
          ),
        );
        const params = await m.getParameters();
        const keys = [...ctx.oracle.tensors.keys()]
          .filter((k) => k.startsWith('adamw5.'))
          .map((k) => k.slice(7));
        check(keys.length > 0, 'the oracle has no adamw5 tensors');
        for (const k of keys)
          close(
            `adamw5.${k}`,
            params.get(k)?.data,
            oracleTensor(ctx.oracle, `adamw5.${k}`),
            ctx.tol.adamw,
            ctx.log,
          );
      });
    },
  },
  {
    id: 'resume',
    title: 'optimizer state through safetensors: a resumed model steps bit-identically',
    needs: ['train', 'hooks'],
    async run(ctx) {
      const b = pooledPairsBatch(ctx);
      const obj = [sooObjective(ctx, b, 'mean')];
      const o: AdamWStepOptions = {
        lr: 1e-2,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weightDecay: 0.01,
        gradScale: 0.5,
      };
      const a = await ctx.load({ adapter: true });
      const c = await ctx.load({ adapter: true });
      const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'soo-conformance-'));
      try {
        await trainStep(a, b, obj, o, { dropout: 0.1, dropoutSeed: 1 });
        await trainStep(a, b, obj, o, { dropout: 0.1, dropoutSeed: 2 });
        const params = await a.getParameters();
        const state = await a.exportOptimizerState();
        check(state.size > 0, 'exportOptimizerState is empty after two steps');
        const file = path.join(tmp, 'optimizer.safetensors');
        await fsp.writeFile(
          file,
          serializeSafetensors(
            new Map([...state].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }])),
          ),
        );
        const st = await SafetensorsFile.open(file);
        const loaded = new Map<string, HostTensor>();
        try {
          for (const k of st.names())
            loaded.set(k, { data: await st.readFloat32(k), shape: [...st.info(k).shape] });
        } finally {
          await st.close();
        }
        await c.setParameters(params);
        await c.importOptimizerState(loaded);
        for (const model of [a, c]) await trainStep(model, b, obj, o, { dropout: 0.1, dropoutSeed: 3 });
        const [pa, pc] = [await a.getParameters(), await c.getParameters()];
        for (const [k, t] of pa) identical(`resumed ${k}`, pc.get(k)?.data, t.data);
        const [sa, sc] = [await a.exportOptimizerState(), await c.exportOptimizerState()];
        check(sa.size === sc.size, `optimizer state: ${sc.size} tensors after resuming, ${sa.size} without`);
        for (const [k, t] of sa) identical(`resumed optimizer state ${k}`, sc.get(k)?.data, t.data);
      } finally {
        a.dispose();
        c.dispose();
        await fsp.rm(tmp, { recursive: true, force: true });
      }
    },
  },
  {
    id: 'full.train',
    title:
      "trainable: 'all': every base weight is a parameter; next-token loss vs the oracle logits; directional derivatives",
    needs: ['fullTraining'],
    async run(ctx) {
      const m = await ctx.load({ trainable: 'all' });
      try {
        const names = m
          .parameters()
          .map((p) => p.name)
          .sort();
        const weights = (await ctx.weightNames()).sort();
        check(
          JSON.stringify(names) === JSON.stringify(weights),
          `parameters() with trainable 'all': ${names.length} names, the checkpoint has ${weights.length} tensors`,
        );
        const one = rightPadBatch([ctx.oracle.json.input_ids], padIdOf(ctx.config));
        const o1 = lmObjective(one) as Objective & { kind: 'lm' };
        const r1 = await lossAndGrads(m, one, [o1]);
        const ce = crossEntropyReference(
          oracleTensor(ctx.oracle, 'logits'),
          ctx.config.vocabSize,
          Array.from(o1.targets),
          Array.from(o1.weights),
        );
        closeLoss(
          ctx,
          'full-model lm vs float64 cross-entropy of the oracle logits',
          r1.loss,
          ce.value,
          ce.sensitivity / ce.value,
        );
        for (const name of weights) check(r1.grads.has(name), `no gradient for base weight ${name}`);
        const b = textBatch(ctx);
        const o = lmObjective(b) as Objective & { kind: 'lm' };
        await directional(
          ctx,
          m,
          b,
          [o],
          'full-model lm',
          async (x) => (await lmReferenceOf(ctx, x, b, o)).value,
        );
      } finally {
        m.dispose();
      }
    },
  },
];
