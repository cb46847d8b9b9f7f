import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './testing.js';

const tinyLlama = path.resolve(__dirname, '..', '..', 'core', 'assets', 'tiny-llama');

describe('error messages at the command line', () => {
  it('an unknown hook names soo inspect, not the API function', async () => {
    const r = await runCli([
      'forward',
      '--model',
      tinyLlama,
      '--text',
      'Which room?',
      '--hooks',
      'model.layers.1.self_attn.o_prj',
      '--out',
      path.join(__dirname, 'never-written.safetensors'),
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^soo: error \[\w+\]: unknown hook point "model\.layers\.1\.self_attn\.o_prj"/);
    expect(r.err).toContain('(`soo inspect <model>` lists them)');
    expect(r.err).not.toContain('listHookPoints');
  });
});
