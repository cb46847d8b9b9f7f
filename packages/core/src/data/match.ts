/**
 * Whole-word, case-insensitive phrase matching for room names and object names, shared by the scorer and the
 * train/test disjointness check.
 *
 * Rules (documented in scorer.ts too):
 * - A phrase matches only as whole words: "den" does not match inside "hidden", "gym" not inside
 *   "gymnastics", "office" not inside "officer". A letter, digit or underscore on either side, or a hyphen
 *   joined to a letter ("kitchen-sink"), blocks the match.
 * - Multi-word phrases tolerate any run of spaces/hyphens between their words, or none: "walk-in closet",
 *   "walk in closet", "dining-room", "diningroom". Single-word rooms ending in "room" ("bathroom",
 *   "mudroom") also match as two words ("bath room", "mud room").
 * - The last word may carry a plural ("kitchens", "libraries") and/or a possessive ("kitchen's",
 *   "kitchens'"): a plural or possessive still refers to the room. Nothing else may follow it, so
 *   "libraryless" and "officer" do not match.
 * - "theater"/"theatre" are interchangeable.
 */

const LETTER_OR_DIGIT = '[\\p{L}\\p{N}_]';

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function wordSource(word: string, last: boolean): string {
  let w = word.toLowerCase();
  let core: string;
  if (w.endsWith('theater') || w.endsWith('theatre')) {
    w = w.slice(0, -7);
    core = `${escapeRegex(w)}theat(?:er|re)`;
    if (last) core += '(?:s)?';
    return core;
  }
  if (!last) return escapeRegex(w);
  if (/[^aeiou]y$/.test(w)) return `${escapeRegex(w.slice(0, -1))}(?:y|ies)`;
  if (/(?:s|x|z|ch|sh)$/.test(w)) return `${escapeRegex(w)}(?:es)?`;
  return `${escapeRegex(w)}s?`;
}

/** Regex source (no flags) that matches `phrase` as described above, without the boundary assertions. */
export function phraseCoreSource(phrase: string): string {
  const words = phrase
    .trim()
    .split(/[\s\-\u2010-\u2015]+/)
    .filter((w) => w.length > 0);
  if (words.length === 0) throw new RangeError('phraseCoreSource: empty phrase');
  // "bathroom" -> "bath" + "room" so that "bath room" matches too.
  const expanded: string[] = [];
  words.forEach((w, i) => {
    const lw = w.toLowerCase();
    if (i === words.length - 1 && lw.length > 4 && lw.endsWith('room')) {
      expanded.push(w.slice(0, -4), 'room');
    } else {
      expanded.push(w);
    }
  });
  const sep = '[\\s\\-\\u2010-\\u2015]*';
  const body = expanded.map((w, i) => wordSource(w, i === expanded.length - 1)).join(sep);
  return `${body}(?:['\u2019]s|(?<=s)['\u2019])?`;
}

const regexCache = new Map<string, RegExp>();

/** A global, case-insensitive, unicode regex for whole-word matches of `phrase` (a fresh object per call). */
export function phraseRegex(phrase: string): RegExp {
  let re = regexCache.get(phrase);
  if (re === undefined) {
    const before = `(?<!${LETTER_OR_DIGIT})(?<!\\p{L}-)`;
    const after = `(?!${LETTER_OR_DIGIT})(?!-\\p{L})`;
    re = new RegExp(`${before}(?:${phraseCoreSource(phrase)})${after}`, 'giu');
    if (regexCache.size > 4096) regexCache.clear();
    regexCache.set(phrase, re);
  }
  return new RegExp(re);
}

export interface PhraseMatch {
  /** Index of the first character of the match. */
  start: number;
  /** Index one past the last character. */
  end: number;
  /** The matched text as it appears. */
  text: string;
}

/** Every whole-word match of `phrase` in `text`, in order. */
export function findPhrase(text: string, phrase: string): PhraseMatch[] {
  const re = phraseRegex(phrase);
  const out: PhraseMatch[] = [];
  for (const m of text.matchAll(re)) {
    const start = m.index ?? 0;
    out.push({ start, end: start + m[0].length, text: m[0] });
  }
  return out;
}

/** True when `phrase` occurs in `text` as whole words. */
export function containsPhrase(text: string, phrase: string): boolean {
  return findPhrase(text, phrase).length > 0;
}
