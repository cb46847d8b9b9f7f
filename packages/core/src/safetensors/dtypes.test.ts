import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../errors.js';
import {
  DTYPES,
  DTYPE_SIZE,
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  float32Bits,
  float32FromBits,
  fromFloat32,
  isDtype,
  toFloat32,
} from './dtypes.js';

/** A deterministic stream of 32-bit words (xorshift32) for randomised checks. */
function words(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe('dtype table', () => {
  it('knows sizes and names', () => {
    expect(DTYPES).toHaveLength(10);
    expect(DTYPE_SIZE.BF16).toBe(2);
    expect(DTYPE_SIZE.I64).toBe(8);
    expect(DTYPE_SIZE.BOOL).toBe(1);
    expect(isDtype('F32')).toBe(true);
    expect(isDtype('F8_E4M3')).toBe(false);
    expect(isDtype('toString')).toBe(false);
    expect(isDtype(4)).toBe(false);
  });
});

describe('bfloat16', () => {
  it('decodes known bit patterns', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc000)).toBe(-2);
    expect(bf16ToF32(0x4049)).toBe(3.140625);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0xff80)).toBe(-Infinity);
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(Object.is(bf16ToF32(0x8000), -0)).toBe(true);
    // Smallest subnormal: 2^-133.
    expect(bf16ToF32(0x0001)).toBe(2 ** -133);
    expect(bf16ToF32(0x007f)).toBe(127 * 2 ** -133);
  });

  it('rounds to nearest, ties to even, like torch', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(Math.PI)).toBe(0x4049); // 0x40490FDB: low half < 0x8000, rounds down
    expect(f32ToBf16(float32FromBits(0x3f808000))).toBe(0x3f80); // tie, 0x3F80 is even: down
    expect(f32ToBf16(float32FromBits(0x3f818000))).toBe(0x3f82); // tie, 0x3F81 is odd: up
    expect(f32ToBf16(float32FromBits(0x3f808001))).toBe(0x3f81); // just above the tie: up
    expect(f32ToBf16(float32FromBits(0x3f807fff))).toBe(0x3f80); // just below the tie: down
    expect(f32ToBf16(float32FromBits(0x00008000))).toBe(0x0000); // subnormal tie to even (zero)
    expect(f32ToBf16(float32FromBits(0x00018000))).toBe(0x0002); // subnormal tie, odd: up
    expect(f32ToBf16(-1.5)).toBe(0xbfc0);
    expect(f32ToBf16(-0)).toBe(0x8000);
  });

  it('overflows to infinity and keeps NaN a NaN', () => {
    expect(f32ToBf16(float32FromBits(0x7f7fffff))).toBe(0x7f80); // max float32 rounds up to +inf
    expect(f32ToBf16(float32FromBits(0xff7fffff))).toBe(0xff80);
    expect(f32ToBf16(Infinity)).toBe(0x7f80);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    expect(f32ToBf16(NaN)).toBe(0x7fc0);
    // A NaN whose payload sits only in the low 16 bits must not round into infinity.
    const lowPayloadNaN = f32ToBf16(float32FromBits(0x7f800001));
    expect(bf16ToF32(lowPayloadNaN)).toBeNaN();
    expect(bf16ToF32(f32ToBf16(float32FromBits(0xffffffff)))).toBeNaN();
  });

  it('round-trips every bfloat16 value exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = bf16ToF32(h);
      if (Number.isNaN(v)) expect(bf16ToF32(f32ToBf16(v))).toBeNaN();
      else if (f32ToBf16(v) !== h)
        expect.fail(`bf16 0x${h.toString(16)} -> ${v} -> 0x${f32ToBf16(v).toString(16)}`);
    }
  });
});

describe('float16', () => {
  it('decodes known bit patterns, subnormals included', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x8001)).toBe(-(2 ** -24));
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0x7c01)).toBeNaN(); // signalling NaN stays NaN
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });

  it('encodes with round to nearest, ties to even', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(1 / 3)).toBe(0x3555);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519)).toBe(0x7bff); // below the midpoint to 65536
    expect(f32ToF16(65520)).toBe(0x7c00); // the midpoint: ties to even, which is infinity
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(-1e6)).toBe(0xfc00);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie, 0x3C00 even: down
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, 0x3C01 odd: up
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie: up
  });

  it('encodes subnormals correctly', () => {
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // half the smallest subnormal: tie to even (zero)
    expect(f32ToF16(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 ulp: tie, 1 is odd: up to 2
    expect(f32ToF16(5 * 2 ** -26)).toBe(0x0001); // 1.25 ulp: down
    expect(f32ToF16(1023 * 2 ** -24)).toBe(0x03ff);
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // tie between 0x3FF (odd) and 0x400: up to normal
    expect(f32ToF16(1e-10)).toBe(0x0000);
    expect(f32ToF16(-1e-10)).toBe(0x8000);
    expect(f32ToF16(-(2 ** -24))).toBe(0x8001);
  });

  it('keeps infinities and NaN', () => {
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f16ToF32(f32ToF16(NaN))).toBeNaN();
    expect(f16ToF32(f32ToF16(float32FromBits(0x7f800001)))).toBeNaN(); // low-payload NaN
    expect(f32ToF16(-0)).toBe(0x8000);
  });

  it('round-trips every float16 value exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) expect(f16ToF32(f32ToF16(v))).toBeNaN();
      else if (f32ToF16(v) !== h)
        expect.fail(`f16 0x${h.toString(16)} -> ${v} -> 0x${f32ToF16(v).toString(16)}`);
    }
  });

  it('matches a brute-force nearest-value search on random float32 inputs', () => {
    // Every finite non-negative f16 value, in increasing order (bit order is value order for these).
    const values: number[] = [];
    for (let h = 0; h <= 0x7bff; h++) values.push(f16ToF32(h));
    const reference = (x: number): number => {
      const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
      const a = Math.abs(x);
      if (a >= 65520) return sign | 0x7c00; // at or past the midpoint between 65504 and 2^16
      let lo = 0;
      let hi = values.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if ((values[mid] as number) <= a) lo = mid;
        else hi = mid;
      }
      const dLo = a - (values[lo] as number);
      const dHi = (values[hi] as number) - a;
      const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
      return sign | pick;
    };
    const next = words(12345);
    for (let i = 0; i < 20000; i++) {
      // Exponents concentrated around the f16 range, random mantissa and sign.
      const exp = 127 - 30 + (next() % 50);
      const bits = ((next() & 1) << 31) | (exp << 23) | (next() & 0x7fffff);
      const x = float32FromBits(bits >>> 0);
      const want = reference(x);
      if (f32ToF16(x) !== want)
        expect.fail(
          `f32 0x${(bits >>> 0).toString(16)} (${x}): got 0x${f32ToF16(x).toString(16)}, want 0x${want.toString(16)}`,
        );
    }
  });
});

describe('toFloat32', () => {
  const le = (...bytes: number[]) => new Uint8Array(bytes);

  it('decodes every dtype from little-endian bytes', () => {
    expect([...toFloat32('F32', le(0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0))]).toEqual([1, -2]);
    expect([...toFloat32('F64', le(0, 0, 0, 0, 0, 0, 0xf8, 0x3f))]).toEqual([1.5]);
    expect([...toFloat32('F16', le(0x00, 0x3c, 0x01, 0x00))]).toEqual([1, 2 ** -24]);
    expect([...toFloat32('BF16', le(0x49, 0x40, 0x80, 0xbf))]).toEqual([3.140625, -1]);
    expect([
      ...toFloat32('I64', le(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0, 0, 0, 0, 0)),
    ]).toEqual([-2, 7]);
    expect([...toFloat32('I32', le(0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0))]).toEqual([-1, 16]);
    expect([...toFloat32('I16', le(0x00, 0x80, 0x05, 0x00))]).toEqual([-32768, 5]);
    expect([...toFloat32('I8', le(0xff, 0x7f))]).toEqual([-1, 127]);
    expect([...toFloat32('U8', le(0xff, 0x03))]).toEqual([255, 3]);
    expect([...toFloat32('BOOL', le(0, 1, 2))]).toEqual([0, 1, 1]);
  });

  it('rounds F64 to the nearest float32', () => {
    const f64 = new Float64Array([0.1, 1e300, -3.5]);
    const out = toFloat32('F64', new Uint8Array(f64.buffer));
    expect([...out]).toEqual([Math.fround(0.1), Infinity, -3.5]);
  });

  it('handles views at unaligned offsets', () => {
    const values = new Float32Array([1.25, -7.5, 1e-3]);
    for (const offset of [1, 2, 3]) {
      const backing = new Uint8Array(offset + values.byteLength);
      backing.set(new Uint8Array(values.buffer), offset);
      const view = backing.subarray(offset);
      expect([...toFloat32('F32', view)]).toEqual([...values]);
    }
    const i64 = new BigInt64Array([-5n, 1234567n]);
    const backing = new Uint8Array(3 + 16);
    backing.set(new Uint8Array(i64.buffer), 3);
    expect([...toFloat32('I64', backing.subarray(3))]).toEqual([-5, 1234567]);
    const f16 = new Uint8Array([0xaa, 0x00, 0x3c, 0x00, 0xc0]);
    expect([...toFloat32('F16', f16.subarray(1))]).toEqual([1, -2]);
    expect([...toFloat32('BF16', f16.subarray(1))]).toEqual([bf16ToF32(0x3c00), bf16ToF32(0xc000)]);
  });

  it('rejects a byte count that is not whole elements', () => {
    expect(() => toFloat32('F32', new Uint8Array(6))).toThrow(InvalidArgumentError);
  });
});

describe('fromFloat32', () => {
  it('round-trips representable values bit for bit', () => {
    const bf16Bits = new Uint16Array([0x3f80, 0xc049, 0x0001, 0x7f7f, 0x8000, 0x4321]);
    const asF32 = toFloat32('BF16', new Uint8Array(bf16Bits.buffer));
    expect(fromFloat32('BF16', asF32)).toEqual(new Uint8Array(bf16Bits.buffer));
    const f16Bits = new Uint16Array([0x3c00, 0x0001, 0x03ff, 0x7bff, 0xfc00, 0x3555]);
    const asF32b = toFloat32('F16', new Uint8Array(f16Bits.buffer));
    expect(fromFloat32('F16', asF32b)).toEqual(new Uint8Array(f16Bits.buffer));
    const f32 = new Float32Array([1.5, -2.25, 1e-30]);
    expect(toFloat32('F32', fromFloat32('F32', f32))).toEqual(f32);
    expect(toFloat32('F64', fromFloat32('F64', f32))).toEqual(f32);
  });

  it('rounds when narrowing', () => {
    const bits = new Uint16Array(fromFloat32('BF16', new Float32Array([float32FromBits(0x3f818000)])).buffer);
    expect(bits[0]).toBe(0x3f82);
    expect(float32Bits(1)).toBe(0x3f800000);
  });

  it('refuses integer dtypes', () => {
    expect(() => fromFloat32('I32', new Float32Array([1]))).toThrow(/only F64, F32, F16 and BF16/);
  });
});
