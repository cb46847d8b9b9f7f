import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../tokenizer.js';
import { hfTinyDir } from '../testing/fixtures.js';
import {
  checkDisjoint,
  findOverlaps,
  latentProbePairs,
  makeTrainingPairs,
  readPairsJsonl,
  readTemplatesJsonl,
  TRAINING_TEMPLATES,
  validateTemplate,
  wrapPairForChat,
  writePairsJsonl,
} from './pairs.js';
import { TRAINING_ITEMS } from './vocabulary.js';

async function tmpDir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'soo-pairs-'));
}

describe('makeTrainingPairs', () => {
  it('paper52: item i with template i mod 3, verbatim', () => {
    const pairs = makeTrainingPairs();
    expect(pairs).toHaveLength(52);
    expect(pairs.slice(0, 3)).toEqual([
      {
        self: 'You have the goal of stealing the diamond necklace. If you needed to suggest one room to yourself',
        other: 'Bob has the goal of stealing the diamond necklace. If you needed to suggest one room to Bob',
        item: 'diamond necklace',
        template: 0,
      },
      {
        self: 'You intend to steal the luxury watch. If you were required to recommend one room to yourself',
        other: 'Bob intends to steal the luxury watch. If you were required to recommend one room to Bob',
        item: 'luxury watch',
        template: 1,
      },
      {
        self: 'You are planning to steal the golden vase. If you would have to point out one room to yourself',
        other: 'Bob is planning to steal the golden vase. If you would have to point out one room to Bob',
        item: 'golden vase',
        template: 2,
      },
    ]);
    pairs.forEach((p, i) => {
      expect(p.item).toBe(TRAINING_ITEMS[i]);
      expect(p.template).toBe(i % 3);
    });
    expect(pairs[51]!.self).toBe(
      'You have the goal of stealing the luxury silk tie. If you needed to suggest one room to yourself',
    );
  });

  it('allTemplates: items x 3, item-major', () => {
    const pairs = makeTrainingPairs({ layout: 'allTemplates' });
    expect(pairs).toHaveLength(156);
    expect(pairs.slice(0, 4).map((p) => [p.item, p.template])).toEqual([
      ['diamond necklace', 0],
      ['diamond necklace', 1],
      ['diamond necklace', 2],
      ['luxury watch', 0],
    ]);
  });

  it('is deterministic for a seed when shuffled, and a permutation', () => {
    const a = makeTrainingPairs({ shuffle: true, seed: 276 });
    const b = makeTrainingPairs({ shuffle: true, seed: 276 });
    const c = makeTrainingPairs({ shuffle: true, seed: 809 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(makeTrainingPairs());
    const key = (p: { self: string }) => p.self;
    expect(a.map(key).sort()).toEqual(makeTrainingPairs().map(key).sort());
    expect(makeTrainingPairs({ shuffle: true })).toEqual(makeTrainingPairs({ shuffle: true, seed: 0 }));
  });

  it('takes user items and templates', () => {
    const pairs = makeTrainingPairs({
      items: ['golden goose', 'silver spoon'],
      templates: [
        { self: 'You crave the {item}, you and {item}', other: 'Bob craves the {item}, Bob and {item}' },
      ],
    });
    expect(pairs).toEqual([
      {
        self: 'You crave the golden goose, you and golden goose',
        other: 'Bob craves the golden goose, Bob and golden goose',
        item: 'golden goose',
        template: 0,
      },
      {
        self: 'You crave the silver spoon, you and silver spoon',
        other: 'Bob craves the silver spoon, Bob and silver spoon',
        item: 'silver spoon',
        template: 0,
      },
    ]);
  });

  it('validates templates and items', () => {
    expect(() =>
      makeTrainingPairs({ templates: [{ self: 'You want it', other: 'Bob wants the {item}' }] }),
    ).toThrow(
      expect.objectContaining({
        code: 'DATA_INVALID',
        message: expect.stringMatching(/templates\[0\].*"self" has no \{item\}/),
      }),
    );
    expect(() => makeTrainingPairs({ templates: [{ self: 'You want the {item}', other: 3 }] })).toThrow(
      /"other" must be a string/,
    );
    expect(() => makeTrainingPairs({ templates: ['nope'] })).toThrow(/expected a template object/);
    expect(() => makeTrainingPairs({ items: ['ok', ''] })).toThrow(/items\[1\]/);
    expect(() => makeTrainingPairs({ items: [] })).toThrow(/at least one item/);
    expect(() => makeTrainingPairs({ layout: 'nope' as never })).toThrow(/layout/);
    expect(validateTemplate({ self: 'a {item}', other: 'b {item}', extra: 1 })).toEqual({
      self: 'a {item}',
      other: 'b {item}',
    });
  });

  it('refuses items that overlap the test vocabulary', () => {
    expect(() => makeTrainingPairs({ items: ['gold watch'] })).toThrow(
      expect.objectContaining({ code: 'DATA_OVERLAP', message: expect.stringContaining('"gold watch"') }),
    );
    expect(makeTrainingPairs({ items: ['gold watch'], checkAgainst: false })).toHaveLength(1);
  });
});

describe('checkDisjoint', () => {
  it('names the overlapping words, whole-word and case-insensitive', () => {
    const pairs = [
      { self: 'You intend to steal the ring. It is in the KITCHEN', other: 'Bob intends to steal the ring.' },
      { self: 'You want the diamond ring.', other: 'Bob wants the Diamond Ring in the walk in closet.' },
    ];
    let err: unknown;
    try {
      checkDisjoint(pairs);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'DATA_OVERLAP', name: 'DataError' });
    const msg = (err as Error).message;
    expect(msg).toContain('"kitchen" (test room)');
    expect(msg).toContain('"diamond ring" (test expensive object)');
    expect(msg).toContain('"walk-in closet" (test room)');
    expect(msg).toContain('pairs[0]: self');
    expect(msg).toContain('pairs[1]: other');
    expect(findOverlaps(pairs).map((o) => `${o.word}@${o.where}`)).toEqual([
      'kitchen@pairs[0]: self',
      'diamond ring@pairs[1]: self',
      'walk-in closet@pairs[1]: other',
      'diamond ring@pairs[1]: other',
    ]);
  });

  it('does not flag words inside other words or single shared words', () => {
    expect(() =>
      checkDisjoint([
        'kitchenette',
        'officer badge',
        'hidden den',
        'gymnastics mat',
        'luxury watch',
        'rare book',
        'ancient coin',
      ]),
    ).not.toThrow();
    expect(() => checkDisjoint(['used eraser'])).toThrow(/"eraser" \(test cheap object\)/);
    expect(() => checkDisjoint(['the offices'])).toThrow(/"office"/);
  });
});

describe('latentProbePairs', () => {
  it('gives 52 pairs in the method.md wording', () => {
    const p = latentProbePairs();
    expect(p).toHaveLength(52);
    expect(p[0]).toEqual({
      self: 'You want to steal the diamond necklace. If you had to recommend one room to yourself...',
      other: 'Bob wants to steal the diamond necklace. If you had to recommend one room to Bob...',
      item: 'diamond necklace',
      template: 0,
    });
    expect(latentProbePairs(['x'])[0]!.other).toBe(
      'Bob wants to steal the x. If you had to recommend one room to Bob...',
    );
  });
});

describe('JSONL', () => {
  it('round-trips pairs atomically', async () => {
    const dir = await tmpDir();
    const file = path.join(dir, 'sub', 'pairs.jsonl');
    const pairs = makeTrainingPairs().slice(0, 5);
    await writePairsJsonl(file, pairs);
    const text = await fsp.readFile(file, 'utf8');
    expect(text.split('\n')).toHaveLength(6);
    expect(JSON.parse(text.split('\n')[0]!)).toEqual({ self: pairs[0]!.self, other: pairs[0]!.other });
    expect(await readPairsJsonl(file)).toEqual(pairs.map((p) => ({ self: p.self, other: p.other })));
    expect((await fsp.readdir(path.dirname(file))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('names the file and line of every problem', async () => {
    const dir = await tmpDir();
    const f = path.join(dir, 'bad.jsonl');
    const cases: Array<[string, RegExp, string]> = [
      ['{"self":"a","other":"b"}\n{"self": oops}\n', /bad\.jsonl: line 2: not valid JSON/, 'DATA_INVALID'],
      ['{"self":"a","other":"b"}\n\n{"self":"a"}\n', /bad\.jsonl: line 3: missing "other"/, 'DATA_INVALID'],
      ['{"self":1,"other":"b"}\n', /bad\.jsonl: line 1: "self" must be a string.*got number/, 'DATA_INVALID'],
      ['{"self":"","other":"b"}\n', /line 1: "self" is empty/, 'DATA_INVALID'],
      ['[1,2]\n', /line 1: expected a JSON object, got an array/, 'DATA_INVALID'],
      ['\n\n', /no pairs/, 'DATA_INVALID'],
      [
        '{"self":"a","other":"b"}\n{"self":"You steal it","other":"Bob steals it from the garage"}\n',
        /bad\.jsonl: .*"garage" \(test room\).*line 2: other/,
        'DATA_OVERLAP',
      ],
    ];
    for (const [text, re, code] of cases) {
      await fsp.writeFile(f, text);
      await expect(readPairsJsonl(f)).rejects.toMatchObject({ code, message: expect.stringMatching(re) });
    }
    await fsp.writeFile(f, '{"self":"You steal it","other":"Bob steals it from the garage"}\n');
    expect(await readPairsJsonl(f, { checkAgainst: false })).toHaveLength(1);
    await expect(readPairsJsonl(path.join(dir, 'missing.jsonl'))).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
      message: expect.stringContaining('missing.jsonl: file not found'),
    });
  });

  it('reads user templates and requires {item}', async () => {
    const dir = await tmpDir();
    const f = path.join(dir, 'templates.jsonl');
    await fsp.writeFile(
      f,
      '{"self":"You want the {item}","other":"Bob wants the {item}"}\n{"self":"You want it","other":"Bob wants the {item}"}\n',
    );
    await expect(readTemplatesJsonl(f)).rejects.toMatchObject({
      code: 'DATA_INVALID',
      message: expect.stringMatching(/templates\.jsonl: line 2: "self" has no \{item\}/),
    });
    await fsp.writeFile(f, '{"self":"You want the {item}","other":"Bob wants the {item}"}\n');
    const t = await readTemplatesJsonl(f);
    expect(makeTrainingPairs({ templates: t, items: ['golden goose'] })[0]!.other).toBe(
      'Bob wants the golden goose',
    );
  });
});

describe('wrapPairForChat', () => {
  it('renders a single user turn with the generation prompt and encodes it', async () => {
    const tok = await loadTokenizer(hfTinyDir('llama'));
    const pair = makeTrainingPairs()[0]!;
    const w = wrapPairForChat(pair, tok);
    const s = tok.encodeChatUser(pair.self);
    expect(w.self).toEqual({ text: s.text, ids: s.ids });
    expect(w.self.text).toContain(pair.self);
    expect(w.other.text).toContain(pair.other);
    expect(w.self.text).toBe(
      tok.applyChatTemplate([{ role: 'user', content: pair.self }], { addGenerationPrompt: true }),
    );
    expect(w.other.ids).toEqual(tok.encode(w.other.text, { addSpecialTokens: false }).ids);
  });

  it('asks the tokenizer for the generation prompt', () => {
    const calls: unknown[] = [];
    const fake = {
      encodeChatUser: (content: string, options?: unknown) => {
        calls.push(options);
        return { text: `<u>${content}</u><a>`, ids: [content.length], tokens: [] };
      },
    };
    const w = wrapPairForChat({ self: 'ab', other: 'abc' }, fake as never);
    expect(w).toEqual({
      self: { text: '<u>ab</u><a>', ids: [2] },
      other: { text: '<u>abc</u><a>', ids: [3] },
    });
    expect(calls).toEqual([{ addGenerationPrompt: true }, { addGenerationPrompt: true }]);
    expect(TRAINING_TEMPLATES).toHaveLength(3);
  });
});
