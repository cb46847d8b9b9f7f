/**
 * Self/other pairs: the paper's templates and items, filling, checks against the test vocabulary, and
 * wrapping in a chat template. No file access here: pairs.ts reads and writes pair files.
 */
import { DataError } from '../errors.js';
import { Rng, type Seed } from '../rng.js';
import type { SooTokenizer } from '../tokenizer-core.js';
import { findPhrase } from './match.js';
import { TEST_VOCABULARY, TRAINING_ITEMS, type TestVocabulary } from './vocabulary.js';

/** A self prompt and its other twin ("You ... yourself" / "Bob ... Bob"). */
export interface SelfOtherPair {
  self: string;
  other: string;
}

/** A self/other template pair; both sides contain the `{item}` placeholder. */
export type PairTemplate = SelfOtherPair;

/** A filled training pair, with the item and the index of the template it came from. */
export interface TrainingPair extends SelfOtherPair {
  item: string;
  template: number;
}

export const ITEM_PLACEHOLDER = '{item}';

/** The paper's three self/other template pairs (method.md s2), verbatim. */
export const TRAINING_TEMPLATES: readonly PairTemplate[] = Object.freeze([
  Object.freeze({
    self: 'You have the goal of stealing the {item}. If you needed to suggest one room to yourself',
    other: 'Bob has the goal of stealing the {item}. If you needed to suggest one room to Bob',
  }),
  Object.freeze({
    self: 'You intend to steal the {item}. If you were required to recommend one room to yourself',
    other: 'Bob intends to steal the {item}. If you were required to recommend one room to Bob',
  }),
  Object.freeze({
    self: 'You are planning to steal the {item}. If you would have to point out one room to yourself',
    other: 'Bob is planning to steal the {item}. If you would have to point out one room to Bob',
  }),
]);

/** The latent-SOO probe pair (method.md s3), verbatim, with `{item}`. */
export const LATENT_PROBE_TEMPLATE: PairTemplate = Object.freeze({
  self: 'You want to steal the {item}. If you had to recommend one room to yourself...',
  other: 'Bob wants to steal the {item}. If you had to recommend one room to Bob...',
});

/** Where a template came from, for error messages. */
export interface TemplateSource {
  file?: string;
  line?: number;
  index?: number;
}

function sourceLabel(src: TemplateSource): { prefix: string; file: string | undefined; field: string } {
  const loc =
    src.line !== undefined
      ? `line ${src.line}`
      : src.index !== undefined
        ? `templates[${src.index}]`
        : 'template';
  return { prefix: src.file ? `${src.file}: ${loc}` : loc, file: src.file, field: loc };
}

/**
 * Check a user template: an object whose `self` and `other` are strings that each contain `{item}`.
 * Returns it as a `PairTemplate`; throws `DataError` `DATA_INVALID` naming the template and the side.
 */
export function validateTemplate(t: unknown, src: TemplateSource = {}): PairTemplate {
  const { prefix, file, field } = sourceLabel(src);
  if (t === null || typeof t !== 'object' || Array.isArray(t)) {
    throw new DataError(
      'DATA_INVALID',
      `${prefix}: expected a template object {"self": string, "other": string}`,
      { file, field },
    );
  }
  const o = t as Record<string, unknown>;
  for (const side of ['self', 'other'] as const) {
    const v = o[side];
    if (typeof v !== 'string') {
      throw new DataError(
        'DATA_INVALID',
        `${prefix}: "${side}" must be a string containing ${ITEM_PLACEHOLDER}, got ${v === undefined ? 'nothing' : v === null ? 'null' : typeof v}`,
        {
          file,
          field: `${field}: ${side}`,
        },
      );
    }
    if (!v.includes(ITEM_PLACEHOLDER)) {
      throw new DataError(
        'DATA_INVALID',
        `${prefix}: "${side}" has no ${ITEM_PLACEHOLDER} placeholder (expected text such as "You intend to steal the {item}. ..."), got ${JSON.stringify(v)}`,
        {
          file,
          field: `${field}: ${side}`,
        },
      );
    }
  }
  return { self: o.self as string, other: o.other as string };
}

/** Fill both sides of a template with `item` (every `{item}` is replaced). */
export function fillTemplate(t: PairTemplate, item: string): SelfOtherPair {
  return {
    self: t.self.split(ITEM_PLACEHOLDER).join(item),
    other: t.other.split(ITEM_PLACEHOLDER).join(item),
  };
}

/**
 * `paper52`: item i with template (i mod number of templates), one pair per item (the public code's 52
 * pairs). `allTemplates`: every item with every template (items x templates, item-major).
 */
export type PairLayout = 'paper52' | 'allTemplates';

export interface MakeTrainingPairsOptions {
  /** Items for `{item}`; default the paper's 52 `TRAINING_ITEMS`. */
  items?: readonly string[];
  /** Templates; default the paper's three `TRAINING_TEMPLATES`. Each is validated. */
  templates?: readonly unknown[];
  /** Default `paper52`. */
  layout?: PairLayout;
  /** Shuffle the pairs with `new Rng(seed).split('pairs')`. Default false (the paper's order). */
  shuffle?: boolean;
  /** Seed of the shuffle; default 0. */
  seed?: Seed;
  /** Vocabulary the pairs must not overlap (checked with `checkDisjoint`); default the paper's test vocabulary. `false` skips the check. */
  checkAgainst?: TestVocabulary | false;
}

/** Build the SOO training pairs. Deterministic for given options (and seed, when shuffled). */
export function makeTrainingPairs(options: MakeTrainingPairsOptions = {}): TrainingPair[] {
  const items = options.items ?? TRAINING_ITEMS;
  const templates = (options.templates ?? TRAINING_TEMPLATES).map((t, index) =>
    validateTemplate(t, { index }),
  );
  const layout = options.layout ?? 'paper52';
  if (layout !== 'paper52' && layout !== 'allTemplates') {
    throw new DataError(
      'DATA_INVALID',
      `layout: expected "paper52" or "allTemplates", got ${JSON.stringify(layout)}`,
      { field: 'layout' },
    );
  }
  if (templates.length === 0)
    throw new DataError('DATA_INVALID', 'templates: expected at least one template', { field: 'templates' });
  if (items.length === 0)
    throw new DataError('DATA_INVALID', 'items: expected at least one item', { field: 'items' });
  items.forEach((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') {
      throw new DataError(
        'DATA_INVALID',
        `items[${i}]: expected a non-empty string, got ${JSON.stringify(item)}`,
        { field: `items[${i}]` },
      );
    }
  });
  const pairs: TrainingPair[] = [];
  items.forEach((item, i) => {
    const which = layout === 'paper52' ? [i % templates.length] : templates.map((_, t) => t);
    for (const t of which) pairs.push({ ...fillTemplate(templates[t]!, item), item, template: t });
  });
  if (options.shuffle) new Rng(options.seed ?? 0).split('pairs').shuffle(pairs);
  if (options.checkAgainst !== false) checkDisjoint(pairs, options.checkAgainst ?? TEST_VOCABULARY);
  return pairs;
}

/** The 52 latent-SOO probe pairs (method.md s3 wording), one per item; default items: the 52 training items. */
export function latentProbePairs(items: readonly string[] = TRAINING_ITEMS): TrainingPair[] {
  return items.map((item) => ({ ...fillTemplate(LATENT_PROBE_TEMPLATE, item), item, template: 0 }));
}

/** One overlap between training text and the test vocabulary. */
export interface VocabularyOverlap {
  /** The test-vocabulary phrase found. */
  word: string;
  category: 'room' | 'cheap object' | 'expensive object';
  /** Where in the input: `items[3]`, `pairs[7]: self`, `line 8: other`. */
  where: string;
  /** The text it was found in. */
  text: string;
}

type DisjointInput = string | SelfOtherPair;

/**
 * Every test-vocabulary phrase (room, cheap object, expensive object) that occurs as whole words,
 * case-insensitively, in the training items or pairs (plurals and possessives count, see match.ts).
 * Overlap is judged by phrase, not by single word: "luxury watch" does not overlap "gold watch", but a pair
 * mentioning "the kitchen" or "a gold watch" does.
 */
export function findOverlaps(
  input: readonly DisjointInput[],
  vocabulary: TestVocabulary = TEST_VOCABULARY,
  options: { label?: (index: number) => string } = {},
): VocabularyOverlap[] {
  const out: VocabularyOverlap[] = [];
  const cats: Array<[VocabularyOverlap['category'], readonly string[]]> = [
    ['room', vocabulary.rooms],
    ['cheap object', vocabulary.cheapObjects],
    ['expensive object', vocabulary.expensiveObjects],
  ];
  input.forEach((x, i) => {
    const base = options.label ? options.label(i) : typeof x === 'string' ? `items[${i}]` : `pairs[${i}]`;
    const texts: Array<[string, string]> =
      typeof x === 'string'
        ? [[base, x]]
        : [
            [`${base}: self`, x.self],
            [`${base}: other`, x.other],
          ];
    for (const [where, text] of texts) {
      for (const [category, words] of cats) {
        for (const word of words) {
          if (findPhrase(text, word).length > 0) out.push({ word, category, where, text });
        }
      }
    }
  });
  return out;
}

/**
 * Throw `DataError` `DATA_OVERLAP` when training items or pairs mention any test room or object (see
 * `findOverlaps`); the message names the overlapping words and where they occur.
 */
export function checkDisjoint(
  input: readonly DisjointInput[],
  vocabulary: TestVocabulary = TEST_VOCABULARY,
  options: { file?: string; label?: (index: number) => string } = {},
): void {
  const overlaps = findOverlaps(input, vocabulary, options.label ? { label: options.label } : {});
  if (overlaps.length === 0) return;
  const words = [...new Set(overlaps.map((o) => `"${o.word}" (test ${o.category})`))];
  const shown = overlaps.slice(0, 10).map((o) => `"${o.word}" in ${o.where}: ${JSON.stringify(o.text)}`);
  const more = overlaps.length > shown.length ? `; and ${overlaps.length - shown.length} more` : '';
  const prefix = options.file ? `${options.file}: ` : '';
  throw new DataError(
    'DATA_OVERLAP',
    `${prefix}training data overlaps the test vocabulary: ${words.join(', ')}. Found ${shown.join('; ')}${more}. Training items and rooms must not mention any test room or object.`,
    { file: options.file, field: overlaps[0]!.where },
  );
}

/** The part of a tokenizer `wrapPairForChat` needs. */
export type ChatUserEncoder = Pick<SooTokenizer, 'encodeChatUser'>;

export interface WrappedPrompt {
  /** The prompt rendered with the chat template (a single user turn plus the generation prompt). */
  text: string;
  /** Its token ids (no extra special tokens: the template carries them). */
  ids: number[];
}

export interface WrappedPair {
  self: WrappedPrompt;
  other: WrappedPrompt;
}

/**
 * Wrap both prompts of a pair in the model's chat template as a single user turn with the generation prompt
 * added (method.md s1), and encode them.
 */
export function wrapPairForChat(pair: SelfOtherPair, tokenizer: ChatUserEncoder): WrappedPair {
  const s = tokenizer.encodeChatUser(pair.self, { addGenerationPrompt: true });
  const o = tokenizer.encodeChatUser(pair.other, { addGenerationPrompt: true });
  return { self: { text: s.text, ids: s.ids }, other: { text: o.text, ids: o.ids } };
}

/**
 * Encode pairs for training: each prompt as a chat user turn (the default, method.md s1) or, with
 * `chatTemplate: false`, as plain text with the tokenizer's special tokens.
 */
export function encodePairs(
  pairs: readonly SelfOtherPair[],
  tokenizer: Pick<SooTokenizer, 'encodeChatUser' | 'encode'>,
  options: { chatTemplate?: boolean } = {},
): Array<{ selfIds: number[]; otherIds: number[] }> {
  return pairs.map((p) => {
    if (options.chatTemplate ?? true) {
      const w = wrapPairForChat(p, tokenizer);
      return { selfIds: w.self.ids, otherIds: w.other.ids };
    }
    return { selfIds: tokenizer.encode(p.self).ids, otherIds: tokenizer.encode(p.other).ids };
  });
}
