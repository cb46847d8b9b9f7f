import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { SooError } from '../errors.js';
import { FIXTURE_ARCHS, hfTinyDir, hfTinyExtraDirs } from '../testing/fixtures.js';
import { DTYPES, DTYPE_SIZE, toFloat32 } from './dtypes.js';
import type { Dtype } from './dtypes.js';
import { SafetensorsFile } from './read.js';
import { serializeSafetensors, writeSafetensors } from './write.js';
import type { TensorToWrite } from './write.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'soo-st-write-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function fixtureFiles(): string[] {
  const dirs = [...FIXTURE_ARCHS.map((a) => hfTinyDir(a)), ...hfTinyExtraDirs().map(([, d]) => d)];
  const files: string[] = [];
  for (const dir of dirs) {
    for (const name of readdirSync(dir)) if (name.endsWith('.safetensors')) files.push(path.join(dir, name));
    const adapter = path.join(dir, 'adapter', 'adapter_model.safetensors');
    if (existsSync(adapter)) files.push(adapter);
  }
  return files;
}

const f32 = (...values: number[]) => new Float32Array(values);

describe('serializeSafetensors matches the reference implementation', () => {
  // Byte vectors from huggingface/safetensors' own unit tests (safetensors/src/tensor.rs).
  it('one F32 tensor', () => {
    const out = serializeSafetensors({
      'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: f32(0, 1, 2, 3, 4, 5) },
    });
    expect([...out]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101,
      34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34,
      100, 97, 116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0,
      0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
  });

  it('pads the header with spaces to a multiple of 8', () => {
    const out = serializeSafetensors({
      attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: f32(0, 1, 2, 3, 4, 5) },
    });
    expect([...out]).toEqual([
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34,
      58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44,
      34, 100, 97, 116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125,
      32, 32, 32, 32, 32, 32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
      160, 64,
    ]);
  });

  it('empty, with and without metadata', () => {
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...serializeSafetensors({}, { framework: 'pt' })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34,
      102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  it('orders tensors by dtype alignment (widest first), then by name', () => {
    const tensors: Record<string, TensorToWrite> = {};
    for (const dtype of ['BOOL', 'U8', 'I8', 'I16', 'F16', 'BF16', 'I32', 'F32', 'F64', 'I64'] as Dtype[]) {
      tensors[`b_${dtype}`] = { dtype, shape: [1], data: new Uint8Array(DTYPE_SIZE[dtype]).fill(1) };
      tensors[`a_${dtype}`] = { dtype, shape: [1], data: new Uint8Array(DTYPE_SIZE[dtype]).fill(2) };
    }
    const out = serializeSafetensors(tensors);
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    const order = Object.keys(JSON.parse(new TextDecoder().decode(out.subarray(8, 8 + n))));
    expect(order).toEqual(
      ['I64', 'F64', 'F32', 'I32', 'BF16', 'F16', 'I16', 'I8', 'U8', 'BOOL'].flatMap((d) => [
        `a_${d}`,
        `b_${d}`,
      ]),
    );
  });

  it('orders names by UTF-8 bytes, as Rust strings compare', () => {
    // U+FF21 (3 UTF-8 bytes, one UTF-16 unit) sorts before U+1F600 (4 bytes, a surrogate pair) in UTF-8
    // order, but after it in UTF-16 order.
    const one = { dtype: 'U8' as const, shape: [1], data: new Uint8Array([5]) };
    const out = serializeSafetensors({ '\u{1F600}': one, '\uFF21': one });
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    expect(Object.keys(JSON.parse(new TextDecoder().decode(out.subarray(8, 8 + n))))).toEqual([
      '\uFF21',
      '\u{1F600}',
    ]);
  });
});

describe('re-serializing the fixtures', () => {
  it.each(fixtureFiles().map((f) => [path.relative(path.dirname(path.dirname(path.dirname(f))), f), f]))(
    '%s is byte-identical',
    async (_label, file) => {
      const st = await SafetensorsFile.open(file);
      const tensors = new Map<string, TensorToWrite>();
      for (const name of st.names()) tensors.set(name, await st.readTensor(name));
      await st.close();
      const original = readFileSync(file);
      const again = serializeSafetensors(tensors, st.metadata);
      expect(again.byteLength).toBe(original.byteLength);
      expect(Buffer.compare(again, original)).toBe(0);
    },
  );
});

describe('writeSafetensors', () => {
  it('round-trips every dtype', async () => {
    const tensors: Record<string, TensorToWrite> = {};
    for (const dtype of DTYPES) {
      const bytes = Uint8Array.from({ length: 6 * DTYPE_SIZE[dtype] }, (_, i) => (i * 29 + 3) & 0x7f);
      if (dtype === 'BOOL') bytes.forEach((_, i) => (bytes[i] = i % 2));
      tensors[`t.${dtype}`] = { dtype, shape: [2, 3], data: bytes };
    }
    tensors['scalar'] = { dtype: 'F32', shape: [], data: f32(-0.5) };
    tensors['empty'] = { dtype: 'F16', shape: [0, 4], data: new Uint16Array(0) };
    const file = path.join(tmp, 'all-dtypes', 'model.safetensors');
    await writeSafetensors(file, tensors, { format: 'pt', note: 'round trip' });
    expect(readdirSync(path.dirname(file))).toEqual(['model.safetensors']); // no temp files left

    const st = await SafetensorsFile.open(file);
    expect(st.metadata).toEqual({ format: 'pt', note: 'round trip' });
    expect(new Set(st.names())).toEqual(new Set(Object.keys(tensors)));
    for (const [name, t] of Object.entries(tensors)) {
      const info = st.info(name);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(info.fileOffset % DTYPE_SIZE[t.dtype]).toBe(0); // the sort keeps every tensor aligned
      const bytes = await st.readBytes(name);
      expect(Buffer.compare(bytes, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(
        0,
      );
      expect(await st.readFloat32(name)).toEqual(
        toFloat32(t.dtype, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
      );
    }
    expect([...(await st.readFloat32('scalar'))]).toEqual([-0.5]);
    await st.close();
    // Writing the same tensors again gives the same bytes (deterministic), via either API.
    expect(
      Buffer.compare(readFileSync(file), serializeSafetensors(tensors, { format: 'pt', note: 'round trip' })),
    ).toBe(0);
  });

  it('accepts typed-array views at an offset, and a tensor named "__proto__"', async () => {
    const backing = new Float32Array([9, 9, 1.5, 2.5, 9]);
    const view = backing.subarray(2, 4);
    const file = path.join(tmp, 'views.safetensors');
    await writeSafetensors(file, new Map([['__proto__', { dtype: 'F32', shape: [2], data: view }]]));
    const st = await SafetensorsFile.open(file);
    expect(st.names()).toEqual(['__proto__']);
    expect([...(await st.readFloat32('__proto__'))]).toEqual([1.5, 2.5]);
    await st.close();
  });

  const bad: Array<[string, Record<string, TensorToWrite>]> = [
    ['data too short', { w: { dtype: 'F32', shape: [2, 2], data: f32(1, 2, 3) } }],
    ['data too long', { w: { dtype: 'BF16', shape: [2], data: new Uint16Array(3) } }],
    ['unknown dtype', { w: { dtype: 'F8' as Dtype, shape: [1], data: new Uint8Array(1) } }],
    ['negative dimension', { w: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }],
    ['fractional dimension', { w: { dtype: 'U8', shape: [1.5], data: new Uint8Array(1) } }],
    ['reserved name', { __metadata__: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } }],
  ];
  it.each(bad)('refuses %s with SAFETENSORS_WRITE naming the file and tensor', async (_label, tensors) => {
    const file = path.join(tmp, 'bad', 'model.safetensors');
    const err = await writeSafetensors(file, tensors).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SooError);
    expect((err as SooError).code).toBe('SAFETENSORS_WRITE');
    expect((err as SooError).message).toContain(file);
    expect((err as SooError).message).toContain(`"${Object.keys(tensors)[0]}"`);
    expect(existsSync(file)).toBe(false);
    expect(() => serializeSafetensors(tensors)).toThrow(SooError);
  });

  it('says what was expected when the data length is wrong', () => {
    expect(() => serializeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: f32(1, 2, 3) } })).toThrow(
      /tensor "w": data is 12 bytes, expected 16 \(F32 \[2,2\]/,
    );
  });
});
