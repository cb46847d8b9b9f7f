/**
 * Core's one JSON validator: typed access to a parsed JSON object whose every error names the file, the
 * field (dotted, with `[i]` for array items) and what was expected, and quotes what was found:
 *
 *   `models/x/config.json: rope_scaling.factor: expected a positive number, got string "2"`
 *
 * config.json, adapter_config.json, experiment.json and the judge config all read through it; each chooses
 * the error class and code its callers expect (`error`), the message format is always the same.
 *
 * Declare readers with an explicit type (`const r: JsonReader = …`): TypeScript narrows after a `never`
 * method such as `fail` only when the receiver's type is annotated.
 */
import { FormatError, UnsupportedError, where, type SooError } from './errors.js';

/** Builds the error for a bad field; `message` is complete (file, field, expectation, value). */
export type JsonFieldError = (message: string, at: { file: string | undefined; field: string }) => SooError;

export interface JsonReaderOptions {
  /** The file the object came from (first part of every message). */
  file?: string;
  /** Dotted path of this object inside the file, for nested objects (`rope_scaling`). */
  prefix?: string;
  /** Default: a `FormatError` with code `CONFIG_FIELD`. */
  error?: JsonFieldError;
}

const configFieldError: JsonFieldError = (message, { file, field }) =>
  new FormatError('CONFIG_FIELD', message, { file, field });

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isTokenId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A short, quoted rendering of a bad value for error messages: `number 0`, `string "x"`, `null`. */
export function describeJsonValue(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (v === null) return 'null';
  const kind = Array.isArray(v) ? 'array' : typeof v;
  let text = JSON.stringify(v) ?? String(v);
  if (text.length > 60) text = text.slice(0, 57) + '...';
  return `${kind} ${text}`;
}

export interface NumberRule {
  integer?: boolean;
  min?: number;
  /** Exclusive upper bound. */
  below?: number;
  /** The expectation in the message; default built from the rule ("an integer >= 0"). */
  expected?: string;
}

function expectation(rule: NumberRule): string {
  if (rule.expected) return rule.expected;
  const kind = rule.integer ? 'an integer' : 'a number';
  if (rule.min !== undefined && rule.below !== undefined) return `${kind} in [${rule.min}, ${rule.below})`;
  if (rule.min !== undefined) return `${kind} >= ${rule.min}`;
  if (rule.below !== undefined) return `${kind} < ${rule.below}`;
  return kind;
}

/**
 * Typed access to one JSON object (a whole file, or a dict inside it at `prefix`) that throws an error naming
 * the file, the dotted field and the expected type.
 */
export class JsonReader {
  readonly file: string | undefined;
  readonly prefix: string | undefined;
  private readonly error: JsonFieldError;

  constructor(
    readonly obj: Record<string, unknown>,
    options: JsonReaderOptions = {},
  ) {
    this.file = options.file;
    this.prefix = options.prefix;
    this.error = options.error ?? configFieldError;
  }

  /**
   * A reader for a parsed JSON value that must be an object; anything else fails with
   * `<file>: expected <what>, got <value>`, naming the field `(top level)` for a whole file.
   */
  static of(value: unknown, options: JsonReaderOptions = {}, what = 'a JSON object'): JsonReader {
    if (!isJsonObject(value)) {
      const error = options.error ?? configFieldError;
      throw error(`${where(options.file, options.prefix)}expected ${what}, got ${describeJsonValue(value)}`, {
        file: options.file,
        field: options.prefix ?? '(top level)',
      });
    }
    return new JsonReader(value, options);
  }

  /** The key exists, even if null (a key holding `undefined`, possible in objects not parsed from JSON, does not). */
  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.obj, key) && this.obj[key] !== undefined;
  }

  /** The key exists and is not null. */
  present(key: string): boolean {
    return this.has(key) && this.obj[key] !== null;
  }

  get(key: string): unknown {
    return this.has(key) ? this.obj[key] : undefined;
  }

  /** The dotted field name of `key` (what messages and errors name). */
  field(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  /** Throw `<file>: <field>: expected <expected>, got <value>`. */
  fail(key: string, expected: string, got: unknown): never {
    const field = this.field(key);
    throw this.error(`${where(this.file, field)}expected ${expected}, got ${describeJsonValue(got)}`, {
      file: this.file,
      field,
    });
  }

  /** Throw `<file>: <field>: <message>` with this reader's error (for rules that are not a type). */
  invalid(key: string, message: string): never {
    const field = this.field(key);
    throw this.error(`${where(this.file, field)}${message}`, { file: this.file, field });
  }

  /** A well-formed option soo does not implement: CONFIG_UNSUPPORTED_OPTION. */
  unsupported(key: string, message: string): never {
    const field = this.field(key);
    throw new UnsupportedError('CONFIG_UNSUPPORTED_OPTION', `${where(this.file, field)}${message}`, {
      file: this.file,
      field,
    });
  }

  /** Fail on the first key not in `known`. */
  onlyKnownKeys(known: readonly string[]): void {
    for (const k of Object.keys(this.obj)) {
      if (!known.includes(k)) this.invalid(k, `unknown field; expected one of ${known.join(', ')}`);
    }
  }

  /** Required integer >= min (default 1). */
  int(key: string, min = 1): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      this.fail(key, min === 1 ? 'a positive integer' : `an integer >= ${min}`, v);
    }
    return v;
  }

  /** Positive integer or null. */
  optInt(key: string): number | null {
    return this.get(key) === null ? null : this.int(key);
  }

  /** A finite number within `rule`. */
  number(key: string, rule: NumberRule = {}): number {
    const v = this.get(key);
    if (
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      (rule.integer && !Number.isSafeInteger(v)) ||
      (rule.min !== undefined && v < rule.min) ||
      (rule.below !== undefined && v >= rule.below)
    ) {
      this.fail(key, expectation(rule), v);
    }
    return v;
  }

  positiveNumber(key: string): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(key, 'a positive number', v);
    return v;
  }

  optPositiveNumber(key: string): number | null {
    return this.get(key) === null ? null : this.positiveNumber(key);
  }

  optNumber(key: string): number | null {
    const v = this.get(key);
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, 'a number or null', v);
    return v;
  }

  optTokenId(key: string): number | null {
    const v = this.get(key);
    if (v === null) return null;
    if (!isTokenId(v)) this.fail(key, 'a non-negative integer token id or null', v);
    return v;
  }

  bool(key: string): boolean {
    const v = this.get(key);
    if (typeof v !== 'boolean') this.fail(key, 'a boolean', v);
    return v;
  }

  /** A non-empty string. */
  string(key: string): string {
    const v = this.get(key);
    if (typeof v !== 'string' || v === '') this.fail(key, 'a non-empty string', v);
    return v;
  }

  /** A string or null. */
  optString(key: string): string | null {
    const v = this.get(key);
    if (v === null) return null;
    if (typeof v !== 'string') this.fail(key, 'a string or null', v);
    return v;
  }

  /** One of `values` (compared with ===); the message lists them. */
  oneOf<T>(
    key: string,
    values: readonly T[],
    expected = values.map((x) => JSON.stringify(x)).join(' | '),
  ): T {
    const v = this.get(key);
    if (!(values as readonly unknown[]).includes(v)) this.fail(key, expected, v);
    return v as T;
  }

  object(key: string): Record<string, unknown> {
    const v = this.get(key);
    if (!isJsonObject(v)) this.fail(key, 'an object', v);
    return v;
  }

  /** A reader for the object at `key`, whose fields are named `key.field`. */
  child(key: string): JsonReader {
    return new JsonReader(this.object(key), { file: this.file, prefix: this.field(key), error: this.error });
  }

  /** An array (non-empty unless `allowEmpty`), each item checked by `item` (which fails with `key[i]`). */
  array<T>(
    key: string,
    expected: string,
    item: (value: unknown, at: string) => T,
    options: { allowEmpty?: boolean } = {},
  ): T[] {
    const v = this.get(key);
    if (!Array.isArray(v) || (!options.allowEmpty && v.length === 0)) this.fail(key, expected, v);
    return v.map((x, i) => item(x, `${key}[${i}]`));
  }
}
