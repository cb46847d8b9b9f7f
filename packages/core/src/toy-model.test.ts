import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOY_CHAT_TEMPLATE, toyConfigJson, toyModelDir } from './toy-model.js';

describe('the embedded toy model', () => {
  it('is found from the sources, and its files match the constants it was built with', () => {
    const dir = toyModelDir();
    expect(existsSync(path.join(dir, 'model.safetensors'))).toBe(true);
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const expected = toyConfigJson();
    for (const k of ['model_type', 'hidden_size', 'num_hidden_layers', 'pad_token_id', 'eos_token_id'])
      expect(config[k], k).toEqual(expected[k]);
    const tc = JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as {
      chat_template: string;
    };
    expect(tc.chat_template).toBe(TOY_CHAT_TEMPLATE);
  });
});
