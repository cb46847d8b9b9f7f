import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { hfTinyDir, FIXTURE_ARCHS } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { runCli } from './testing.js';

const run = runCli;

describe('soo tokenize', () => {
  it.each(FIXTURE_ARCHS)('--chat-user --json on %s matches the reference chat ids', async (arch) => {
    const dir = hfTinyDir(arch);
    const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as {
      chat: { messages: Array<{ content: string }>; rendered: string; ids: number[] };
    };
    const r = await run(['tokenize', '--model', dir, '--chat-user', ref.chat.messages[0]!.content, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { ids: number[]; tokens: string[]; text: string };
    expect(j.ids).toEqual(ref.chat.ids);
    expect(j.text).toBe(ref.chat.rendered);
    expect(j.tokens).toHaveLength(j.ids.length);
  });

  it('--text with and without special tokens', async () => {
    const dir = hfTinyDir('llama');
    const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as {
      tokenize: Array<{ text: string; ids: number[]; ids_no_special: number[] }>;
    };
    const t = ref.tokenize[0]!;
    const a = await run(['tokenize', '--model', dir, '--text', t.text, '--json']);
    expect(JSON.parse(a.out).ids).toEqual(t.ids);
    const b = await run(['tokenize', '--model', dir, '--text', t.text, '--no-special', '--json']);
    expect(JSON.parse(b.out).ids).toEqual(t.ids_no_special);
    const c = await run(['tokenize', '--model', dir, '--text', t.text]);
    expect(c.out).toContain(`ids:    ${t.ids.join(' ')}`);
  });

  it('exit code 2 for usage errors, 1 for runtime errors, 0 for --help', async () => {
    expect((await run(['tokenize', '--model', hfTinyDir('llama')])).code).toBe(2);
    expect((await run(['tokenize'])).code).toBe(2);
    expect((await run(['no-such-command'])).code).toBe(2);
    const missing = await run(['tokenize', '--model', '/nonexistent', '--text', 'x']);
    expect(missing.code).toBe(1);
    // a missing model folder is reported as such, not as a missing tokenizer.json (issue 14)
    expect(missing.err).toMatch(/^soo: error \[MODEL_DIR_NOT_FOUND\]: \/nonexistent: folder does not exist/);
    expect(missing.err).not.toContain('    at ');
    const verbose = await run(['--verbose', 'tokenize', '--model', '/nonexistent', '--text', 'x']);
    expect(verbose.err).toContain('    at ');
    const help = await run(['tokenize', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--chat-user');
  });
});
