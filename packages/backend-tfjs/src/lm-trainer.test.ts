/**
 * The next-token objective's gradient on tfjs, white-box: on the tiny Llama and Gemma-2 fixtures with their
 * adapters, `LmTrainer.computeLossAndGrads` (core's objective through this backend's `backward`) equals the
 * chain rule through the analytic d loss / d logits, carried to the LoRA tensors by tfjs' VJP of the
 * decoder. The trainer's behaviour over the primitives (loss against a host cross-entropy, finite
 * differences, training, resume, errors) is tested in `@soo/core` (train/model-trainers.test.ts).
 *
 * `SOO_LM_LOG=1` prints every measured error.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LmBatch, type SooModel } from '@soo/core';
import { hfTinyDir, relativeError } from '@soo/core/testing';
import { createTfjsCpuBackend, type TfjsBackend } from './backend.js';
import { loraParams } from './parameters.js';
import { activate } from './tf.js';
import { decoderOf, loadFixture, readReferenceJson, type FixtureReference } from './test-helpers.js';

let cpu: TfjsBackend;
beforeAll(async () => {
  cpu = await createTfjsCpuBackend();
});

function report(label: string, err: number): number {
  if (process.env.SOO_LM_LOG) console.log(`[lm-trainer] ${label}: ${err.toExponential(2)}`);
  return err;
}

/** log-softmax in float64 of the `V` values of `z` from offset `o`. */
function logSoftmax64(z: Float32Array, o: number, V: number): Float64Array {
  let mx = -Infinity;
  for (let j = 0; j < V; j++) mx = Math.max(mx, z[o + j]!);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(z[o + j]! - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from({ length: V }, (_, j) => z[o + j]! - lse);
}

for (const arch of ['llama', 'gemma2'] as const) {
  describe(`next-token gradients on ${arch}`, () => {
    const dir = hfTinyDir(arch);
    let ref: FixtureReference;
    let m: SooModel;
    let padId: number;
    beforeAll(async () => {
      ref = await readReferenceJson(dir);
      m = await loadFixture(cpu, dir, true);
      padId = m.config.padTokenId ?? 0;
    });
    afterAll(() => m.dispose());

    /** Two rows of different lengths; the shorter holds `padId` as a real token, which still counts. */
    const padded = (): LmBatch => {
      const o = ref.soo.other_ids;
      return { ids: [ref.soo.self_ids, [...o.slice(0, 6), padId, ...o.slice(7, 11)]], padId };
    };

    it('equal the chain rule through the analytic d loss / d logits (every LoRA tensor)', async () => {
      const batch = padded();
      const trainer = m.createLmTrainer({ optimizer: { lr: 1e-2 } });
      const { grads } = await trainer.computeLossAndGrads(batch);

      // d loss / d logits = (softmax(z) - onehot(next token)) / count at real targets, 0 elsewhere, in
      // float64 from the padded forward's logits; tfjs' VJP of the model (checked against torch by the
      // conformance suite) carries it to the LoRA tensors.
      const V = m.config.vocabSize;
      const T = Math.max(...batch.ids.map((r) => r.length));
      const ids = batch.ids.map((r) => [...r, ...Array.from({ length: T - r.length }, () => padId)]);
      const attentionMask = batch.ids.map((r) => Array.from({ length: T }, (_, t) => (t < r.length ? 1 : 0)));
      const z = (await m.forward({ ids, attentionMask })).logits!.data;
      const count = batch.ids.reduce((a, r) => a + r.length - 1, 0);
      const cot = new Float32Array(z.length);
      batch.ids.forEach((r, b) => {
        for (let t = 0; t + 1 < r.length; t++) {
          const o = (b * T + t) * V;
          const lp = logSoftmax64(z, o, V);
          for (let j = 0; j < V; j++) cot[o + j] = (Math.exp(lp[j]!) - (j === r[t + 1] ? 1 : 0)) / count;
        }
      });
      activate('cpu');
      const params = loraParams(decoderOf(m).weights);
      expect(params.map((p) => p.name).sort()).toEqual([...grads.keys()].sort());
      const chain = tf.variableGrads(
        () => {
          const r = decoderOf(m).run({ ids, attentionMask, logits: 'all' });
          return tf.sum(tf.mul(r.logits!, tf.tensor3d(cot, [ids.length, T, V])));
        },
        params.map((p) => p.variable),
      );
      let worst = 0;
      for (const p of params) {
        const want = chain.grads[p.variable.name]!.dataSync();
        worst = Math.max(worst, relativeError(grads.get(p.name)!.data, want));
      }
      tf.dispose([chain.value, ...Object.values(chain.grads)]);
      expect(report(`${arch} grads vs chain rule (worst tensor)`, worst)).toBeLessThan(1e-4);
      trainer.dispose();
    });
  });
}
