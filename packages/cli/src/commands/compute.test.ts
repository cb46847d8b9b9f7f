import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SafetensorsFile } from '@soo/core';
import { hfTinyDir, relativeError } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { captureIo } from '../testing.js';

const dir = hfTinyDir('llama');
const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as {
  input_ids: number[];
  lora: { hook: string };
  soo: { self_ids: number[]; other_ids: number[]; adamw: { losses_before_each_step_then_final: number[] } };
};
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-cli-'));

async function readAll(file: string): Promise<Map<string, { shape: readonly number[]; data: Float32Array }>> {
  const f = await SafetensorsFile.open(file);
  const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const n of f.names()) out.set(n, { shape: f.info(n).shape, data: await f.readFloat32(n) });
  await f.close();
  return out;
}

describe('soo forward (tfjs-cpu)', () => {
  it('writes logits and the hooked o_proj output matching the oracle (rel err < 1e-4)', async () => {
    const out = path.join(tmp, 'fwd.safetensors');
    const hook = 'model.layers.2.self_attn.o_proj';
    const io = captureIo();
    const code = await main(
      [
        'forward',
        '--model',
        dir,
        '--ids',
        ref.input_ids.join(','),
        '--hooks',
        hook,
        '--out',
        out,
        '--backend',
        'tfjs-cpu',
      ],
      io,
    );
    expect(code, io.stderr()).toBe(0);
    const got = await readAll(out);
    const oracle = await readAll(path.join(dir, 'reference.safetensors'));
    expect(got.get('logits')!.shape).toEqual(oracle.get('logits')!.shape);
    expect(relativeError(got.get('logits')!.data, oracle.get('logits')!.data)).toBeLessThan(1e-4);
    expect(relativeError(got.get(hook)!.data, oracle.get('o_proj.2')!.data)).toBeLessThan(1e-4);
  });

  it('rejects a wrong hook name with the closest valid one', async () => {
    const io = captureIo();
    const code = await main(
      [
        'forward',
        '--model',
        dir,
        '--ids',
        '0,1',
        '--hooks',
        'model.layers.2.self_attn.o_prj',
        '--out',
        path.join(tmp, 'x.safetensors'),
      ],
      io,
    );
    expect(code).toBe(1);
    expect(io.stderr()).toContain('HOOK_UNKNOWN');
    expect(io.stderr()).toContain('model.layers.2.self_attn.o_proj');
  });

  it('needs exactly one input flag', async () => {
    const io = captureIo();
    expect(await main(['forward', '--model', dir, '--out', path.join(tmp, 'y.safetensors')], io)).toBe(2);
  });
});

describe('soo step (tfjs-cpu)', () => {
  it('reproduces the five PEFT AdamW steps from the fixture adapter (losses rel err < 1e-3)', async () => {
    const out = path.join(tmp, 'step.safetensors');
    const io = captureIo();
    const args = [
      'step',
      '--model',
      dir,
      '--adapter',
      path.join(dir, 'adapter'),
      '--self-ids',
      ref.soo.self_ids.join(','),
      '--other-ids',
      ref.soo.other_ids.join(','),
    ];
    const code = await main(
      [
        ...args,
        '--hook',
        ref.lora.hook,
        '--pooling',
        'full',
        '--steps',
        '5',
        '--lr',
        '1e-2',
        '--out',
        out,
        '--backend',
        'tfjs-cpu',
        '--json',
      ],
      io,
    );
    expect(code, io.stderr()).toBe(0);
    const got = await readAll(out);
    const oracle = await readAll(path.join(dir, 'reference.safetensors'));
    const losses = got.get('loss')!.data;
    expect(losses).toHaveLength(6);
    expect(relativeError(losses, ref.soo.adamw.losses_before_each_step_then_final)).toBeLessThan(1e-3);
    let grads = 0;
    for (const [k, t] of got) {
      if (k.startsWith('grad.')) {
        grads++;
        const o = oracle.get(k)!.data;
        if (o.every((x) => x === 0)) expect(t.data.every((x) => x === 0)).toBe(true);
        else expect(relativeError(t.data, o)).toBeLessThan(1e-3);
      }
      if (k.startsWith('adapter.'))
        expect(relativeError(t.data, oracle.get(`adamw5.${k.slice(8)}`)!.data)).toBeLessThan(1e-3);
    }
    expect(grads).toBe(32); // 4 layers x q/k/v/o x A/B
    const lines = io
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string });
    expect(lines.at(-1)!.event).toBe('done');
  });

  it('trains fresh LoRA on q_proj,v_proj by default and the loss falls', async () => {
    const out = path.join(tmp, 'fresh.safetensors');
    const io = captureIo();
    const code = await main(
      [
        'step',
        '--model',
        dir,
        '--self-ids',
        ref.soo.self_ids.join(','),
        '--other-ids',
        ref.soo.other_ids.join(','),
        '--hook',
        ref.lora.hook,
        '--steps',
        '3',
        '--out',
        out,
        '--backend',
        'tfjs-cpu',
      ],
      io,
    );
    expect(code, io.stderr()).toBe(0);
    const got = await readAll(out);
    const keys = [...got.keys()].filter((k) => k.startsWith('adapter.'));
    expect(keys.every((k) => /\.(q_proj|v_proj)\.lora_[AB]\.weight$/.test(k))).toBe(true);
    expect(keys).toHaveLength(16);
    const losses = got.get('loss')!.data;
    expect(losses[0]).toBeGreaterThan(0);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
  });

  it('rejects a bad pooling with exit 2', async () => {
    const io = captureIo();
    const code = await main(
      [
        'step',
        '--model',
        dir,
        '--self-ids',
        '1',
        '--other-ids',
        '2',
        '--hook',
        ref.lora.hook,
        '--pooling',
        'max',
        '--out',
        path.join(tmp, 'z.safetensors'),
      ],
      io,
    );
    expect(code).toBe(2);
    expect(io.stderr()).toContain('--pooling');
  });
});
