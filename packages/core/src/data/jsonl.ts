import { promises as fsp } from 'node:fs';
import { DataError, FormatError, NotFoundError } from '../errors.js';

/** One parsed JSONL line: its 1-based line number in the file and its JSON object. */
export interface JsonlRecord {
  line: number;
  value: Record<string, unknown>;
}

/**
 * Parse JSONL text: one JSON object per line; blank lines are skipped. Errors name the file and the 1-based
 * line: a line that is not JSON is a `FormatError`, a line that is JSON but not an object a `DataError`
 * (both with code `DATA_INVALID`).
 */
export function parseJsonl(text: string, file: string): JsonlRecord[] {
  const out: JsonlRecord[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const s = i === 0 ? raw.replace(/^\uFEFF/, '') : raw;
    if (s.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(s) as unknown;
    } catch (e) {
      throw new FormatError(
        'DATA_INVALID',
        `${file}: line ${line}: not valid JSON (${(e as Error).message}); expected one JSON object per line`,
        {
          file,
          field: `line ${line}`,
          cause: e,
        },
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
      throw new DataError('DATA_INVALID', `${file}: line ${line}: expected a JSON object, got ${got}`, {
        file,
        field: `line ${line}`,
      });
    }
    out.push({ line, value: value as Record<string, unknown> });
  });
  return out;
}

/** Read and parse a JSONL file (see `parseJsonl`); a missing or unreadable file is a `NotFoundError` `FILE_NOT_FOUND`. */
export async function readJsonlFile(file: string): Promise<JsonlRecord[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EISDIR'
          ? 'is a folder, not a file'
          : `cannot be read (${code ?? (e as Error).message})`;
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${file}: ${why} (expected a JSONL file, one JSON object per line)`,
      { file, cause: e },
    );
  }
  return parseJsonl(text, file);
}

/** The string field `key` of a JSONL record, or a `DataError` naming the file, line and field. */
export function requireStringField(
  rec: JsonlRecord,
  key: string,
  file: string,
  expected: string,
  options: { nonEmpty?: boolean } = {},
): string {
  const v = rec.value[key];
  const field = `line ${rec.line}: ${key}`;
  if (v === undefined) {
    throw new DataError(
      'DATA_INVALID',
      `${file}: line ${rec.line}: missing "${key}" (expected ${expected})`,
      { file, field },
    );
  }
  if (typeof v !== 'string') {
    const got = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
    throw new DataError(
      'DATA_INVALID',
      `${file}: line ${rec.line}: "${key}" must be a string (expected ${expected}), got ${got}`,
      { file, field },
    );
  }
  if ((options.nonEmpty ?? true) && v.trim() === '') {
    throw new DataError(
      'DATA_INVALID',
      `${file}: line ${rec.line}: "${key}" is empty (expected ${expected})`,
      { file, field },
    );
  }
  return v;
}
