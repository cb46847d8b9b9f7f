/**
 * Lazy, strictly validated reading of `.safetensors` files.
 *
 * Layout: an 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON (the header), then
 * the data section. `SafetensorsFile.open` reads only the length prefix and the header; tensor data is
 * read later, one tensor's byte range at a time, through an open file handle, so opening a 15 GB
 * checkpoint costs a few kilobytes of I/O.
 */

import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

import { FormatError, InvalidArgumentError, NotFoundError, where } from '../errors.js';
import { toFloat32 } from './dtypes.js';
import {
  MAX_HEADER_BYTES,
  missingTensorError,
  parseSafetensorsHeader,
  type RawTensor,
  type SafetensorsHeader,
  type TensorInfo,
} from './header.js';

export * from './header.js';

/** Largest single read issued to the OS (reads of bigger tensors are split). */
const READ_CHUNK = 1 << 30;

/** Fill `target` from `fh` starting at file position `position`; a short file is SAFETENSORS_TRUNCATED. */
async function readExactly(
  fh: FileHandle,
  file: string,
  what: string,
  target: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const length = Math.min(READ_CHUNK, target.byteLength - done);
    const { bytesRead } = await fh.read(target, done, length, position + done);
    if (bytesRead === 0) {
      throw new FormatError(
        'SAFETENSORS_TRUNCATED',
        `${where(file, what)}file ended after ${position + done} bytes, expected ${target.byteLength} bytes from position ${position} (was the file truncated or changed after opening?)`,
        { file, field: what },
      );
    }
    done += bytesRead;
  }
}

async function openForReading(file: string): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be opened (${code ?? String(cause)})`;
    throw new NotFoundError('FILE_NOT_FOUND', `${file}: ${why}, expected a safetensors file`, {
      file,
      cause,
    });
  }
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) {
      throw new NotFoundError(
        'FILE_NOT_FOUND',
        `${file}: is not a regular file, expected a safetensors file`,
        { file },
      );
    }
    return { fh, size: stat.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * One safetensors file, opened lazily: the header is read and validated by `open`, tensor bytes are
 * read on demand. Call `close()` when done (the object keeps a file handle open).
 */
export class SafetensorsFile {
  /** The path the file was opened from (named in every error). */
  readonly path: string;
  /** Size of the whole file in bytes. */
  readonly fileSize: number;
  /** Length of the JSON header in bytes (excluding the 8-byte prefix). */
  readonly headerLength: number;
  /** `__metadata__` from the header, or undefined when there is none. */
  readonly metadata: Readonly<Record<string, string>> | undefined;

  private fh: FileHandle | undefined;
  private readonly byName: Map<string, TensorInfo>;
  private readonly ordered: readonly TensorInfo[];
  private bytesReadTotal: number;

  private constructor(
    path: string,
    fh: FileHandle,
    fileSize: number,
    headerLength: number,
    header: SafetensorsHeader,
  ) {
    this.path = path;
    this.fh = fh;
    this.fileSize = fileSize;
    this.headerLength = headerLength;
    this.metadata = header.metadata;
    this.ordered = header.tensors;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
    this.bytesReadTotal = 8 + headerLength;
  }

  /** Open `path` and validate its header; reads only the 8-byte length prefix and the header. */
  static async open(path: string): Promise<SafetensorsFile> {
    const { fh, size } = await openForReading(path);
    try {
      if (size < 8) {
        throw new FormatError(
          'SAFETENSORS_TRUNCATED',
          `${where(path, 'header length')}file is ${size} bytes, expected at least 8 (the header length prefix)`,
          { file: path, field: 'header length' },
        );
      }
      const prefix = new Uint8Array(8);
      await readExactly(fh, path, 'header length', prefix, 0);
      const declared = new DataView(prefix.buffer).getBigUint64(0, true);
      if (declared > BigInt(MAX_HEADER_BYTES)) {
        throw new FormatError(
          'SAFETENSORS_HEADER_LENGTH',
          `${where(path, 'header length')}prefix declares ${declared} bytes, expected at most ${MAX_HEADER_BYTES} (corrupt or not a safetensors file)`,
          { file: path, field: 'header length' },
        );
      }
      const headerLength = Number(declared);
      if (headerLength > size - 8) {
        throw new FormatError(
          'SAFETENSORS_HEADER_LENGTH',
          `${where(path, 'header length')}prefix declares ${headerLength} bytes but only ${size - 8} follow it (file is ${size} bytes); expected a header that fits in the file (truncated or not a safetensors file?)`,
          { file: path, field: 'header length' },
        );
      }
      const headerBytes = new Uint8Array(headerLength);
      await readExactly(fh, path, 'header', headerBytes, 8);
      const header = parseSafetensorsHeader(path, headerBytes, size - 8 - headerLength);
      return new SafetensorsFile(path, fh, size, headerLength, header);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Tensor names in data-offset order. */
  names(): string[] {
    return this.ordered.map((t) => t.name);
  }

  /** Every tensor's info, in data-offset order. */
  tensors(): readonly TensorInfo[] {
    return this.ordered;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Info for `name`; SAFETENSORS_MISSING_TENSOR (with the closest names) when there is no such tensor. */
  info(name: string): TensorInfo {
    const info = this.byName.get(name);
    if (!info) throw missingTensorError(this.path, name, this.byName.keys());
    return info;
  }

  /** Bytes read from disk so far (prefix and header included): lets callers and tests check laziness. */
  get bytesRead(): number {
    return this.bytesReadTotal;
  }

  /** The raw little-endian bytes of `name`, in a fresh buffer. */
  async readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    const fh = this.handle(name);
    const out = new Uint8Array(info.byteLength);
    await readExactly(fh, this.path, `tensor "${name}"`, out, info.fileOffset);
    this.bytesReadTotal += info.byteLength;
    return out;
  }

  /** `name` as float32, converted from whatever numeric dtype it is stored in. */
  async readFloat32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    return toFloat32(info.dtype, await this.readBytes(name));
  }

  /** `name` as dtype, shape and raw bytes. */
  async readTensor(name: string): Promise<RawTensor> {
    const info = this.info(name);
    return { dtype: info.dtype, shape: info.shape.slice(), data: await this.readBytes(name) };
  }

  /** Release the file handle. Further reads fail; closing twice is harmless. */
  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close();
  }

  private handle(name: string): FileHandle {
    if (!this.fh) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `${where(this.path, `tensor "${name}"`)}cannot read: the file was closed, expected an open SafetensorsFile`,
        { file: this.path, field: name },
      );
    }
    return this.fh;
  }
}
