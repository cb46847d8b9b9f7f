/**
 * Checks of `forward`: logits (all / last), captures, early stop, padding and the attention mask,
 * interventions, and the adapter switch, attach/detach and parameter get/set.
 */
import type { ForwardResult, HostTensor, Intervention } from '../backend-spec.js';
import type { HookPoint } from '../hooks.js';
import { stopPointFor } from '../hooks.js';
import { Rng } from '../rng.js';
import { allFinite, check, close, fail, sameShape } from './assert.js';
import type { ConformanceCheckDef } from './check-types.js';
import { explicitBatch, rightPadBatch } from '../batch.js';
import { type FixtureContext, oneRow, padIdOf } from './context.js';
import { relativeError } from './fixtures.js';
import { oracleTensor, rms } from './references.js';

function logitsOf(label: string, r: ForwardResult): HostTensor {
  if (!r.logits) fail(`${label}: no logits returned`);
  return r.logits;
}

function capture(label: string, r: ForwardResult, hook: HookPoint): HostTensor {
  const t = r.captures.get(hook.name);
  if (!t) fail(`${label}: capture "${hook.name}" missing`);
  return t;
}

/** The oracle prompt with one token changed (same length): the "other prompt" of the patch check. */
function otherPrompt(ctx: FixtureContext): number[] {
  const ids = [...ctx.oracle.json.input_ids];
  const at = Math.min(3, ids.length - 1);
  ids[at] = ((ids[at] as number) + 7) % ctx.config.vocabSize;
  return ids;
}

/** Plain base forward of the oracle prompt with the SOO hook captured (shared by the intervention checks). */
function plainForward(ctx: FixtureContext): Promise<ForwardResult> {
  return ctx.once('plain', async () =>
    (await ctx.shared('base')).forward(oneRow(ctx.oracle.json.input_ids), {
      capture: [ctx.hook],
      logits: 'all',
    }),
  );
}

/** Logits of the base model with the SOO hook's output patched to `tensor`. */
async function patched(ctx: FixtureContext, tensor: HostTensor): Promise<Float32Array> {
  const m = await ctx.shared('base');
  const r = await m.forward(oneRow(ctx.oracle.json.input_ids), {
    logits: 'all',
    interventions: [{ hook: ctx.hook, kind: 'patch', tensor }],
  });
  return logitsOf('patched forward', r).data;
}

/** A fixed random vector the size of the hooked output's rows, 3x their RMS. */
function steeringVector(ctx: FixtureContext, plain: HostTensor): Float32Array {
  const s = 3 * rms(plain.data);
  return new Rng('conformance/steer').normalArray(ctx.hook.width, 0, s);
}

function broadcastAdd(t: HostTensor, v: Float32Array): HostTensor {
  const W = v.length;
  return { data: Float32Array.from(t.data, (x, i) => x + (v[i % W] as number)), shape: [...t.shape] };
}

/** The logits must have moved: an intervention that is silently ignored passes every equality. */
function moved(ctx: FixtureContext, label: string, out: Float32Array, plain: Float32Array): void {
  const change = relativeError(out, plain);
  check(
    change > 10 * ctx.tol.logits,
    `${label}: logits changed by only ${change.toExponential(2)} relative: the intervention had no effect`,
  );
}

/** The base-model logits of the oracle prompt as the adapter-off pass must give them. */
async function baseLogitsReference(ctx: FixtureContext): Promise<Float32Array> {
  if (ctx.oracle.json.saved_bf16 !== true) return oracleTensor(ctx.oracle, 'logits');
  // The oracle's base outputs of bf16 checkpoints come from a model with bf16-rounded RoPE buffers; the
  // adapter outputs from float32 buffers. Adapter-off on the adapter model compares to the latter.
  return ctx.once('base-f32-buffers', async () => {
    const m = await ctx.load({ checkpointDtypeBuffers: false });
    try {
      return logitsOf('base', await m.forward(oneRow(ctx.oracle.json.input_ids), { logits: 'all' })).data;
    } finally {
      m.dispose();
    }
  });
}

export const FORWARD_CHECKS: readonly ConformanceCheckDef[] = [
  {
    id: 'logits',
    title: 'logits of every position vs the oracle',
    needs: [],
    async run(ctx) {
      const ids = ctx.oracle.json.input_ids;
      const r = await (await ctx.shared('base')).forward(oneRow(ids), { logits: 'all' });
      const l = logitsOf('logits', r);
      sameShape('logits', l.shape, [1, ids.length, ctx.config.vocabSize]);
      close('logits', l.data, oracleTensor(ctx.oracle, 'logits'), ctx.tol.logits, ctx.log);
    },
  },
  {
    id: 'logits.last',
    title: "logits: 'last' is the batch's last position",
    needs: [],
    async run(ctx) {
      const ids = ctx.oracle.json.input_ids;
      const V = ctx.config.vocabSize;
      const T = ids.length;
      const m = await ctx.shared('base');
      const r = await m.forward(oneRow(ids), { logits: 'last' });
      const l = logitsOf('last logits', r);
      sameShape('last logits', l.shape, [1, 1, V]);
      close(
        'logits last',
        l.data,
        oracleTensor(ctx.oracle, 'logits').subarray((T - 1) * V),
        ctx.tol.logits,
        ctx.log,
      );
      // Two right-padded rows: 'last' is position T-1 of every row, as 'all' gives it.
      const b = rightPadBatch([ids, ids.slice(0, T - 3)], padIdOf(ctx.config));
      const all = logitsOf('all', await m.forward(b, { logits: 'all' })).data;
      const last = logitsOf('last', await m.forward(b, { logits: 'last' }));
      sameShape('last logits (2 rows)', last.shape, [2, 1, V]);
      for (let row = 0; row < 2; row++)
        close(
          `logits last, row ${row}`,
          last.data.subarray(row * V, (row + 1) * V),
          all.subarray((row * T + T - 1) * V, (row * T + T) * V),
          ctx.tol.logits,
          ctx.log,
        );
    },
  },
  {
    id: 'hidden_states',
    title: 'captures: embeddings, every block, the final norm vs hidden_states',
    needs: ['hooks'],
    async run(ctx) {
      const L = ctx.config.numLayers;
      const names = [
        'model.embed_tokens',
        ...Array.from({ length: L - 1 }, (_, i) => `model.layers.${i}`),
        'model.norm',
      ];
      const points = names.map((n) => ctx.point(n));
      const ids = ctx.oracle.json.input_ids;
      const r = await (await ctx.shared('base')).forward(oneRow(ids), { capture: points, logits: 'none' });
      check(r.logits === null, "logits: 'none' returned logits");
      points.forEach((p, i) => {
        const t = capture('hidden_states', r, p);
        sameShape(p.name, t.shape, [1, ids.length, p.width]);
        let data: ArrayLike<number> = t.data;
        const mult = ctx.config.embeddingMultiplier;
        if (i === 0 && mult !== 1) data = Float64Array.from(t.data, (x) => x * mult);
        close(
          `hidden_states.${i} (${p.name})`,
          data,
          oracleTensor(ctx.oracle, `hidden_states.${i}`),
          ctx.tol.activations,
          ctx.log,
        );
      });
    },
  },
  {
    id: 'o_proj',
    title: 'captures: every o_proj vs the oracle',
    needs: ['hooks'],
    async run(ctx) {
      const points = Array.from({ length: ctx.config.numLayers }, (_, i) =>
        ctx.point(`model.layers.${i}.self_attn.o_proj`),
      );
      const r = await (
        await ctx.shared('base')
      ).forward(oneRow(ctx.oracle.json.input_ids), {
        capture: points,
        logits: 'none',
      });
      points.forEach((p, i) =>
        close(
          p.name,
          capture('o_proj', r, p).data,
          oracleTensor(ctx.oracle, `o_proj.${i}`),
          ctx.tol.activations,
          ctx.log,
        ),
      );
    },
  },
  {
    id: 'stop_at',
    title: 'stopAt: same captures as the full pass, nothing computed past the stop point',
    needs: ['hooks'],
    async run(ctx) {
      const m = await ctx.shared('base');
      const k = ctx.hook.layer ?? 0;
      const L = ctx.config.numLayers;
      const batch = oneRow(ctx.oracle.json.input_ids);
      const cases: Array<[HookPoint, HookPoint]> = [
        // An attention-side hook stops after the attention: the same layer's MLP must not run.
        [ctx.point(`model.layers.${k}.self_attn.o_proj`), ctx.point(`model.layers.${k}.mlp`)],
        // A block hook stops after the block: the next layer (or the final norm) must not run.
        [
          ctx.point(`model.layers.${k}`),
          ctx.point(k + 1 < L ? `model.layers.${k + 1}.self_attn.o_proj` : 'model.norm'),
        ],
      ];
      for (const [hook, past] of cases) {
        const stopAt = stopPointFor([hook]);
        check(stopAt !== null, `stopPointFor(${hook.name}) is null`);
        const full = capture('full pass', await m.forward(batch, { capture: [hook], logits: 'all' }), hook);
        let ran = false;
        const early = await m.forward(batch, {
          capture: [hook],
          logits: 'none',
          stopAt,
          interventions: [
            {
              hook: past,
              kind: 'callback',
              fn: (x) => {
                ran = true;
                return x;
              },
            },
          ],
        });
        check(early.logits === null, 'stopAt: logits returned');
        check(!ran, `stopAt ${JSON.stringify(stopAt)}: the pass ran "${past.name}", past the stop point`);
        close(
          `${hook.name} with stopAt vs the full pass`,
          capture('stopAt', early, hook).data,
          full.data,
          ctx.tol.activations,
          ctx.log,
        );
      }
      // And the early capture is the oracle's.
      const o = await m.forward(batch, {
        capture: [ctx.hook],
        logits: 'none',
        stopAt: stopPointFor([ctx.hook]),
      });
      close(
        `${ctx.hook.name} with stopAt vs the oracle`,
        capture('stopAt', o, ctx.hook).data,
        oracleTensor(ctx.oracle, `o_proj.${k}`),
        ctx.tol.activations,
        ctx.log,
      );
    },
  },
  {
    id: 'padded',
    title: 'left padding with explicit position ids vs the oracle (attention mask)',
    needs: [],
    async run(ctx) {
      const m = await ctx.shared('base');
      const p = ctx.oracle.json.padded;
      const r = await m.forward(
        explicitBatch({ ids: p.input_ids, attentionMask: p.attention_mask, positionIds: p.position_ids }),
        {
          logits: 'all',
        },
      );
      const V = ctx.config.vocabSize;
      const T = (p.input_ids[0] as number[]).length;
      const expected = oracleTensor(ctx.oracle, 'padded.logits');
      const got = logitsOf('padded', r).data;
      check(
        got.length === expected.length,
        `padded logits: ${got.length} values, expected ${expected.length}`,
      );
      check(allFinite(got), 'padded logits are finite everywhere (fully masked pad queries included)');
      for (let b = 0; b < p.input_ids.length; b++) {
        const row = got.subarray(b * T * V, (b + 1) * T * V);
        const refRow = expected.subarray(b * T * V, (b + 1) * T * V);
        if (allFinite(refRow)) {
          close(`padded.logits[${b}]`, row, refRow, ctx.tol.logits, ctx.log);
          continue;
        }
        // The oracle row is NaN: transformers ran in float64, so masked scores got float64's finfo.min, which
        // is -inf once eager attention casts to float32 for the softmax; the fully masked pad queries are NaN,
        // and NaN spreads to every position in the next layer. The well-defined part: the real positions
        // equal the unpadded forward of the same tokens (positions from 0).
        const mask = p.attention_mask[b] as number[];
        const real = (p.input_ids[b] as number[]).filter((_, t) => mask[t] !== 0);
        const alone = logitsOf('unpadded', await m.forward(oneRow(real), { logits: 'all' })).data;
        const realRows: number[] = [];
        mask.forEach((v, t) => {
          if (v !== 0) for (let j = 0; j < V; j++) realRows.push(row[t * V + j] as number);
        });
        close(
          `padded.logits[${b}] real positions vs the unpadded forward`,
          realRows,
          alone,
          ctx.tol.logits,
          ctx.log,
        );
      }
    },
  },
  {
    id: 'padding.right',
    title: 'right padding: real positions and captures equal each row alone',
    needs: [],
    async run(ctx) {
      const m = await ctx.shared('base');
      const ids = ctx.oracle.json.input_ids;
      const rows = [ids.slice(0, ids.length - 5), ids];
      const b = rightPadBatch(rows, padIdOf(ctx.config));
      const hooks = ctx.backend.capabilities.hooks ? [ctx.hook] : [];
      const r = await m.forward(b, { logits: 'all', capture: hooks });
      const V = ctx.config.vocabSize;
      const W = ctx.hook.width;
      const all = logitsOf('padded', r).data;
      for (let row = 0; row < rows.length; row++) {
        const n = (rows[row] as number[]).length;
        const alone = await m.forward(oneRow(rows[row] as number[]), { logits: 'all', capture: hooks });
        close(
          `row ${row} logits`,
          all.subarray(row * b.tokens * V, (row * b.tokens + n) * V),
          logitsOf('alone', alone).data,
          ctx.tol.logits,
          ctx.log,
        );
        if (hooks.length)
          close(
            `row ${row} ${ctx.hook.name}`,
            capture('padded', r, ctx.hook).data.subarray(row * b.tokens * W, (row * b.tokens + n) * W),
            capture('alone', alone, ctx.hook).data,
            ctx.tol.activations,
            ctx.log,
          );
      }
    },
  },
  {
    id: 'intervene.patch',
    title: "patch: the other prompt's block-0 output reproduces the oracle logits",
    needs: ['hooks'],
    async run(ctx) {
      const m = await ctx.shared('base');
      const block0 = ctx.point('model.layers.0');
      const source = await m.forward(oneRow(ctx.oracle.json.input_ids), {
        capture: [block0],
        logits: 'none',
        stopAt: stopPointFor([block0]),
      });
      const tensor = capture('source', source, block0);
      const other = otherPrompt(ctx);
      const plainOther = logitsOf('other', await m.forward(oneRow(other), { logits: 'all' })).data;
      const r = await m.forward(oneRow(other), {
        logits: 'all',
        capture: [block0],
        interventions: [{ hook: block0, kind: 'patch', tensor }],
      });
      close(
        'capture of the patched hook',
        capture('patched', r, block0).data,
        tensor.data,
        ctx.tol.activations,
        ctx.log,
      );
      const out = logitsOf('patched', r).data;
      moved(ctx, 'patch', out, plainOther);
      close(
        'patched logits vs the oracle logits of the source prompt',
        out,
        oracleTensor(ctx.oracle, 'logits'),
        ctx.tol.logits,
        ctx.log,
      );
    },
  },
  {
    id: 'intervene.add',
    title: 'add: capture = plain + v; logits = patch(plain + v)',
    needs: ['hooks'],
    async run(ctx) {
      const plain = await plainForward(ctx);
      const p = capture('plain', plain, ctx.hook);
      const v = steeringVector(ctx, p);
      const m = await ctx.shared('base');
      const r = await m.forward(oneRow(ctx.oracle.json.input_ids), {
        logits: 'all',
        capture: [ctx.hook],
        interventions: [{ hook: ctx.hook, kind: 'add', vector: v }],
      });
      const want = broadcastAdd(p, v);
      close('capture after add', capture('add', r, ctx.hook).data, want.data, ctx.tol.activations, ctx.log);
      const out = logitsOf('add', r).data;
      moved(ctx, 'add', out, logitsOf('plain', plain).data);
      close('add logits vs patch(plain + v)', out, await patched(ctx, want), ctx.tol.logits, ctx.log);
    },
  },
  {
    id: 'intervene.scale',
    title: 'scale: capture = f * plain; logits = patch(f * plain)',
    needs: ['hooks'],
    async run(ctx) {
      const plain = await plainForward(ctx);
      const p = capture('plain', plain, ctx.hook);
      const f = -1.5;
      const m = await ctx.shared('base');
      const r = await m.forward(oneRow(ctx.oracle.json.input_ids), {
        logits: 'all',
        capture: [ctx.hook],
        interventions: [{ hook: ctx.hook, kind: 'scale', factor: f }],
      });
      const want = { data: Float32Array.from(p.data, (x) => x * f), shape: [...p.shape] };
      close(
        'capture after scale',
        capture('scale', r, ctx.hook).data,
        want.data,
        ctx.tol.activations,
        ctx.log,
      );
      const out = logitsOf('scale', r).data;
      moved(ctx, 'scale', out, logitsOf('plain', plain).data);
      close('scale logits vs patch(f * plain)', out, await patched(ctx, want), ctx.tol.logits, ctx.log);
    },
  },
  {
    id: 'intervene.zero',
    title: 'zero: capture is exact zeros; logits = patch(0)',
    needs: ['hooks'],
    async run(ctx) {
      const plain = await plainForward(ctx);
      const p = capture('plain', plain, ctx.hook);
      const m = await ctx.shared('base');
      const r = await m.forward(oneRow(ctx.oracle.json.input_ids), {
        logits: 'all',
        capture: [ctx.hook],
        interventions: [{ hook: ctx.hook, kind: 'zero' }],
      });
      const z = capture('zero', r, ctx.hook).data;
      check(
        z.every((x) => x === 0),
        'zero: the captured output is not exactly zero',
      );
      const out = logitsOf('zero', r).data;
      moved(ctx, 'zero', out, logitsOf('plain', plain).data);
      close(
        'zero logits vs patch(0)',
        out,
        await patched(ctx, { data: new Float32Array(p.data.length), shape: [...p.shape] }),
        ctx.tol.logits,
        ctx.log,
      );
    },
  },
  {
    id: 'intervene.callback',
    title: 'callback: a host function sees the output and its result replaces it (= add)',
    needs: ['hooks'],
    async run(ctx) {
      const plain = await plainForward(ctx);
      const p = capture('plain', plain, ctx.hook);
      const v = steeringVector(ctx, p);
      const m = await ctx.shared('base');
      let seen: HostTensor | null = null;
      const cb: Intervention = {
        hook: ctx.hook,
        kind: 'callback',
        fn: (x) => {
          seen = { data: x.data.slice(), shape: [...x.shape] };
          return broadcastAdd(x, v);
        },
      };
      const r = await m.forward(oneRow(ctx.oracle.json.input_ids), { logits: 'all', interventions: [cb] });
      if (!seen) fail('callback: never called');
      close(
        'callback input vs the plain capture',
        (seen as HostTensor).data,
        p.data,
        ctx.tol.activations,
        ctx.log,
      );
      close(
        'callback logits vs patch(plain + v)',
        logitsOf('callback', r).data,
        await patched(ctx, broadcastAdd(p, v)),
        ctx.tol.logits,
        ctx.log,
      );
    },
  },
  {
    id: 'lora.logits',
    title: 'logits with the fixture adapter vs the oracle',
    needs: [],
    async run(ctx) {
      const r = await (
        await ctx.shared('tuned')
      ).forward(oneRow(ctx.oracle.json.input_ids), { logits: 'all' });
      close(
        'lora.logits',
        logitsOf('lora', r).data,
        oracleTensor(ctx.oracle, 'lora.logits'),
        ctx.tol.logits,
        ctx.log,
      );
    },
  },
  {
    id: 'adapter.off',
    title: 'adapter: false runs the base model (forward and prefill)',
    needs: [],
    async run(ctx) {
      const m = await ctx.shared('tuned');
      const ids = ctx.oracle.json.input_ids;
      const ref = await baseLogitsReference(ctx);
      const off = logitsOf('adapter off', await m.forward(oneRow(ids), { logits: 'all', adapter: false }));
      close('adapter: false logits vs the base model', off.data, ref, ctx.tol.logits, ctx.log);
      const on = logitsOf('adapter on', await m.forward(oneRow(ids), { logits: 'all', adapter: true }));
      close(
        'adapter: true logits vs lora.logits',
        on.data,
        oracleTensor(ctx.oracle, 'lora.logits'),
        ctx.tol.logits,
        ctx.log,
      );
      if (ctx.backend.capabilities.generate) {
        const V = ctx.config.vocabSize;
        const T = ids.length;
        const { cache, logits } = await m.prefill(oneRow(ids), { adapter: false });
        cache.dispose();
        close(
          'prefill adapter: false vs the base model',
          logits.data,
          ref.subarray((T - 1) * V),
          ctx.tol.logits,
          ctx.log,
        );
      }
    },
  },
  {
    id: 'adapter.attach',
    title: 'detach gives the base model, attach again the adapter; parameters() follows',
    needs: [],
    async run(ctx) {
      const m = await ctx.load({ adapter: true });
      try {
        const ids = ctx.oracle.json.input_ids;
        const a = await ctx.adapter();
        const names = m
          .parameters()
          .map((p) => p.name)
          .sort();
        check(
          JSON.stringify(names) === JSON.stringify([...a.tensors.keys()].sort()),
          `parameters() with the adapter: [${names.slice(0, 3).join(', ')}...] (${names.length}), expected the ${a.tensors.size} PEFT keys`,
        );
        for (const p of m.parameters()) sameShape(p.name, p.shape, a.tensors.get(p.name)?.shape ?? []);
        await m.detachAdapter();
        check(m.parameters().length === 0, 'parameters() after detachAdapter is not empty');
        close(
          'logits after detach vs the base model',
          logitsOf('detached', await m.forward(oneRow(ids), { logits: 'all' })).data,
          await baseLogitsReference(ctx),
          ctx.tol.logits,
          ctx.log,
        );
        await m.attachAdapter({
          scaling: a.scaling,
          tensors: new Map(
            [...a.tensors].map(([k, t]) => [k, { data: t.data.slice(), shape: [...t.shape] }]),
          ),
        });
        close(
          'logits after attaching again vs lora.logits',
          logitsOf('attached', await m.forward(oneRow(ids), { logits: 'all' })).data,
          oracleTensor(ctx.oracle, 'lora.logits'),
          ctx.tol.logits,
          ctx.log,
        );
      } finally {
        m.dispose();
      }
    },
  },
  {
    id: 'parameters',
    title: 'getParameters / setParameters round trip, and the forward follows',
    needs: [],
    async run(ctx) {
      const m = await ctx.load({ adapter: true });
      try {
        const a = await ctx.adapter();
        const ids = ctx.oracle.json.input_ids;
        const got = await m.getParameters();
        // Values as stored: exact in float32, rounded once at lower precision.
        const storage = ctx.tol.activations / 10;
        for (const [k, t] of a.tensors)
          close(`getParameters ${k}`, got.get(k)?.data, t.data, storage, ctx.log);
        const changed = new Map<string, HostTensor>();
        for (const [k, t] of got)
          changed.set(k, {
            data: Float32Array.from(t.data, (x) => (k.includes('lora_B') ? -x : x)),
            shape: [...t.shape],
          });
        await m.setParameters(changed);
        const back = await m.getParameters();
        for (const [k, t] of changed)
          close(`after setParameters ${k}`, back.get(k)?.data, t.data, storage, ctx.log);
        // B -> -B flips the adapter's update: the logits must follow.
        const lora = oracleTensor(ctx.oracle, 'lora.logits');
        moved(
          ctx,
          'setParameters',
          logitsOf('negated', await m.forward(oneRow(ids), { logits: 'all' })).data,
          lora,
        );
        await m.setParameters(got);
        close(
          'logits after restoring vs lora.logits',
          logitsOf('restored', await m.forward(oneRow(ids), { logits: 'all' })).data,
          lora,
          ctx.tol.logits,
          ctx.log,
        );
      } finally {
        m.dispose();
      }
    },
  },
];
