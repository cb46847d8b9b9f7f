import { describe, expect, it } from 'vitest';
import { DataError, FormatError, UnsupportedError } from './errors.js';
import { JsonReader, describeJsonValue } from './json-reader.js';

describe('JsonReader', () => {
  it('names the file, the dotted field, the expectation and the value', () => {
    const r: JsonReader = JsonReader.of({ a: 0, d: { x: 'y' }, l: [1, 'two'] }, { file: 'f.json' });
    expect(() => r.int('a')).toThrow(/^f\.json: a: expected a positive integer, got number 0$/);
    expect(() => r.child('d').number('x', { min: 0, below: 1 })).toThrow(
      /^f\.json: d\.x: expected a number in \[0, 1\), got string "y"$/,
    );
    expect(() => r.string('missing')).toThrow(
      /missing: expected a non-empty string, got nothing \(the field/,
    );
    expect(() =>
      r.array('l', 'numbers', (v, at) => (typeof v === 'number' ? v : r.fail(at, 'a number', v))),
    ).toThrow(/^f\.json: l\[1\]: expected a number, got string "two"$/);
    expect(() => r.oneOf('a', ['x', 'y'])).toThrow(/a: expected "x" \| "y", got number 0/);
    expect(() => r.onlyKnownKeys(['a', 'd'])).toThrow(/^f\.json: l: unknown field; expected one of a, d$/);
    expect(() => r.unsupported('a', 'not here')).toThrow(UnsupportedError);
    expect(() => JsonReader.of([], { file: 'f.json' })).toThrow(
      /^f\.json: expected a JSON object, got array \[\]$/,
    );
  });

  it('throws CONFIG_FIELD by default and the caller’s error otherwise', () => {
    const def: JsonReader = new JsonReader({}, { file: 'c.json' });
    expect(() => def.bool('b')).toThrow(FormatError);
    expect(() => def.bool('b')).toThrow(
      expect.objectContaining({ code: 'CONFIG_FIELD', field: 'b' }) as Error,
    );
    const own: JsonReader = new JsonReader(
      {},
      { file: 'd.jsonl', error: (m, at) => new DataError('DATA_INVALID', m, { field: at.field }) },
    );
    expect(() => own.bool('b')).toThrow(
      expect.objectContaining({ code: 'DATA_INVALID', field: 'b' }) as Error,
    );
  });

  it('reads present values, null and defaults', () => {
    const r: JsonReader = new JsonReader({ n: null, i: 3, s: 'x', f: 0.5 });
    expect([r.has('n'), r.present('n'), r.has('zz')]).toEqual([true, false, false]);
    expect([r.optInt('n'), r.int('i'), r.optString('n'), r.string('s'), r.number('f', { min: 0 })]).toEqual([
      null,
      3,
      null,
      'x',
      0.5,
    ]);
    expect(describeJsonValue('x'.repeat(100))).toMatch(/^string "x+\.\.\.$/);
  });
});
