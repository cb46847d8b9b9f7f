/**
 * Writing `.safetensors` files laid out byte for byte as the reference implementation
 * (huggingface/safetensors, used by `safetensors.torch.save_file` and `save_pretrained`) lays them out:
 *
 * - tensors sorted by dtype alignment, widest first (I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL:
 *   the reverse of the reference's `Dtype` enum order), then by name (byte-wise UTF-8 order);
 * - data offsets assigned in that order with no gaps;
 * - header JSON without whitespace, `__metadata__` first when present, each entry as
 *   `{"dtype":…,"shape":[…],"data_offsets":[begin,end]}`;
 * - header padded with spaces to a multiple of 8 bytes, so every tensor is 8-byte aligned.
 *
 * The one thing that cannot be reproduced is the order of several `__metadata__` keys: the reference
 * keeps them in a hash map, so its order is arbitrary. Here they are written in the caller's order.
 */

import { InvalidArgumentError, where } from '../errors.js';
import { writeFileAtomic } from '../fs.js';
import { DTYPE_SIZE, DTYPES, isDtype } from './dtypes.js';
import type { Dtype } from './dtypes.js';

/** One tensor to write: raw little-endian element bytes (a typed array's bytes are taken as they are). */
export interface TensorToWrite {
  dtype: Dtype;
  shape: readonly number[];
  data: ArrayBufferView;
}

export type TensorsToWrite = Readonly<Record<string, TensorToWrite>> | ReadonlyMap<string, TensorToWrite>;

/** Rank of each dtype in the reference implementation's sort (higher sorts first). */
const DTYPE_RANK: Readonly<Record<Dtype, number>> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};

const utf8 = new TextEncoder();

/** Compare strings by their UTF-8 bytes (Rust's `String` order; differs from `<` for some non-BMP text). */
function compareUtf8(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

interface PreparedTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  bytes: Uint8Array;
}

/** The prefix + header bytes and the tensor bytes in file order. */
interface PreparedFile {
  head: Uint8Array;
  chunks: Uint8Array[];
  dataLength: number;
}

function prepare(
  file: string,
  tensors: TensorsToWrite,
  metadata: Readonly<Record<string, string>> | undefined,
): PreparedFile {
  const entries: Array<[string, TensorToWrite]> =
    tensors instanceof Map
      ? [...tensors.entries()]
      : Object.entries(tensors as Record<string, TensorToWrite>);
  const prepared: Array<PreparedTensor & { key: Uint8Array }> = [];
  for (const [name, t] of entries) {
    const at = where(file, `tensor "${name}"`);
    const fail = (message: string) =>
      new InvalidArgumentError('SAFETENSORS_WRITE', `${at}${message}`, { file, field: name });
    if (name === '__metadata__')
      throw fail('"__metadata__" is reserved for metadata, expected another tensor name');
    if (!isDtype(t.dtype))
      throw fail(`dtype ${JSON.stringify(t.dtype)} is not supported, expected one of ${DTYPES.join(', ')}`);
    if (!Array.isArray(t.shape))
      throw fail(`shape is not an array, expected an array of non-negative integers`);
    let numel = 1;
    for (const [i, dim] of t.shape.entries()) {
      if (!Number.isSafeInteger(dim) || dim < 0) {
        throw fail(
          `shape ${JSON.stringify(t.shape)}: dimension ${i} is ${String(dim)}, expected a non-negative integer`,
        );
      }
      numel *= dim;
    }
    if (!ArrayBuffer.isView(t.data))
      throw fail('data is not a typed array or DataView, expected raw element bytes');
    const expected = numel * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== expected) {
      throw fail(
        `data is ${t.data.byteLength} bytes, expected ${expected} (${t.dtype} [${t.shape.join(',')}] = ${numel} × ${DTYPE_SIZE[t.dtype]} bytes)`,
      );
    }
    prepared.push({
      name,
      dtype: t.dtype,
      shape: [...t.shape],
      bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      key: utf8.encode(name),
    });
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new InvalidArgumentError(
          'SAFETENSORS_WRITE',
          `${where(file, `__metadata__.${k}`)}value is ${typeof v}, expected a string`,
          { file, field: `__metadata__.${k}` },
        );
      }
    }
  }

  prepared.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareUtf8(a.key, b.key));

  // Build the header object in the exact key order the reference writes. A null prototype makes a
  // tensor named "__proto__" an ordinary key.
  const header = Object.create(null) as Record<string, unknown>;
  if (metadata !== undefined) header['__metadata__'] = { ...metadata };
  let offset = 0;
  for (const t of prepared) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  const json = utf8.encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + padded);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.byteLength);
  return { head, chunks: prepared.map((t) => t.bytes), dataLength: offset };
}

/**
 * Serialize `tensors` (and optional `__metadata__`) into the bytes of a safetensors file.
 * Throws SAFETENSORS_WRITE when a tensor's data length is not product(shape) × dtype size.
 */
export function serializeSafetensors(
  tensors: TensorsToWrite,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const { head, chunks, dataLength } = prepare('(in-memory safetensors)', tensors, metadata);
  const out = new Uint8Array(head.byteLength + dataLength);
  out.set(head, 0);
  let at = head.byteLength;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Write `tensors` (and optional `__metadata__`) to `file` atomically (temp file, fsync, rename).
 * Tensor data is streamed to disk as it is, never concatenated into one buffer.
 */
export async function writeSafetensors(
  file: string,
  tensors: TensorsToWrite,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const { head, chunks } = prepare(file, tensors, metadata);
  await writeFileAtomic(file, [head, ...chunks]);
}
