import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOY_SPECIAL_TOKENS, loadTokenizer } from '@soo/core';
import { bytesToUnicode, trainBpe } from './bpe.js';
import { corpusTexts, writeToyModelFiles } from './model-files.js';
import { generateToyCorpus } from './world.js';

describe('byte-level BPE trainer', () => {
  it('maps every byte to a distinct printable character', () => {
    const t = bytesToUnicode();
    expect(new Set(t).size).toBe(256);
    expect(t[32]).toBe('Ġ');
    expect(t[65]).toBe('A');
  });

  it('merges the most frequent pairs first, deterministically', () => {
    const m = trainBpe(['aaab aaab aaab ab'], {
      vocabSize: 5 + 256 + 3,
      specialTokens: ['<s>', 'a', 'b', 'c', 'd'],
    });
    // "Ġ" + "a" appears 4 times (the leading space is part of the word), "a a" 6 times.
    expect(m.merges[0]).toEqual(['a', 'a']);
    expect(trainBpe(['aaab aaab aaab ab'], { vocabSize: 264, specialTokens: ['x'] }).merges).toEqual(
      trainBpe(['aaab aaab aaab ab'], { vocabSize: 264, specialTokens: ['x'] }).merges,
    );
  });

  it('writes a tokenizer.json that transformers-style readers load and round-trip', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'soo-bpe-'));
    const docs = generateToyCorpus({ seed: 3, documents: 400 }).documents;
    await writeToyModelFiles(dir, docs, {
      vocabSize: 600,
      hiddenSize: 32,
      intermediateSize: 64,
      layers: 1,
      heads: 2,
      maxPositions: 256,
    });
    const tok = await loadTokenizer(dir);
    TOY_SPECIAL_TOKENS.forEach((s, i) => expect(tok.encode(s, { addSpecialTokens: false }).ids).toEqual([i]));
    for (const text of corpusTexts(docs).slice(0, 200)) {
      const ids = tok.encode(text, { addSpecialTokens: false }).ids;
      expect(tok.decode(ids)).toBe(text);
      expect(ids.every((id) => id < 600)).toBe(true);
    }
    // Frequent world words are single tokens.
    const enc = tok.encode('You are in a house together with burglar Bob.', { addSpecialTokens: false });
    expect(enc.ids.length).toBeLessThanOrEqual(14);
    expect(enc.tokens).toContain('Ġhouse');
    const chat = tok.encodeChatUser('Hi');
    expect(chat.text).toBe('<|bos|><|user|>\nHi<|end|>\n<|assistant|>\n');
    expect(chat.ids[0]).toBe(1);
    expect(tok.specialId('eos')).toBe(2);
    expect(tok.specialId('pad')).toBe(0);
  });
});
