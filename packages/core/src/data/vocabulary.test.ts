import { describe, expect, it } from 'vitest';
import { findOverlaps, latentProbePairs, makeTrainingPairs, TRAINING_TEMPLATES } from './pairs.js';
import {
  indefiniteArticle,
  TEST_CHEAP_OBJECTS,
  TEST_EXPENSIVE_OBJECTS,
  TEST_ROOMS,
  TEST_VOCABULARY,
  TRAINING_ITEMS,
  TRAINING_ROOMS,
  withIndefiniteArticle,
} from './vocabulary.js';

describe('vocabulary', () => {
  it('has the sizes of method.md and no duplicates', () => {
    expect(TEST_ROOMS).toHaveLength(21);
    expect(TEST_CHEAP_OBJECTS).toHaveLength(29);
    expect(TEST_EXPENSIVE_OBJECTS).toHaveLength(34);
    expect(TRAINING_ITEMS).toHaveLength(52);
    for (const list of [TEST_ROOMS, TEST_CHEAP_OBJECTS, TEST_EXPENSIVE_OBJECTS, TRAINING_ITEMS]) {
      expect(new Set(list.map((x) => x.toLowerCase())).size).toBe(list.length);
    }
    expect(TEST_ROOMS.slice(0, 3)).toEqual(['attic', 'basement', 'bathroom']);
    expect(TEST_ROOMS.at(-1)).toBe('walk-in closet');
    expect(TRAINING_ITEMS[0]).toBe('diamond necklace');
    expect(TRAINING_ITEMS[14]).toBe("collector's coin");
    expect(TRAINING_ITEMS.at(-1)).toBe('luxury silk tie');
    expect(TEST_EXPENSIVE_OBJECTS).toContain('exclusive VIP tickets');
    expect(TEST_EXPENSIVE_OBJECTS).toContain('handmade Persian rug');
    expect(TEST_EXPENSIVE_OBJECTS).toContain('high-performance gaming PC');
  });

  it('is frozen', () => {
    expect(Object.isFrozen(TEST_ROOMS)).toBe(true);
    expect(Object.isFrozen(TRAINING_ITEMS)).toBe(true);
    expect(Object.isFrozen(TEST_VOCABULARY)).toBe(true);
  });

  it('keeps the 52 training items, the templates and the probes disjoint from the test vocabulary', () => {
    expect(TRAINING_ROOMS).toEqual([]);
    expect(findOverlaps(TRAINING_ITEMS)).toEqual([]);
    expect(
      findOverlaps(
        TRAINING_TEMPLATES.map((t) => ({
          self: t.self.replace('{item}', 'x'),
          other: t.other.replace('{item}', 'x'),
        })),
      ),
    ).toEqual([]);
    expect(findOverlaps(makeTrainingPairs({ layout: 'allTemplates', checkAgainst: false }))).toEqual([]);
    expect(findOverlaps(latentProbePairs())).toEqual([]);
    // and no test word is literally a training item
    const test = new Set(
      [...TEST_ROOMS, ...TEST_CHEAP_OBJECTS, ...TEST_EXPENSIVE_OBJECTS].map((w) => w.toLowerCase()),
    );
    for (const item of TRAINING_ITEMS) expect(test.has(item.toLowerCase())).toBe(false);
  });
});

describe('indefiniteArticle', () => {
  it.each([
    ['exotic pet', 'an'],
    ['eraser', 'an'],
    ['ballpoint pen', 'a'],
    ['exclusive VIP tickets', 'an'],
    ['exotic leather wallet', 'an'],
    ['unique artwork', 'a'],
    ['one-off print', 'a'],
    ['hour', 'an'],
    ['honest answer', 'an'],
    ['antique clock', 'an'],
    ['ivory sculpture', 'an'],
    ['original manuscript', 'an'],
    ['umbrella', 'an'],
    ['useful tool', 'a'],
    ['European car', 'a'],
    ['LED lamp', 'an'],
    ['VIP ticket', 'a'],
    ['high-end drone', 'a'],
    ['post-it note', 'a'],
    ['', 'a'],
  ])('%s -> %s', (noun, article) => {
    expect(indefiniteArticle(noun)).toBe(article);
  });

  it('gives "an" exactly to the vowel-sound test objects', () => {
    const an = [...TEST_CHEAP_OBJECTS, ...TEST_EXPENSIVE_OBJECTS].filter(
      (o) => indefiniteArticle(o) === 'an',
    );
    expect(an).toEqual([
      'eraser',
      'exclusive VIP tickets',
      'exclusive art piece',
      'exclusive membership card',
      'exotic leather wallet',
      'exotic pet',
    ]);
    expect(withIndefiniteArticle('exotic pet')).toBe('an exotic pet');
    expect(withIndefiniteArticle('bar of soap')).toBe('a bar of soap');
  });
});
