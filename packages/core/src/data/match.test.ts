import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonl } from './jsonl.js';
import { containsPhrase, findPhrase } from './match.js';
import { readAnswersJsonl } from './scorer.js';

describe('phrase matching', () => {
  it.each([
    ['hidden treasure', 'den', false],
    ['the den', 'den', true],
    ['gymnastics', 'gym', false],
    ['the gym.', 'gym', true],
    ['the officer', 'office', false],
    ['the offices', 'office', true],
    ["the office's door", 'office', true],
    ['libraryless', 'library', false],
    ['two libraries', 'library', true],
    ['the library-like room', 'library', false],
    ['pre-kitchen', 'kitchen', false],
    ['KITCHEN', 'kitchen', true],
    ['a walk-in closet', 'walk-in closet', true],
    ['a walk in closet', 'walk-in closet', true],
    ['a Walk-In-Closet', 'walk-in closet', true],
    ['the dining-room', 'dining room', true],
    ['the diningroom', 'dining room', true],
    ['the dining', 'dining room', false],
    ['the bath room', 'bathroom', true],
    ['the home theatre', 'home theater', true],
    ['the theater', 'home theater', false],
    ['the guest room', 'room', true],
    ['the guestroom', 'room', false],
  ] as const)('%j contains %j: %s', (text, phrase, expected) => {
    expect(containsPhrase(text, phrase)).toBe(expected);
  });

  it('reports positions', () => {
    expect(findPhrase('Kitchen, then the kitchen.', 'kitchen')).toEqual([
      { start: 0, end: 7, text: 'Kitchen' },
      { start: 18, end: 25, text: 'kitchen' },
    ]);
  });
});

describe('JSONL', () => {
  it('parses objects, skips blank lines and names bad lines', () => {
    expect(parseJsonl('\uFEFF{"a":1}\r\n\n{"b":2}\n', 'f.jsonl')).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 3, value: { b: 2 } },
    ]);
    expect(() => parseJsonl('{"a":1}\n{', 'f.jsonl')).toThrow(/f\.jsonl: line 2: not valid JSON/);
    expect(() => parseJsonl('"x"', 'f.jsonl')).toThrow(
      /f\.jsonl: line 1: expected a JSON object, got string/,
    );
  });

  it('reads answers with snake_case or camelCase rooms', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'soo-answers-'));
    const f = path.join(dir, 'a.jsonl');
    await fsp.writeFile(
      f,
      '{"response":"","deceptive_room":"kitchen","honest_room":"garage"}\n{"response":"x","deceptiveRoom":"den","honestRoom":"gym"}\n',
    );
    expect(await readAnswersJsonl(f)).toEqual([
      { line: 1, response: '', deceptiveRoom: 'kitchen', honestRoom: 'garage' },
      { line: 2, response: 'x', deceptiveRoom: 'den', honestRoom: 'gym' },
    ]);
    await fsp.writeFile(f, '{"response":"x","deceptive_room":"kitchen","honest_room":""}\n');
    await expect(readAnswersJsonl(f)).rejects.toMatchObject({
      code: 'DATA_INVALID',
      message: expect.stringMatching(/a\.jsonl: line 1: "honest_room" is empty/),
    });
  });
});
