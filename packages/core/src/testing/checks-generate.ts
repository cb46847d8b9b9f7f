/**
 * Checks of `prefill` / `decode`: greedy tokens vs the oracle, decode logits vs a full forward over the
 * extended sequence (left padding, per-row position ids, with and without the adapter), and seeded
 * sampling (core samples on the host, so the same seed must give the same tokens).
 */
import type { BackendModel, HostTensor, TokenBatch } from '../backend-spec.js';
import { generate } from '../generate.js';
import { Rng } from '../rng.js';
import { sampleToken } from '../sampling.js';
import { check, close, fail, identical, sameShape } from './assert.js';
import type { ConformanceCheckDef } from './check-types.js';
import { explicitBatch, leftPadBatch } from '../batch.js';
import { type FixtureContext, oneRow, padIdOf } from './context.js';
import { rms } from './references.js';

function argmax(a: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if ((a[from + j] as number) > (a[from + best] as number)) best = j;
  return best;
}

/** A batch as [rows][tokens] grids, to extend it one token per row. */
function grids(b: TokenBatch): { ids: number[][]; mask: number[][]; pos: number[][] } {
  const rows = (a: ArrayLike<number>) =>
    Array.from({ length: b.rows }, (_, r) =>
      Array.from({ length: b.tokens }, (_, t) => a[r * b.tokens + t] as number),
    );
  return { ids: rows(b.ids), mask: rows(b.attentionMask), pos: rows(b.positionIds) };
}

/**
 * Prefill `rows` left-padded, then decode `next[s][r]` for each step, comparing every step's logits with a
 * full forward over the extended sequence.
 */
async function decodeAgainstForward(
  ctx: FixtureContext,
  m: BackendModel,
  rows: number[][],
  next: number[][],
  label: string,
): Promise<void> {
  const V = ctx.config.vocabSize;
  const b = leftPadBatch(rows, padIdOf(ctx.config));
  const g = grids(b);
  const { cache, logits } = await m.prefill(b);
  try {
    sameShape(`${label} prefill logits`, logits.shape, [b.rows, V]);
    check(
      cache.length === b.tokens,
      `${label}: cache.length ${cache.length} after prefill, expected ${b.tokens}`,
    );
    const first = (await m.forward(b, { logits: 'last' })).logits as HostTensor;
    close(`${label} prefill logits vs forward`, logits.data, first.data, ctx.tol.logits, ctx.log);
    for (const [s, tokens] of next.entries()) {
      const positions = g.pos.map((p) => (p[p.length - 1] as number) + 1);
      const out = await m.decode(cache, {
        ids: Int32Array.from(tokens),
        positionIds: Int32Array.from(positions),
        attentionMask: new Uint8Array(rows.length).fill(1),
      });
      sameShape(`${label} decode logits`, out.shape, [b.rows, V]);
      check(
        cache.length === b.tokens + s + 1,
        `${label}: cache.length ${cache.length} after ${s + 1} decode steps`,
      );
      g.ids.forEach((r, i) => r.push(tokens[i] as number));
      g.mask.forEach((r) => r.push(1));
      g.pos.forEach((r, i) => r.push(positions[i] as number));
      const ref = (
        await m.forward(explicitBatch({ ids: g.ids, attentionMask: g.mask, positionIds: g.pos }), {
          logits: 'last',
        })
      ).logits as HostTensor;
      close(
        `${label} decode step ${s + 1} vs forward over the extended sequence`,
        out.data,
        ref.data,
        ctx.tol.logits,
        ctx.log,
      );
    }
  } finally {
    cache.dispose();
  }
}

async function sampleRun(m: BackendModel, prompt: number[], steps: number, seed: string) {
  const rng = new Rng(seed);
  const ids: number[] = [];
  const logits: Float32Array[] = [];
  const { cache, logits: first } = await m.prefill(oneRow(prompt));
  try {
    let l = first.data;
    for (let s = 0; s < steps; s++) {
      logits.push(l.slice());
      const tok = sampleToken(l, rng, 0.8, undefined, 0.95); // core's sampling, float64 on the host
      ids.push(tok);
      const pos = prompt.length + s;
      l = (
        await m.decode(cache, {
          ids: Int32Array.of(tok),
          positionIds: Int32Array.of(pos),
          attentionMask: Uint8Array.of(1),
        })
      ).data;
    }
  } finally {
    cache.dispose();
  }
  return { ids, logits };
}

export const GENERATE_CHECKS: readonly ConformanceCheckDef[] = [
  {
    id: 'greedy',
    title: 'greedy decoding through prefill/decode vs the oracle tokens',
    needs: ['generate'],
    async run(ctx) {
      const g = ctx.oracle.json.greedy;
      const V = ctx.config.vocabSize;
      const m = await ctx.shared('base');
      const { cache, logits } = await m.prefill(oneRow(g.prompt_ids));
      try {
        let l = logits.data;
        for (let s = 0; s < g.output_ids.length; s++) {
          const ours = argmax(l, 0, V);
          const want = g.output_ids[s] as number;
          if (ours !== want) {
            // At low precision a near tie may go the other way; then the trajectories part and nothing after
            // compares. A gap beyond the logits budget is a wrong token.
            const gap = (l[ours] as number) - (l[want] as number);
            const allowed = 2 * ctx.tol.logits * rms(l);
            if (gap > allowed)
              fail(
                `greedy token ${s + 1}: ${ours}, the oracle's ${want} (logit gap ${gap.toExponential(2)} > ${allowed.toExponential(2)}); so far ${JSON.stringify(g.output_ids.slice(0, s))}`,
              );
            ctx.log?.(`greedy: near tie at token ${s + 1}`, gap, allowed);
            return;
          }
          if (s + 1 < g.output_ids.length)
            l = (
              await m.decode(cache, {
                ids: Int32Array.of(ours),
                positionIds: Int32Array.of(g.prompt_ids.length + s),
                attentionMask: Uint8Array.of(1),
              })
            ).data;
        }
      } finally {
        cache.dispose();
      }
    },
  },
  {
    id: 'decode.logits',
    title: 'prefill/decode on left-padded rows vs forward over the extended sequence (base and adapter)',
    needs: ['generate'],
    async run(ctx) {
      const ids = ctx.oracle.json.input_ids;
      const rows = [ids.slice(0, 8), ids.slice(2, 6)];
      const next = [
        [ids[8] as number, ids[6] as number],
        [ids[9] as number, ids[7] as number],
        [ids[10] as number, ids[8] as number],
      ];
      await decodeAgainstForward(ctx, await ctx.shared('base'), rows, next, 'base');
      await decodeAgainstForward(ctx, await ctx.shared('tuned'), rows, next.slice(0, 2), 'adapter');
    },
  },
  {
    id: 'sampling.seeded',
    title: 'seeded sampling from prefill/decode logits is reproducible (bit-identical logits)',
    needs: ['generate'],
    async run(ctx) {
      const m = await ctx.shared('tuned');
      const prompt = ctx.oracle.json.greedy.prompt_ids;
      const a = await sampleRun(m, prompt, 6, 'conformance/sample');
      const b = await sampleRun(m, prompt, 6, 'conformance/sample');
      check(
        JSON.stringify(a.ids) === JSON.stringify(b.ids),
        `sampled ${JSON.stringify(a.ids)} then ${JSON.stringify(b.ids)}`,
      );
      a.logits.forEach((l, s) => identical(`sampling step ${s + 1} logits`, b.logits[s], l));
      // And through core's generate (left-padded rows, temperature, top-p, a seed).
      const input = {
        prompts: [prompt, prompt.slice(0, 5)],
        maxNewTokens: 6,
        temperature: 0.8,
        topP: 0.95,
        seed: 5,
      };
      const [g1, g2] = [await generate(m, input), await generate(m, input)];
      check(
        JSON.stringify(g1) === JSON.stringify(g2),
        `generate with seed 5: ${JSON.stringify(g1)} then ${JSON.stringify(g2)}`,
      );
    },
  },
];
