import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from './tokenizer.js';
import { FIXTURE_ARCHS, hfTinyDir } from './testing/fixtures.js';

interface Ref {
  tokenize: Array<{
    text: string;
    ids: number[];
    ids_no_special: number[];
    tokens_no_special: string[];
    decoded: string;
  }>;
  chat: {
    messages: Array<{ role: string; content: string }>;
    add_generation_prompt: boolean;
    rendered: string;
    ids: number[];
  };
}

describe.each(FIXTURE_ARCHS)('tokenizer %s', (arch) => {
  const dir = hfTinyDir(arch);
  const refP = fsp.readFile(path.join(dir, 'reference.json'), 'utf8').then((t) => JSON.parse(t) as Ref);

  it('matches HF ids with and without special tokens, tokens and decode on every reference text', async () => {
    const [tok, ref] = await Promise.all([loadTokenizer(dir), refP]);
    expect(ref.tokenize.length).toBeGreaterThan(2);
    for (const r of ref.tokenize) {
      expect(tok.encode(r.text).ids).toEqual(r.ids);
      const ns = tok.encode(r.text, { addSpecialTokens: false });
      expect(ns.ids).toEqual(r.ids_no_special);
      expect(ns.tokens).toEqual(r.tokens_no_special);
      expect(tok.decode(r.ids_no_special)).toBe(r.decoded);
    }
  });

  it('renders the chat template exactly and encodes it', async () => {
    const [tok, ref] = await Promise.all([loadTokenizer(dir), refP]);
    const rendered = tok.applyChatTemplate(ref.chat.messages, {
      addGenerationPrompt: ref.chat.add_generation_prompt,
    });
    expect(rendered).toBe(ref.chat.rendered);
    expect(tok.encode(rendered, { addSpecialTokens: false }).ids).toEqual(ref.chat.ids);
    if (ref.chat.messages.length === 1 && ref.chat.messages[0]?.role === 'user') {
      const enc = tok.encodeChatUser(ref.chat.messages[0].content);
      expect(enc.ids).toEqual(ref.chat.ids);
      expect(enc.text).toBe(ref.chat.rendered);
    }
  });
});

describe('tokenizer errors', () => {
  it('names the missing file; a missing folder or a file given as the folder is MODEL_DIR_NOT_FOUND', async () => {
    await expect(loadTokenizer('/nonexistent/model')).rejects.toMatchObject({
      code: 'MODEL_DIR_NOT_FOUND',
      message: '/nonexistent/model: folder does not exist, expected a model folder (with tokenizer.json)',
    });
    const dir = await fsp.mkdtemp('/tmp/soo-tok-');
    await expect(loadTokenizer(dir)).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
      message: expect.stringContaining(path.join(dir, 'tokenizer.json')),
    });
    await fsp.writeFile(path.join(dir, 'config.json'), '{}');
    await expect(loadTokenizer(path.join(dir, 'config.json'))).rejects.toMatchObject({
      code: 'MODEL_DIR_NOT_FOUND',
      message: expect.stringContaining('is a file, expected a model folder'),
    });
  });
  it('rejects a tokenizer.json that is not JSON', async () => {
    const dir = await fsp.mkdtemp('/tmp/soo-tok-');
    await fsp.writeFile(path.join(dir, 'tokenizer.json'), '{not json');
    await expect(loadTokenizer(dir)).rejects.toMatchObject({ code: 'TOKENIZER_LOAD' });
  });
  it('reports a missing chat template', async () => {
    const dir = await fsp.mkdtemp('/tmp/soo-tok-');
    await fsp.copyFile(path.join(hfTinyDir('llama'), 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const tok = await loadTokenizer(dir);
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(/chat_template/);
  });
});
