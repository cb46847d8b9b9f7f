/**
 * Typed errors. Every error soo throws on purpose is a `SooError` with a stable `code`
 * (never reworded once released) so that scripts and the CLI can branch on it.
 */

export type SooErrorCode =
  // safetensors
  | 'SAFETENSORS_TRUNCATED'
  | 'SAFETENSORS_HEADER_LENGTH'
  | 'SAFETENSORS_HEADER_JSON'
  | 'SAFETENSORS_HEADER_SHAPE'
  | 'SAFETENSORS_DTYPE'
  | 'SAFETENSORS_OFFSETS'
  | 'SAFETENSORS_OVERLAP'
  | 'SAFETENSORS_NOT_CONTIGUOUS'
  | 'SAFETENSORS_BYTE_COUNT'
  | 'SAFETENSORS_MISSING_TENSOR'
  | 'SAFETENSORS_INDEX'
  | 'SAFETENSORS_WRITE'
  // model folders and configs
  | 'MODEL_DIR_NOT_FOUND'
  | 'FILE_NOT_FOUND'
  | 'CONFIG_JSON'
  | 'CONFIG_FIELD'
  | 'CONFIG_UNSUPPORTED_MODEL_TYPE'
  | 'CONFIG_UNSUPPORTED_OPTION'
  | 'WEIGHTS_MISSING'
  | 'WEIGHTS_SHAPE'
  // tokenizers
  | 'TOKENIZER_LOAD'
  | 'CHAT_TEMPLATE'
  // adapters
  | 'ADAPTER_CONFIG'
  | 'ADAPTER_WEIGHTS'
  // hooks
  | 'HOOK_UNKNOWN'
  | 'HOOK_NOT_REACHED'
  // numerics, training
  | 'SHAPE_MISMATCH'
  | 'INVALID_ARGUMENT'
  | 'NON_FINITE_LOSS'
  | 'BACKEND_UNAVAILABLE'
  | 'BACKEND_CAPABILITY'
  | 'DATA_INVALID'
  | 'DATA_OVERLAP'
  // run folders: output, resume, locks, disk
  | 'OUTPUT_UNWRITABLE'
  | 'OUTPUT_VIRTUAL_FS'
  | 'FS_TIMEOUT'
  | 'DISK_FULL'
  | 'RUN_SETTINGS_MISMATCH'
  | 'RUN_NO_CHECKPOINT'
  | 'RUN_EXISTS'
  | 'RUN_LOCKED'
  // cluster schedulers (soo experiment run --executor slurm)
  | 'SCHEDULER_UNAVAILABLE'
  | 'SCHEDULER_FAILED';

export interface SooErrorOptions {
  /** File the problem was found in, when there is one. */
  file?: string;
  /** Field, tensor or key inside the file. */
  field?: string;
  cause?: unknown;
}

export class SooError extends Error {
  readonly code: SooErrorCode;
  readonly file: string | undefined;
  readonly field: string | undefined;

  constructor(code: SooErrorCode, message: string, options: SooErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.file = options.file;
    this.field = options.field;
  }
}

/** A file on disk is malformed (safetensors, config.json, adapter files, JSONL). */
export class FormatError extends SooError {}
/** A file or folder the caller named does not exist or cannot be read. */
export class NotFoundError extends SooError {}
/** A config or option soo does not support. */
export class UnsupportedError extends SooError {}
/** A hook name that names no hookable module, or a hook that a forward pass never reached. */
export class HookError extends SooError {}
/** Arguments that do not fit (shapes, ranges, incompatible options). */
export class InvalidArgumentError extends SooError {}
/** Training diverged (NaN/Inf loss) or another numerical failure. */
export class NumericsError extends SooError {}
/** A backend is missing, or lacks a capability a call needs. */
export class BackendError extends SooError {}
/** Datasets: bad pairs, overlapping train/test vocabulary. */
export class DataError extends SooError {}
/** Output folders and the disk: unwritable, virtual filesystems, time budgets, a full disk. */
export class OutputError extends SooError {}
/** Run folders: resume settings that differ, no checkpoint, a finished run, a folder another process holds. */
export class RunError extends SooError {}
/** A cluster scheduler's command is missing (not a login node) or refused a submission. */
export class SchedulerError extends SooError {}

export function isSooError(e: unknown): e is SooError {
  return e instanceof SooError;
}

/** Prefix a message with `file` (and `field`) the way every soo error reads: "<file>: <field>: message". */
export function where(file: string | undefined, field?: string): string {
  const parts: string[] = [];
  if (file) parts.push(file);
  if (field) parts.push(field);
  return parts.length ? parts.join(': ') + ': ' : '';
}
