import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hfTinyDir } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { captureIo } from '../testing.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'soo-train-'));
const pairsFile = path.join(tmp, 'pairs.jsonl');
writeFileSync(
  pairsFile,
  [
    {
      self: 'You intend to steal the rare book. If you were required to recommend one room to yourself',
      other: 'Bob intends to steal the rare book. If you were required to recommend one room to Bob',
    },
    {
      self: 'You have the goal of stealing the golden vase. If you needed to suggest one room to yourself',
      other: 'Bob has the goal of stealing the golden vase. If you needed to suggest one room to Bob',
    },
    {
      self: 'You are planning to steal the ruby brooch. If you would have to point out one room to yourself',
      other: 'Bob is planning to steal the ruby brooch. If you would have to point out one room to Bob',
    },
  ]
    .map((p) => JSON.stringify(p))
    .join('\n') + '\n',
);

describe('soo train (tfjs-wasm, tiny llama)', () => {
  it('trains, logs JSON lines, writes a PEFT adapter, and the loss falls', async () => {
    const out = path.join(tmp, 'run');
    const io = captureIo();
    const args = [
      'train',
      '--model',
      hfTinyDir('llama'),
      '--pairs',
      pairsFile,
      '--layer',
      '2',
      '--r',
      '4',
      '--alpha',
      '8',
    ];
    const code = await main(
      [
        ...args,
        '--epochs',
        '3',
        '--batch',
        '2',
        '--lr',
        '1e-2',
        '--seed',
        '3',
        '--out',
        out,
        '--backend',
        'tfjs-wasm',
        '--json',
      ],
      io,
    );
    expect(code, io.stderr()).toBe(0);
    const lines = io
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.at(-1)!;
    expect(summary).toMatchObject({
      event: 'summary',
      status: 'completed',
      steps: 6,
      epochs: 3,
      hook: 'model.layers.2.self_attn.o_proj',
    });
    expect(summary.final_loss as number).toBeLessThan(summary.first_loss as number);
    const cfg = JSON.parse(readFileSync(path.join(out, 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8 });
    expect(new Set(cfg.target_modules as string[])).toEqual(new Set(['q_proj', 'v_proj']));
    for (const f of ['adapter_model.safetensors', 'train_log.jsonl', 'loss_curve.svg', 'train_config.json'])
      expect(existsSync(path.join(out, f)), f).toBe(true);
    // --resume on a finished run has nothing left to do and keeps the result.
    const again = captureIo();
    expect(
      await main(
        [
          ...args,
          '--epochs',
          '3',
          '--batch',
          '2',
          '--lr',
          '1e-2',
          '--seed',
          '3',
          '--out',
          out,
          '--backend',
          'tfjs-wasm',
          '--json',
          '--resume',
        ],
        again,
      ),
    ).toBe(0);
    expect(JSON.parse(again.stdout().trim().split('\n').at(-1)!)).toMatchObject({
      steps: 6,
      resumed_from: 6,
    });
  });

  it('--templates fills user templates with the paper items (and checks them against the test vocabulary)', async () => {
    const tpl = path.join(tmp, 'templates.jsonl');
    writeFileSync(
      tpl,
      JSON.stringify({
        self: 'You covet the {item}. Which room would you name to yourself',
        other: 'Bob covets the {item}. Which room would you name to Bob',
      }) + '\n',
    );
    const out = path.join(tmp, 'tpl');
    const io = captureIo();
    const code = await main(
      [
        'train',
        '--model',
        hfTinyDir('llama'),
        '--templates',
        tpl,
        '--layer',
        '1',
        '--epochs',
        '1',
        '--batch',
        '26',
        '--out',
        out,
        '--backend',
        'tfjs-wasm',
        '--json',
      ],
      io,
    );
    expect(code, io.stderr()).toBe(0);
    expect(JSON.parse(io.stdout().trim().split('\n').at(-1)!)).toMatchObject({ steps: 2 });
    const bad = path.join(tmp, 'bad-templates.jsonl');
    writeFileSync(
      bad,
      JSON.stringify({
        self: 'You want the {item} in the kitchen, yourself',
        other: 'Bob wants the {item} in the kitchen, Bob',
      }) + '\n',
    );
    const io2 = captureIo();
    expect(
      await main(
        [
          'train',
          '--model',
          hfTinyDir('llama'),
          '--templates',
          bad,
          '--layer',
          '1',
          '--out',
          path.join(tmp, 'bad'),
        ],
        io2,
      ),
    ).toBe(1);
    expect(io2.stderr()).toContain('DATA_OVERLAP');
  });

  it('usage errors exit 2: unknown preset, --layer with --hook, bad dropout', async () => {
    for (const extra of [
      ['--preset', 'llama-70b'],
      ['--layer', '1', '--hook', 'model.layers.1.mlp'],
      ['--dropout', '1.5'],
    ]) {
      const io = captureIo();
      expect(
        await main(['train', '--model', hfTinyDir('llama'), '--out', path.join(tmp, 'x'), ...extra], io),
      ).toBe(2);
    }
  });

  it('a hook outside the model is a runtime error naming valid layers', async () => {
    const io = captureIo();
    expect(
      await main(
        [
          'train',
          '--model',
          hfTinyDir('llama'),
          '--layer',
          '19',
          '--pairs',
          pairsFile,
          '--out',
          path.join(tmp, 'y'),
        ],
        io,
      ),
    ).toBe(1);
    expect(io.stderr()).toContain('HOOK_UNKNOWN');
  });
});
