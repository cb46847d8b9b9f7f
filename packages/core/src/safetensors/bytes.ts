/**
 * A whole `.safetensors` file already in memory (fetched by a browser, say): the same validation as
 * `SafetensorsFile.open` (header length, header JSON, offsets tiling the data section), then tensors read
 * from the bytes. No file access.
 */

import { FormatError, where } from '../errors.js';
import { toFloat32 } from './dtypes.js';
import {
  MAX_HEADER_BYTES,
  missingTensorError,
  parseSafetensorsHeader,
  type RawTensor,
  type TensorInfo,
} from './header.js';

export class SafetensorsBytes {
  /** `__metadata__` from the header, or undefined when there is none. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  private readonly ordered: readonly TensorInfo[];
  private readonly byName: Map<string, TensorInfo>;

  /**
   * Validate `bytes` as a safetensors file. `file` names it in errors (a path or URL). The bytes are kept,
   * not copied: do not change them afterwards.
   */
  constructor(
    readonly file: string,
    private readonly bytes: Uint8Array,
  ) {
    const size = bytes.byteLength;
    if (size < 8) {
      throw new FormatError(
        'SAFETENSORS_TRUNCATED',
        `${where(file, 'header length')}file is ${size} bytes, expected at least 8 (the header length prefix)`,
        { file, field: 'header length' },
      );
    }
    const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (declared > BigInt(MAX_HEADER_BYTES)) {
      throw new FormatError(
        'SAFETENSORS_HEADER_LENGTH',
        `${where(file, 'header length')}prefix declares ${declared} bytes, expected at most ${MAX_HEADER_BYTES} (corrupt or not a safetensors file)`,
        { file, field: 'header length' },
      );
    }
    const headerLength = Number(declared);
    if (headerLength > size - 8) {
      throw new FormatError(
        'SAFETENSORS_HEADER_LENGTH',
        `${where(file, 'header length')}prefix declares ${headerLength} bytes but only ${size - 8} follow it (file is ${size} bytes); expected a header that fits in the file (truncated or not a safetensors file?)`,
        { file, field: 'header length' },
      );
    }
    const header = parseSafetensorsHeader(file, bytes.subarray(8, 8 + headerLength), size - 8 - headerLength);
    this.metadata = header.metadata;
    this.ordered = header.tensors;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /** Every tensor's info, in data-offset order. */
  tensors(): readonly TensorInfo[] {
    return this.ordered;
  }

  names(): string[] {
    return this.ordered.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Info for `name`; SAFETENSORS_MISSING_TENSOR (with the closest names) when there is no such tensor. */
  info(name: string): TensorInfo {
    const info = this.byName.get(name);
    if (!info) throw missingTensorError(this.file, name, this.byName.keys());
    return info;
  }

  /** The raw little-endian bytes of `name`, in a fresh buffer. */
  readBytes(name: string): Uint8Array {
    const info = this.info(name);
    return this.bytes.slice(info.fileOffset, info.fileOffset + info.byteLength);
  }

  /** `name` as float32, converted from whatever numeric dtype it is stored in. */
  readFloat32(name: string): Float32Array {
    return toFloat32(this.info(name).dtype, this.readBytes(name));
  }

  /** `name` as dtype, shape and raw bytes. */
  readTensor(name: string): RawTensor {
    const info = this.info(name);
    return { dtype: info.dtype, shape: info.shape.slice(), data: this.readBytes(name) };
  }
}
