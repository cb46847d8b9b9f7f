/**
 * The safetensors header: validation of its JSON (`parseSafetensorsHeader`) and the tensor records it
 * describes. No file access here: read.ts reads headers from files, bytes.ts from bytes in memory.
 */

import { FormatError, where } from '../errors.js';
import type { SooError } from '../errors.js';
import { DTYPE_SIZE, DTYPES, isDtype } from './dtypes.js';
import type { Dtype } from './dtypes.js';

/** Headers larger than this are refused as corrupt (the limit the reference implementation uses). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Where one tensor lives in a safetensors file and what it holds. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Number of elements: the product of `shape` (1 for a scalar). */
  readonly numel: number;
  /** Bytes of data: `numel * dtypeSize(dtype)`. */
  readonly byteLength: number;
  /** `[begin, end)` within the data section, as written in the header. */
  readonly dataOffsets: readonly [number, number];
  /** Absolute position of the first byte in the file. */
  readonly fileOffset: number;
}

/** A tensor's dtype, shape and raw little-endian bytes (the form `writeSafetensors` takes). */
export interface RawTensor {
  dtype: Dtype;
  shape: number[];
  data: Uint8Array;
}

/** A validated safetensors header. */
export interface SafetensorsHeader {
  /** `__metadata__`, or undefined when the header has none. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** Every tensor, in data-offset order. */
  readonly tensors: readonly TensorInfo[];
}

type JsonObject = Record<string, unknown>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Validate a safetensors header.
 *
 * @param file the file the header came from (named in every error message)
 * @param headerBytes the N header bytes (without the 8-byte length prefix)
 * @param dataLength bytes in the data section: file size − 8 − N
 */
export function parseSafetensorsHeader(
  file: string,
  headerBytes: Uint8Array,
  dataLength: number,
): SafetensorsHeader {
  const at = where(file, 'header');
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so that JSON.parse rejects it like the reference does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch (cause) {
    throw new FormatError('SAFETENSORS_HEADER_JSON', `${at}not valid UTF-8, expected a UTF-8 JSON object`, {
      file,
      field: 'header',
      cause,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new FormatError(
      'SAFETENSORS_HEADER_JSON',
      `${at}not valid JSON (${detail}), expected a JSON object`,
      {
        file,
        field: 'header',
        cause,
      },
    );
  }
  if (!isJsonObject(json)) {
    throw new FormatError(
      'SAFETENSORS_HEADER_JSON',
      `${at}got ${describeJson(json)}, expected a JSON object`,
      {
        file,
        field: 'header',
      },
    );
  }
  if (!text.startsWith('{')) {
    throw new FormatError(
      'SAFETENSORS_HEADER_JSON',
      `${at}starts with whitespace, expected the first byte to be "{"`,
      {
        file,
        field: 'header',
      },
    );
  }

  let metadata: Record<string, string> | undefined;
  const tensors: TensorInfo[] = [];
  const headerEnd = 8 + headerBytes.byteLength;
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, entry);
      continue;
    }
    tensors.push(parseEntry(file, name, entry, dataLength, headerEnd));
  }

  // Sort by position and require the ranges to tile the data section exactly: no overlaps, no gaps.
  tensors.sort(
    (a, b) =>
      a.dataOffsets[0] - b.dataOffsets[0] ||
      a.dataOffsets[1] - b.dataOffsets[1] ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  let position = 0;
  let previous: TensorInfo | undefined;
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    const tensorAt = where(file, `tensor "${t.name}"`);
    if (begin < position) {
      const other = previous
        ? `tensor "${previous.name}" [${previous.dataOffsets.join(', ')}]`
        : 'another tensor';
      throw new FormatError(
        'SAFETENSORS_OVERLAP',
        `${tensorAt}data_offsets [${begin}, ${end}] overlap ${other}; expected disjoint byte ranges`,
        { file, field: t.name },
      );
    }
    if (begin > position) {
      const after = previous
        ? `after tensor "${previous.name}" (which ends at ${position})`
        : 'at the start of the data section';
      throw new FormatError(
        'SAFETENSORS_NOT_CONTIGUOUS',
        `${tensorAt}data_offsets [${begin}, ${end}] leave a gap of ${begin - position} bytes ${after}; expected tensors to cover the data section contiguously`,
        { file, field: t.name },
      );
    }
    position = end;
    previous = t;
  }
  if (position !== dataLength) {
    const last = previous
      ? `the last tensor, "${previous.name}", ends at ${position}`
      : 'the header lists no tensors';
    throw new FormatError(
      'SAFETENSORS_NOT_CONTIGUOUS',
      `${where(file, 'data section')}${dataLength} bytes, but ${last}; expected the data section to end where the last tensor ends (${dataLength - position} unexplained trailing bytes)`,
      { file, field: 'data section' },
    );
  }
  return { metadata, tensors };
}

function parseMetadata(file: string, value: unknown): Record<string, string> | undefined {
  if (value === null) return undefined;
  const at = where(file, '__metadata__');
  if (!isJsonObject(value)) {
    throw new FormatError(
      'SAFETENSORS_HEADER_SHAPE',
      `${at}got ${describeJson(value)}, expected an object of strings`,
      {
        file,
        field: '__metadata__',
      },
    );
  }
  const entries = Object.entries(value);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') {
      throw new FormatError(
        'SAFETENSORS_HEADER_SHAPE',
        `${at}key "${k}" holds ${describeJson(v)}, expected a string (metadata maps strings to strings)`,
        { file, field: `__metadata__.${k}` },
      );
    }
  }
  // fromEntries (unlike assignment) keeps a "__proto__" key as an ordinary property.
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseEntry(
  file: string,
  name: string,
  entry: unknown,
  dataLength: number,
  headerEnd: number,
): TensorInfo {
  const at = where(file, `tensor "${name}"`);
  const fail = (
    code: 'SAFETENSORS_HEADER_SHAPE' | 'SAFETENSORS_DTYPE' | 'SAFETENSORS_OFFSETS',
    message: string,
  ) => new FormatError(code, `${at}${message}`, { file, field: name });

  if (!isJsonObject(entry)) {
    throw fail(
      'SAFETENSORS_HEADER_SHAPE',
      `entry is ${describeJson(entry)}, expected {"dtype", "shape", "data_offsets"}`,
    );
  }
  for (const key of ['dtype', 'shape', 'data_offsets']) {
    if (!(key in entry)) {
      throw fail('SAFETENSORS_HEADER_SHAPE', `missing "${key}", expected {"dtype", "shape", "data_offsets"}`);
    }
  }

  const dtype = entry.dtype;
  if (!isDtype(dtype)) {
    throw fail(
      'SAFETENSORS_DTYPE',
      `dtype ${typeof dtype === 'string' ? `"${dtype}"` : describeJson(dtype)} is not supported, expected one of ${DTYPES.join(', ')}`,
    );
  }

  const shape = entry.shape;
  if (!Array.isArray(shape)) {
    throw fail(
      'SAFETENSORS_HEADER_SHAPE',
      `shape is ${describeJson(shape)}, expected an array of non-negative integers`,
    );
  }
  let numel = 1;
  for (const [i, dim] of shape.entries()) {
    if (!isNonNegativeInteger(dim)) {
      throw fail(
        'SAFETENSORS_HEADER_SHAPE',
        `shape ${JSON.stringify(shape)}: dimension ${i} is ${JSON.stringify(dim)}, expected a non-negative integer`,
      );
    }
    numel *= dim;
  }
  const byteLength = numel * DTYPE_SIZE[dtype];
  if (!Number.isSafeInteger(byteLength)) {
    throw fail(
      'SAFETENSORS_HEADER_SHAPE',
      `shape ${JSON.stringify(shape)} is too large (byte count overflows)`,
    );
  }

  const offsets = entry.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw fail(
      'SAFETENSORS_HEADER_SHAPE',
      `data_offsets is ${JSON.stringify(offsets)}, expected [begin, end]`,
    );
  }
  const [begin, end] = offsets as [unknown, unknown];
  if (!isNonNegativeInteger(begin) || !isNonNegativeInteger(end)) {
    throw fail(
      'SAFETENSORS_OFFSETS',
      `data_offsets ${JSON.stringify(offsets)}, expected two non-negative integers`,
    );
  }
  if (begin > end) {
    throw fail('SAFETENSORS_OFFSETS', `data_offsets [${begin}, ${end}] are reversed, expected begin <= end`);
  }
  if (end - begin !== byteLength) {
    throw new FormatError(
      'SAFETENSORS_BYTE_COUNT',
      `${at}data_offsets [${begin}, ${end}] give ${end - begin} bytes, expected ${byteLength} (${dtype} ${formatShape(shape as number[])})`,
      { file, field: name },
    );
  }
  if (end > dataLength) {
    throw new FormatError(
      'SAFETENSORS_TRUNCATED',
      `${at}data_offsets [${begin}, ${end}] end past the data section, which holds ${dataLength} bytes; expected end <= ${dataLength} (is the file truncated?)`,
      { file, field: name },
    );
  }
  return {
    name,
    dtype,
    shape: (shape as number[]).slice(),
    numel,
    byteLength,
    dataOffsets: [begin, end],
    fileOffset: headerEnd + begin,
  };
}

/** Levenshtein distance, used to suggest names when a lookup misses. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** Up to `count` of `candidates` closest to `name` by edit distance (nearest first). */
export function closestNames(name: string, candidates: Iterable<string>, count = 3): string[] {
  const scored: Array<[number, string]> = [];
  for (const c of candidates) scored.push([editDistance(name, c), c]);
  scored.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return scored.slice(0, count).map(([, c]) => c);
}

/** The SAFETENSORS_MISSING_TENSOR error for `name`, suggesting the closest names that do exist. */
export function missingTensorError(file: string, name: string, available: Iterable<string>): SooError {
  const all = [...available];
  const near = closestNames(name, all);
  const hint = near.length ? `; closest: ${near.map((n) => `"${n}"`).join(', ')}` : '';
  return new FormatError(
    'SAFETENSORS_MISSING_TENSOR',
    `${where(file, `tensor "${name}"`)}not found, expected one of the file's ${all.length} tensors${hint}`,
    { file, field: name },
  );
}
