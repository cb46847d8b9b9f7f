/**
 * `--backend native-cpu` and `--backend tfjs-wasm` give the same results through the real CLI: forward
 * (logits and a hook), step (losses, gradients, adapter), train (the adapter after 2 epochs) and eval
 * (identical greedy answers). fp32 on both sides: relative error < 1e-4 for values (1e-3 for gradients and
 * for trained adapters, which compound AdamW's sqrt(v) division over steps); token choices must be equal.
 * Skipped, with the reason, where the native addon is not built.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { nativeAvailability } from '@soo/backend-cuda';
import { SafetensorsFile } from '@soo/core';
import { hfTinyDir, relativeError } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { captureIo } from '../testing.js';

const native = nativeAvailability();
if (!native.available) console.log(`native-cpu vs tfjs-wasm skipped: ${native.reason}`);
const BACKENDS = ['native-cpu', 'tfjs-wasm'] as const;
const dir = hfTinyDir('llama');
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-agree-'));

async function readAll(file: string): Promise<Map<string, Float32Array>> {
  const f = await SafetensorsFile.open(file);
  const out = new Map<string, Float32Array>();
  for (const n of f.names()) out.set(n, await f.readFloat32(n));
  await f.close();
  return out;
}

async function run(args: string[]): Promise<void> {
  const io = captureIo();
  const code = await main(args, io);
  expect(code, io.stderr()).toBe(0);
}

function expectAgree(
  a: Map<string, Float32Array>,
  b: Map<string, Float32Array>,
  tol: (name: string) => number,
): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [name, x] of a) {
    const y = b.get(name)!;
    const zero = y.every((v) => v === 0);
    if (zero)
      expect(
        x.every((v) => v === 0),
        `${name}: zeros on one backend only`,
      ).toBe(true);
    else expect(relativeError(x, y), name).toBeLessThan(tol(name));
  }
}

describe.skipIf(!native.available)('native-cpu and tfjs-wasm agree through the CLI', () => {
  it('soo forward: logits and o_proj', async () => {
    const outs = BACKENDS.map((b) => path.join(tmp, `fwd-${b}.safetensors`));
    for (const [i, b] of BACKENDS.entries()) {
      await run([
        'forward',
        '--model',
        dir,
        '--chat-user',
        'Which room would you suggest to Bob?',
        '--hooks',
        'model.layers.2.self_attn.o_proj',
        '--out',
        outs[i]!,
        '--backend',
        b,
      ]);
    }
    expectAgree(await readAll(outs[0]!), await readAll(outs[1]!), () => 1e-4);
  });

  it('soo step: losses, gradients and the adapter after 5 steps', async () => {
    const outs = BACKENDS.map((b) => path.join(tmp, `step-${b}.safetensors`));
    for (const [i, b] of BACKENDS.entries()) {
      await run([
        'step',
        '--model',
        dir,
        '--self-ids',
        '0,330,411,298,266',
        '--other-ids',
        '0,321,411,298',
        '--hook',
        'model.layers.2.self_attn.o_proj',
        '--pooling',
        'mean',
        '--steps',
        '5',
        '--lr',
        '1e-2',
        '--out',
        outs[i]!,
        '--backend',
        b,
      ]);
    }
    expectAgree(await readAll(outs[0]!), await readAll(outs[1]!), (n) =>
      n.startsWith('loss') ? 1e-4 : 1e-3,
    );
  });

  it('soo train and soo eval: the trained adapters agree and the greedy answers are identical', async () => {
    const runs = BACKENDS.map((b) => path.join(tmp, `train-${b}`));
    for (const [i, b] of BACKENDS.entries()) {
      await run([
        'train',
        '--model',
        dir,
        '--layer',
        '2',
        '--epochs',
        '1',
        '--batch',
        '8',
        '--lr',
        '1e-3',
        '--seed',
        '3',
        '--out',
        runs[i]!,
        '--backend',
        b,
      ]);
    }
    expectAgree(
      await readAll(path.join(runs[0]!, 'adapter_model.safetensors')),
      await readAll(path.join(runs[1]!, 'adapter_model.safetensors')),
      () => 1e-3,
    );
    const answers: string[] = [];
    for (const [i, b] of BACKENDS.entries()) {
      const out = path.join(tmp, `eval-${b}`);
      await run([
        'eval',
        '--model',
        dir,
        '--adapter',
        runs[i]!,
        '--scenarios',
        'main',
        '--n',
        '6',
        '--max-new-tokens',
        '8',
        '--out',
        out,
        '--backend',
        b,
      ]);
      answers.push(
        readFileSync(path.join(out, 'answers.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { answer: string }).answer)
          .join('\n'),
      );
    }
    expect(answers[0]).toBe(answers[1]);
  }, 120_000);
});
