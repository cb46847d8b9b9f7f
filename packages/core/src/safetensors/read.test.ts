import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

import { SooError } from '../errors.js';
import type { SooErrorCode } from '../errors.js';
import { FIXTURE_ARCHS, hfTinyDir, hfTinyExtraDirs } from '../testing/fixtures.js';
import { MAX_HEADER_BYTES, SafetensorsFile } from './read.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'soo-st-read-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every safetensors file among the fixtures. */
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

/** The header of `file` parsed the naive way, for cross-checking. */
function naiveHeader(bytes: Uint8Array): {
  n: number;
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
} {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  delete header.__metadata__;
  return { n, header };
}

/** Bytes of a safetensors file with `header` (object or raw text) and `data`. */
function stBytes(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

/** `n` bytes of non-zero data. */
function someBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
}

let counter = 0;
/** Write `bytes` to a fresh folder under the temp dir; returns the file path. */
async function writeCase(bytes: Uint8Array, name = 'model.safetensors'): Promise<string> {
  const dir = path.join(tmp, `case-${counter++}`);
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await fsp.writeFile(file, bytes);
  return file;
}

describe('SafetensorsFile on the fixtures', () => {
  const files = fixtureFiles();

  it('finds the fixture files', () => {
    // 7 model folders: weights (2 shards for one), reference outputs and an adapter each.
    expect(files.length).toBeGreaterThanOrEqual(21);
  });

  it.each(files.map((f) => [path.relative(path.dirname(path.dirname(path.dirname(f))), f), f]))(
    'reads %s',
    async (_label, file) => {
      const whole = new Uint8Array(readFileSync(file));
      const { n, header } = naiveHeader(whole);
      const st = await SafetensorsFile.open(file);
      try {
        expect(st.headerLength).toBe(n);
        expect(st.fileSize).toBe(whole.byteLength);
        expect(new Set(st.names())).toEqual(new Set(Object.keys(header)));
        let nonZero = 0;
        for (const name of st.names()) {
          const info = st.info(name);
          const h = header[name]!;
          expect(info.dtype).toBe(h.dtype);
          expect(info.shape).toEqual(h.shape);
          expect(info.dataOffsets).toEqual(h.data_offsets);
          const bytes = await st.readBytes(name);
          const expected = whole.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]);
          expect(Buffer.compare(bytes, expected)).toBe(0);
          const values = await st.readFloat32(name);
          expect(values.length).toBe(info.numel);
          if (values.some((v) => v !== 0)) nonZero++;
          // reference outputs hold NaN for fully masked padding rows; weights must be finite
          if (!file.endsWith('reference.safetensors'))
            expect(values.every((v) => Number.isFinite(v))).toBe(true);
        }
        expect(nonZero).toBeGreaterThan(0);
        if (!file.endsWith('reference.safetensors')) expect(st.metadata).toEqual({ format: 'pt' });
      } finally {
        await st.close();
      }
    },
  );

  it('decodes F32 tensors to the values in the file', async () => {
    const file = path.join(hfTinyDir('llama'), 'model.safetensors');
    const whole = readFileSync(file);
    const { n, header } = naiveHeader(new Uint8Array(whole));
    const st = await SafetensorsFile.open(file);
    const name = 'model.layers.0.self_attn.q_proj.weight';
    const values = await st.readFloat32(name);
    const begin = 8 + n + header[name]!.data_offsets[0];
    for (let i = 0; i < values.length; i += 97) expect(values[i]).toBe(whole.readFloatLE(begin + 4 * i));
    await st.close();
  });

  it('names the file and the closest names when a tensor is missing', async () => {
    const file = path.join(hfTinyDir('llama'), 'model.safetensors');
    const st = await SafetensorsFile.open(file);
    try {
      expect(st.has('model.layers.0.self_attn.q_proj.weight')).toBe(true);
      expect(st.has('model.layers.0.self_attn.q_prj.weight')).toBe(false);
      const err = (() => {
        try {
          st.info('model.layers.0.self_attn.q_prj.weight');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(SooError);
      expect((err as SooError).code).toBe('SAFETENSORS_MISSING_TENSOR');
      expect((err as SooError).message).toContain(file);
      expect((err as SooError).message).toContain('"model.layers.0.self_attn.q_proj.weight"');
      await expect(st.readFloat32('nope')).rejects.toMatchObject({ code: 'SAFETENSORS_MISSING_TENSOR' });
    } finally {
      await st.close();
    }
  });

  it('refuses reads after close', async () => {
    const st = await SafetensorsFile.open(path.join(hfTinyDir('qwen2'), 'model.safetensors'));
    const name = st.names()[0]!;
    await st.close();
    await st.close();
    await expect(st.readBytes(name)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('reports a missing file as FILE_NOT_FOUND', async () => {
    const missing = path.join(tmp, 'nope', 'model.safetensors');
    await expect(SafetensorsFile.open(missing)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    await expect(SafetensorsFile.open(tmp)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });
});

describe('laziness', () => {
  it('open() reads only the header of a 6 GiB (sparse) file, and a read reads only its tensor', async () => {
    const big = 6 * 2 ** 30;
    const header = {
      __metadata__: { format: 'pt' },
      big: { dtype: 'U8', shape: [big], data_offsets: [0, big] },
      small: { dtype: 'F32', shape: [4], data_offsets: [big, big + 16] },
    };
    const head = stBytes(header);
    const file = path.join(tmp, 'sparse.safetensors');
    const fh = await fsp.open(file, 'w');
    await fh.write(head, 0, head.byteLength, 0);
    const small = new Float32Array([1.5, -2, 3.25, 1e-3]);
    await fh.write(new Uint8Array(small.buffer), 0, 16, head.byteLength + big);
    await fh.close();
    expect((await fsp.stat(file)).size).toBe(head.byteLength + big + 16);

    // Count every byte requested from any FileHandle while the file is used.
    const probe = await fsp.open(file, 'r');
    const proto = Object.getPrototypeOf(probe) as {
      read: (...args: unknown[]) => Promise<{ bytesRead: number }>;
    };
    await probe.close();
    const requested: number[] = [];
    const original = proto.read;
    const spy = vi.spyOn(proto, 'read').mockImplementation(async function (
      this: unknown,
      ...args: unknown[]
    ) {
      const r = await original.apply(this, args);
      requested.push(r.bytesRead);
      return r;
    });
    const readFile = vi.spyOn(fsp, 'readFile');
    try {
      const t0 = performance.now();
      const st = await SafetensorsFile.open(file);
      const elapsed = performance.now() - t0;
      const afterOpen = requested.reduce((a, b) => a + b, 0);
      expect(afterOpen).toBe(8 + st.headerLength);
      expect(st.bytesRead).toBe(8 + st.headerLength);
      expect(elapsed).toBeLessThan(2000);
      expect(st.info('big').byteLength).toBe(big);

      expect([...(await st.readFloat32('small'))]).toEqual([...small]);
      const total = requested.reduce((a, b) => a + b, 0);
      expect(total - afterOpen).toBe(16);
      expect(st.bytesRead).toBe(8 + st.headerLength + 16);
      expect(readFile).not.toHaveBeenCalled();
      await st.close();
    } finally {
      spy.mockRestore();
      readFile.mockRestore();
      await fsp.rm(file, { force: true });
    }
  });
});

describe('valid edge cases', () => {
  it('accepts an empty header', async () => {
    const st = await SafetensorsFile.open(await writeCase(stBytes('{}      ')));
    expect(st.names()).toEqual([]);
    expect(st.metadata).toBeUndefined();
    await st.close();
  });

  it('accepts zero-size tensors, scalars and a null __metadata__', async () => {
    const header = {
      __metadata__: null,
      empty: { dtype: 'F32', shape: [0, 3], data_offsets: [4, 4] },
      scalar: { dtype: 'I32', shape: [], data_offsets: [0, 4] },
    };
    const st = await SafetensorsFile.open(await writeCase(stBytes(header, new Uint8Array([7, 0, 0, 0]))));
    expect(st.names()).toEqual(['scalar', 'empty']);
    expect([...(await st.readFloat32('scalar'))]).toEqual([7]);
    expect((await st.readFloat32('empty')).length).toBe(0);
    await st.close();
  });

  it('accepts entries in any order in the header', async () => {
    const header = {
      b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] },
      a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
    };
    const st = await SafetensorsFile.open(await writeCase(stBytes(header, new Uint8Array([1, 2, 3, 4]))));
    expect(st.names()).toEqual(['a', 'b']);
    expect([...(await st.readBytes('b'))]).toEqual([3, 4]);
    await st.close();
  });
});

describe('malformed safetensors files', () => {
  const f32 = (shape: number[], begin: number, end: number) => ({
    dtype: 'F32',
    shape,
    data_offsets: [begin, end],
  });
  const cases: Array<[label: string, code: SooErrorCode, bytes: () => Uint8Array]> = [
    ['empty file', 'SAFETENSORS_TRUNCATED', () => new Uint8Array(0)],
    ['file shorter than 8 bytes', 'SAFETENSORS_TRUNCATED', () => new Uint8Array([8, 0, 0, 0, 0])],
    [
      'header length 2^64 - 1',
      'SAFETENSORS_HEADER_LENGTH',
      () => stBytes('{}', undefined, 0xffffffffffffffffn),
    ],
    [
      'header length just over the limit',
      'SAFETENSORS_HEADER_LENGTH',
      () => stBytes('{}', undefined, BigInt(MAX_HEADER_BYTES + 1)),
    ],
    ['header length beyond the file', 'SAFETENSORS_HEADER_LENGTH', () => stBytes('{}', undefined, 4096n)],
    [
      'header cut short (length one past the end)',
      'SAFETENSORS_HEADER_LENGTH',
      () => stBytes('{}', undefined, 3n),
    ],
    [
      'header not UTF-8',
      'SAFETENSORS_HEADER_JSON',
      () => {
        const b = stBytes('{"a\u00e9":1}');
        b[12] = 0xff;
        return b;
      },
    ],
    ['header not JSON', 'SAFETENSORS_HEADER_JSON', () => stBytes('{"a": {"dtype":')],
    ['header JSON is an array', 'SAFETENSORS_HEADER_JSON', () => stBytes('[1, 2, 3]')],
    ['header JSON is null', 'SAFETENSORS_HEADER_JSON', () => stBytes('null')],
    ['header JSON is a string', 'SAFETENSORS_HEADER_JSON', () => stBytes('"weights"')],
    ['header starts with whitespace', 'SAFETENSORS_HEADER_JSON', () => stBytes('  {}')],
    ['header starts with a byte-order mark', 'SAFETENSORS_HEADER_JSON', () => stBytes('\ufeff{}')],
    ['header padded with NULs', 'SAFETENSORS_HEADER_JSON', () => stBytes('{}\u0000\u0000')],
    [
      '__metadata__ value not a string',
      'SAFETENSORS_HEADER_SHAPE',
      () => stBytes({ __metadata__: { format: 1 } }),
    ],
    ['__metadata__ is an array', 'SAFETENSORS_HEADER_SHAPE', () => stBytes({ __metadata__: ['pt'] })],
    ['tensor entry not an object', 'SAFETENSORS_HEADER_SHAPE', () => stBytes({ w: [0, 4] })],
    [
      'missing dtype',
      'SAFETENSORS_HEADER_SHAPE',
      () => stBytes({ w: { shape: [1], data_offsets: [0, 4] } }, someBytes(4)),
    ],
    [
      'missing shape',
      'SAFETENSORS_HEADER_SHAPE',
      () => stBytes({ w: { dtype: 'F32', data_offsets: [0, 4] } }, someBytes(4)),
    ],
    [
      'missing data_offsets',
      'SAFETENSORS_HEADER_SHAPE',
      () => stBytes({ w: { dtype: 'F32', shape: [1] } }, someBytes(4)),
    ],
    [
      'unknown dtype',
      'SAFETENSORS_DTYPE',
      () => stBytes({ w: { dtype: 'Q4_K', shape: [1], data_offsets: [0, 4] } }, someBytes(4)),
    ],
    [
      'dtype not a string',
      'SAFETENSORS_DTYPE',
      () => stBytes({ w: { dtype: 4, shape: [1], data_offsets: [0, 4] } }, someBytes(4)),
    ],
    [
      'lower-case dtype',
      'SAFETENSORS_DTYPE',
      () => stBytes({ w: { dtype: 'f32', shape: [1], data_offsets: [0, 4] } }, someBytes(4)),
    ],
    ['negative shape', 'SAFETENSORS_HEADER_SHAPE', () => stBytes({ w: f32([-1, 4], 0, 16) }, someBytes(16))],
    ['non-integer shape', 'SAFETENSORS_HEADER_SHAPE', () => stBytes({ w: f32([1.5], 0, 4) }, someBytes(4))],
    [
      'shape not an array',
      'SAFETENSORS_HEADER_SHAPE',
      () => stBytes({ w: { dtype: 'F32', shape: 4, data_offsets: [0, 16] } }, someBytes(16)),
    ],
    [
      'shape with a string dimension',
      'SAFETENSORS_HEADER_SHAPE',
      () => stBytes({ w: f32(['4' as unknown as number], 0, 16) }, someBytes(16)),
    ],
    [
      'shape whose byte count overflows',
      'SAFETENSORS_HEADER_SHAPE',
      () => stBytes({ w: f32([2 ** 40, 2 ** 40], 0, 4) }, someBytes(4)),
    ],
    [
      'data_offsets with one number',
      'SAFETENSORS_HEADER_SHAPE',
      () => stBytes({ w: { dtype: 'F32', shape: [1], data_offsets: [4] } }, someBytes(4)),
    ],
    ['data_offsets reversed', 'SAFETENSORS_OFFSETS', () => stBytes({ w: f32([0], 8, 0) }, someBytes(8))],
    ['negative data_offsets', 'SAFETENSORS_OFFSETS', () => stBytes({ w: f32([1], -4, 0) }, someBytes(4))],
    [
      'fractional data_offsets',
      'SAFETENSORS_OFFSETS',
      () => stBytes({ w: f32([1], 0.5, 4.5) }, someBytes(5)),
    ],
    [
      'data_offsets past the end of the file',
      'SAFETENSORS_TRUNCATED',
      () => stBytes({ w: f32([4], 0, 16) }, someBytes(8)),
    ],
    [
      'file truncated inside the last tensor',
      'SAFETENSORS_TRUNCATED',
      () => stBytes({ a: f32([2], 0, 8), b: f32([2], 8, 16) }, someBytes(13)),
    ],
    [
      'byte count does not match shape × dtype',
      'SAFETENSORS_BYTE_COUNT',
      () => stBytes({ w: f32([2, 2], 0, 12) }, someBytes(12)),
    ],
    [
      'byte count wrong for a 2-byte dtype',
      'SAFETENSORS_BYTE_COUNT',
      () => stBytes({ w: { dtype: 'BF16', shape: [3], data_offsets: [0, 8] } }, someBytes(8)),
    ],
    [
      'overlapping ranges',
      'SAFETENSORS_OVERLAP',
      () => stBytes({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, someBytes(12)),
    ],
    [
      'identical ranges',
      'SAFETENSORS_OVERLAP',
      () => stBytes({ a: f32([2], 0, 8), b: f32([2], 0, 8) }, someBytes(8)),
    ],
    [
      'empty tensor inside another',
      'SAFETENSORS_OVERLAP',
      () => stBytes({ a: f32([2], 0, 8), b: f32([0], 4, 4) }, someBytes(8)),
    ],
    [
      'gap between ranges',
      'SAFETENSORS_NOT_CONTIGUOUS',
      () => stBytes({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, someBytes(12)),
    ],
    [
      'gap before the first tensor',
      'SAFETENSORS_NOT_CONTIGUOUS',
      () => stBytes({ a: f32([1], 4, 8) }, someBytes(8)),
    ],
    [
      'data section longer than the tensors',
      'SAFETENSORS_NOT_CONTIGUOUS',
      () => stBytes({ a: f32([1], 0, 4) }, someBytes(12)),
    ],
    ['empty header with trailing data', 'SAFETENSORS_NOT_CONTIGUOUS', () => stBytes('{}', someBytes(8))],
  ];

  it('has at least 30 cases', () => expect(cases.length).toBeGreaterThanOrEqual(30));

  it.each(cases)('%s -> %s', async (_label, code, bytes) => {
    const file = await writeCase(bytes());
    const err = await SafetensorsFile.open(file).then(
      async (st) => {
        await st.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err, 'open() should have thrown').toBeInstanceOf(SooError);
    expect((err as SooError).code).toBe(code);
    expect((err as SooError).message).toContain(file);
    expect((err as SooError).file).toBe(file);
  });
});
