/**
 * Safetensors element types and the bit-exact conversions between them and float32.
 *
 * All multi-byte data in a safetensors file is little-endian. The helpers here read and write
 * little-endian bytes whatever the host's byte order, and accept byte views at any offset (an
 * unaligned view is copied before it is reinterpreted).
 */

import { InvalidArgumentError } from '../errors.js';

/** The element types soo reads and writes, spelled as in safetensors headers. */
export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Every supported dtype, widest first. */
export const DTYPES: readonly Dtype[] = [
  'F64',
  'I64',
  'F32',
  'I32',
  'BF16',
  'F16',
  'I16',
  'I8',
  'U8',
  'BOOL',
];

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** The floating-point dtypes (the ones `fromFloat32` can encode). */
export type FloatDtype = 'F64' | 'F32' | 'F16' | 'BF16';

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, value);
}

export function isFloatDtype(dtype: Dtype): dtype is FloatDtype {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** Bytes per element of `dtype`. */
export function dtypeSize(dtype: Dtype): number {
  return DTYPE_SIZE[dtype];
}

/** True when this host stores typed-array elements little-endian (every platform Node ships on but s390x). */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Scratch views for moving between a float32 value and its bit pattern.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE-754 binary32 bit pattern of `value` (rounded to float32 first). */
export function float32Bits(value: number): number {
  scratchF32[0] = value;
  return scratchU32[0] as number;
}

/** The float32 whose bit pattern is `bits` (an unsigned 32-bit integer). */
export function float32FromBits(bits: number): number {
  scratchU32[0] = bits >>> 0;
  return scratchF32[0] as number;
}

// ---------------------------------------------------------------------------------------------
// bfloat16
// ---------------------------------------------------------------------------------------------

/** The float32 value of bfloat16 bits `bits` (exact: bf16 is the top half of a float32). */
export function bf16ToF32(bits: number): number {
  return float32FromBits((bits & 0xffff) << 16);
}

/** bfloat16 bits of the float32 with bit pattern `bits`, rounded to nearest, ties to even (as torch does). */
function f32BitsToBf16Bits(bits: number): number {
  // NaN: torch returns the canonical quiet NaN. Rounding a NaN with only low payload bits set would
  // otherwise carry into the exponent and turn it into infinity.
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return 0x7fc0;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

/**
 * bfloat16 bits of `value`, which is first rounded to float32 (the conversion torch performs from a
 * float32 tensor): round to nearest, ties to even; overflow goes to ±infinity; every NaN becomes the
 * canonical quiet NaN 0x7FC0.
 */
export function f32ToBf16(value: number): number {
  return f32BitsToBf16Bits(float32Bits(value));
}

// ---------------------------------------------------------------------------------------------
// float16 (IEEE-754 binary16)
// ---------------------------------------------------------------------------------------------

/** float32 bit pattern of the binary16 value with bits `h` (exact, including subnormals and NaN payloads). */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // normal: rebias 15 -> 127
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal binary16 (mant * 2^-24): normalise into a float32 normal.
  let e = 113; // 127 - 14
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** The float32 value of binary16 bits `bits` (exact). */
export function f16ToF32(bits: number): number {
  return float32FromBits(f16BitsToF32Bits(bits & 0xffff));
}

/** binary16 bits of the float32 with bit pattern `x`: round to nearest, ties to even. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Infinity stays infinity; NaN stays a (quiet) NaN, keeping the top payload bits.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7c00 | 0x200 | (mant >>> 13);
  }
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00; // too large: overflows to infinity
  if (e <= 0) {
    // Result is subnormal (or zero) in binary16: value = m * 2^-24 with m = full mantissa >> (14 - e).
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const full = mant | 0x800000;
    const shift = 14 - e; // 14..24
    const m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    // Rounding up may give 0x400: the smallest normal, which is the correct encoding.
    return sign | (rem > half || (rem === half && (m & 1) === 1) ? m + 1 : m);
  }
  const m = mant >>> 13;
  const rem = mant & 0x1fff;
  const h = sign | (e << 10) | m;
  // A carry out of the mantissa increments the exponent, up to infinity: also the correct encoding.
  return rem > 0x1000 || (rem === 0x1000 && (m & 1) === 1) ? h + 1 : h;
}

/**
 * binary16 bits of `value` (rounded to float32 first): round to nearest, ties to even, with correct
 * subnormals; overflow goes to ±infinity; NaN stays NaN.
 */
export function f32ToF16(value: number): number {
  return f32BitsToF16Bits(float32Bits(value));
}

// ---------------------------------------------------------------------------------------------
// Bulk conversions
// ---------------------------------------------------------------------------------------------

let f16Table: Float32Array | undefined;

/** float32 value of every binary16 bit pattern (256 KiB, built on first use). */
function f16LookupTable(): Float32Array {
  if (!f16Table) {
    const bits = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) bits[h] = f16BitsToF32Bits(h);
    f16Table = new Float32Array(bits.buffer);
  }
  return f16Table;
}

/** A view of `bytes` whose byte offset is a multiple of `align` (copying only when it is not). */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}

function checkLength(dtype: Dtype, bytes: Uint8Array): number {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `${dtype} data: ${bytes.byteLength} bytes is not a whole number of ${size}-byte elements`,
    );
  }
  return bytes.byteLength / size;
}

/**
 * Decode little-endian `bytes` of `dtype` into float32 values. Floats are converted exactly where
 * float32 can hold them (F64 is rounded to nearest), integers are converted to the nearest float32,
 * BOOL gives 0 or 1. `bytes` may start at any offset.
 */
export function toFloat32(dtype: Dtype, bytes: Uint8Array): Float32Array {
  const n = checkLength(dtype, bytes);
  const out = new Float32Array(n);
  if (!HOST_LITTLE_ENDIAN) {
    decodeWithDataView(dtype, bytes, out);
    return out;
  }
  const size = DTYPE_SIZE[dtype];
  const src = aligned(bytes, size);
  const { buffer, byteOffset } = src;
  switch (dtype) {
    case 'F32':
      out.set(new Float32Array(buffer, byteOffset, n));
      break;
    case 'F64':
      out.set(new Float64Array(buffer, byteOffset, n));
      break;
    case 'BF16': {
      const h = new Uint16Array(buffer, byteOffset, n);
      const o = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) o[i] = (h[i] as number) << 16;
      break;
    }
    case 'F16': {
      const h = new Uint16Array(buffer, byteOffset, n);
      const table = f16LookupTable();
      for (let i = 0; i < n; i++) out[i] = table[h[i] as number] as number;
      break;
    }
    case 'I64': {
      const v = new BigInt64Array(buffer, byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = Number(v[i] as bigint);
      break;
    }
    case 'I32':
      out.set(new Int32Array(buffer, byteOffset, n));
      break;
    case 'I16':
      out.set(new Int16Array(buffer, byteOffset, n));
      break;
    case 'I8':
      out.set(new Int8Array(buffer, byteOffset, n));
      break;
    case 'U8':
      out.set(src);
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = src[i] === 0 ? 0 : 1;
      break;
  }
  return out;
}

/** Portable (byte-order independent) decoding, used on big-endian hosts. */
function decodeWithDataView(dtype: Dtype, bytes: Uint8Array, out: Float32Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = DTYPE_SIZE[dtype];
  for (let i = 0; i < out.length; i++) {
    const at = i * size;
    switch (dtype) {
      case 'F64':
        out[i] = view.getFloat64(at, true);
        break;
      case 'F32':
        out[i] = view.getFloat32(at, true);
        break;
      case 'BF16':
        out[i] = bf16ToF32(view.getUint16(at, true));
        break;
      case 'F16':
        out[i] = f16ToF32(view.getUint16(at, true));
        break;
      case 'I64':
        out[i] = Number(view.getBigInt64(at, true));
        break;
      case 'I32':
        out[i] = view.getInt32(at, true);
        break;
      case 'I16':
        out[i] = view.getInt16(at, true);
        break;
      case 'I8':
        out[i] = view.getInt8(at);
        break;
      case 'U8':
        out[i] = view.getUint8(at);
        break;
      case 'BOOL':
        out[i] = view.getUint8(at) === 0 ? 0 : 1;
        break;
    }
  }
}

/**
 * Encode float32 `values` as little-endian bytes of the float dtype `dtype` (F16 and BF16 round to
 * nearest, ties to even). Decoding the result with `toFloat32` gives `values` back exactly when they
 * are representable in `dtype`, so F16/BF16 data survives a float32 round trip bit for bit.
 */
export function fromFloat32(dtype: Dtype, values: Float32Array): Uint8Array {
  if (!isFloatDtype(dtype)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `cannot encode float32 values as ${dtype}: only F64, F32, F16 and BF16 are supported`,
    );
  }
  const n = values.length;
  const out = new Uint8Array(n * DTYPE_SIZE[dtype]);
  const view = new DataView(out.buffer);
  if (dtype === 'F32') {
    if (HOST_LITTLE_ENDIAN) out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    else for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i] as number, true);
    return out;
  }
  if (dtype === 'F64') {
    for (let i = 0; i < n; i++) view.setFloat64(i * 8, values[i] as number, true);
    return out;
  }
  // The bit patterns of the float32 values, read in host order (the same order the values are in).
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const encode = dtype === 'BF16' ? f32BitsToBf16Bits : f32BitsToF16Bits;
  for (let i = 0; i < n; i++) view.setUint16(i * 2, encode(bits[i] as number), true);
  return out;
}
