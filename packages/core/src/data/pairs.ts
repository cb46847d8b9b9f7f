/** Self/other pair files (JSONL), read and written on disk; the pairs themselves are in pair-templates.ts. */
import { DataError } from '../errors.js';
import { writeFileAtomic } from '../fs.js';
import { readJsonlFile, requireStringField } from './jsonl.js';
import { checkDisjoint, validateTemplate, type PairTemplate, type SelfOtherPair } from './pair-templates.js';
import { TEST_VOCABULARY, type TestVocabulary } from './vocabulary.js';

export * from './pair-templates.js';

/**
 * Read self/other pairs from JSONL: one `{"self": string, "other": string}` per line (other keys ignored,
 * blank lines skipped). Errors name the file and line. The pairs are checked against the test vocabulary
 * (`DATA_OVERLAP`) unless `checkAgainst` is `false`.
 */
export async function readPairsJsonl(
  file: string,
  options: { checkAgainst?: TestVocabulary | false } = {},
): Promise<SelfOtherPair[]> {
  const recs = await readJsonlFile(file);
  if (recs.length === 0)
    throw new DataError(
      'DATA_INVALID',
      `${file}: no pairs (expected one {"self", "other"} JSON object per line)`,
      { file, field: '(lines)' },
    );
  const pairs = recs.map((rec) => ({
    self: requireStringField(rec, 'self', file, 'the self prompt as a non-empty string'),
    other: requireStringField(rec, 'other', file, 'the other prompt as a non-empty string'),
  }));
  if (options.checkAgainst !== false) {
    checkDisjoint(pairs, options.checkAgainst ?? TEST_VOCABULARY, {
      file,
      label: (i) => `line ${recs[i]!.line}`,
    });
  }
  return pairs;
}

/** Read user templates from JSONL: `{"self", "other"}` per line, each containing `{item}`. */
export async function readTemplatesJsonl(file: string): Promise<PairTemplate[]> {
  const recs = await readJsonlFile(file);
  if (recs.length === 0)
    throw new DataError(
      'DATA_INVALID',
      `${file}: no templates (expected one {"self", "other"} JSON object per line)`,
      { file },
    );
  return recs.map((rec) => validateTemplate(rec.value, { file, line: rec.line }));
}

/** Write pairs as JSONL (`{"self", "other"}` per line), atomically. */
export async function writePairsJsonl(file: string, pairs: readonly SelfOtherPair[]): Promise<void> {
  const text = pairs.map((p) => JSON.stringify({ self: p.self, other: p.other }) + '\n').join('');
  await writeFileAtomic(file, text);
}
