import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { SooError } from '../errors.js';
import type { SooErrorCode } from '../errors.js';
import { FIXTURE_ARCHS, hfTinyDir, hfTinyExtraDirs } from '../testing/fixtures.js';
import { SafetensorsFile } from './read.js';
import { SAFE_WEIGHTS_INDEX_NAME, WeightStore } from './sharded.js';
import { serializeSafetensors } from './write.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'soo-st-sharded-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const shardedDir = hfTinyExtraDirs().find(([label]) => label === 'mistral-bf16-sharded')![1];

describe('WeightStore on the fixtures', () => {
  it.each([...FIXTURE_ARCHS.map((a) => [a, hfTinyDir(a)]), ...hfTinyExtraDirs()])(
    'opens %s and reads every tensor',
    async (_label, dir) => {
      const store = await WeightStore.openDir(dir);
      try {
        expect(store.names().length).toBeGreaterThan(0);
        expect(store.has('model.embed_tokens.weight')).toBe(true);
        for (const name of store.names()) {
          const info = store.info(name);
          const values = await store.readFloat32(name);
          expect(values.length).toBe(info.numel);
          expect(values.some((v) => v !== 0)).toBe(true);
        }
      } finally {
        await store.close();
      }
    },
  );

  it('loads the bf16 sharded fixture through its index', async () => {
    const store = await WeightStore.openDir(shardedDir);
    try {
      expect(store.indexPath).toBe(path.join(shardedDir, SAFE_WEIGHTS_INDEX_NAME));
      expect(store.files.map((f) => path.basename(f))).toEqual([
        'model-00001-of-00002.safetensors',
        'model-00002-of-00002.safetensors',
      ]);
      const index = JSON.parse(readFileSync(store.indexPath!, 'utf8')) as {
        weight_map: Record<string, string>;
      };
      expect(new Set(store.names())).toEqual(new Set(Object.keys(index.weight_map)));
      const summary = store.dtypes();
      expect(summary).toHaveLength(1);
      expect(summary[0]!.dtype).toBe('BF16');
      expect(summary[0]!.tensors).toBe(store.names().length);
      expect(summary[0]!.bytes).toBe(515200); // the index's metadata.total_size
      expect(store.indexMetadata).toMatchObject({ total_size: 515200 });

      // Values equal bf16 -> f32 of the raw bits, decoded here independently of the library.
      for (const name of store.names()) {
        const info = store.info(name);
        expect(path.basename(info.file)).toBe(index.weight_map[name]);
        const whole = readFileSync(info.file);
        const raw = whole.subarray(info.fileOffset, info.fileOffset + info.byteLength);
        const values = await store.readFloat32(name);
        const bits = new Uint32Array(values.buffer);
        for (let i = 0; i < values.length; i++) {
          const expected = raw.readUInt16LE(2 * i) << 16;
          if (bits[i] !== expected >>> 0) expect.fail(`${name}[${i}]: bits 0x${bits[i]!.toString(16)}`);
        }
        expect(Buffer.compare(await store.readBytes(name), raw)).toBe(0);
        expect((await store.readTensor(name)).dtype).toBe('BF16');
      }
    } finally {
      await store.close();
    }
  });

  it('summarises F32 single-file weights', async () => {
    const store = await WeightStore.openDir(hfTinyDir('gemma2'));
    expect(store.indexPath).toBeUndefined();
    expect(store.dtypes().map((d) => d.dtype)).toEqual(['F32']);
    await expect(store.readFloat32('lm_head.weight')).rejects.toMatchObject({
      code: 'SAFETENSORS_MISSING_TENSOR',
    });
    await store.close();
  });
});

/** A folder with `files` (name -> bytes or JSON-able value). */
async function makeDir(files: Record<string, Uint8Array | string | object>): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(tmp, 'case-'));
  for (const [name, content] of Object.entries(files)) {
    const data =
      content instanceof Uint8Array || typeof content === 'string' ? content : JSON.stringify(content);
    await fsp.writeFile(path.join(dir, name), data);
  }
  return dir;
}

const shard = (names: string[]) =>
  serializeSafetensors(
    Object.fromEntries(
      names.map((n, i) => [n, { dtype: 'F32' as const, shape: [2], data: new Float32Array([i + 1, -i]) }]),
    ),
    { format: 'pt' },
  );

describe('malformed sharded weights', () => {
  const cases: Array<
    [label: string, code: SooErrorCode, files: () => Record<string, Uint8Array | string | object>]
  > = [
    ['index is not JSON', 'SAFETENSORS_INDEX', () => ({ [SAFE_WEIGHTS_INDEX_NAME]: '{"weight_map": ' })],
    ['index is a JSON array', 'SAFETENSORS_INDEX', () => ({ [SAFE_WEIGHTS_INDEX_NAME]: [] })],
    [
      'index without weight_map',
      'SAFETENSORS_INDEX',
      () => ({ [SAFE_WEIGHTS_INDEX_NAME]: { metadata: {} } }),
    ],
    [
      'weight_map not an object',
      'SAFETENSORS_INDEX',
      () => ({ [SAFE_WEIGHTS_INDEX_NAME]: { weight_map: ['a'] } }),
    ],
    [
      'weight_map value not a string',
      'SAFETENSORS_INDEX',
      () => ({ [SAFE_WEIGHTS_INDEX_NAME]: { weight_map: { a: 3 } } }),
    ],
    [
      'index metadata not an object',
      'SAFETENSORS_INDEX',
      () => ({ [SAFE_WEIGHTS_INDEX_NAME]: { metadata: 5, weight_map: {} } }),
    ],
    [
      'shard file missing',
      'SAFETENSORS_INDEX',
      () => ({
        [SAFE_WEIGHTS_INDEX_NAME]: { weight_map: { a: 's1.safetensors', b: 's2.safetensors' } },
        's1.safetensors': shard(['a']),
      }),
    ],
    [
      'shard outside the folder',
      'SAFETENSORS_INDEX',
      () => ({ [SAFE_WEIGHTS_INDEX_NAME]: { weight_map: { a: '../s1.safetensors' } } }),
    ],
    [
      'mapped tensor missing from its shard',
      'SAFETENSORS_INDEX',
      () => ({
        [SAFE_WEIGHTS_INDEX_NAME]: { weight_map: { a: 's1.safetensors', b: 's1.safetensors' } },
        's1.safetensors': shard(['a']),
      }),
    ],
    [
      'tensor in two shards',
      'SAFETENSORS_INDEX',
      () => ({
        [SAFE_WEIGHTS_INDEX_NAME]: { weight_map: { a: 's1.safetensors', b: 's2.safetensors' } },
        's1.safetensors': shard(['a', 'b']),
        's2.safetensors': shard(['b']),
      }),
    ],
    [
      'malformed shard',
      'SAFETENSORS_TRUNCATED',
      () => ({
        [SAFE_WEIGHTS_INDEX_NAME]: { weight_map: { a: 's1.safetensors' } },
        's1.safetensors': new Uint8Array([1, 2, 3]),
      }),
    ],
    ['no weights at all', 'WEIGHTS_MISSING', () => ({ 'config.json': {} })],
    ['only a pickle checkpoint', 'WEIGHTS_MISSING', () => ({ 'pytorch_model.bin': 'not read' })],
  ];

  it.each(cases)('%s -> %s', async (_label, code, files) => {
    const dir = await makeDir(files());
    const err = await WeightStore.openDir(dir).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err, 'openDir() should have thrown').toBeInstanceOf(SooError);
    expect((err as SooError).code).toBe(code);
    // Index problems name the index file; a bad shard names the shard; a missing-weights error names the folder.
    const named =
      code === 'SAFETENSORS_INDEX'
        ? SAFE_WEIGHTS_INDEX_NAME
        : code === 'WEIGHTS_MISSING'
          ? dir
          : 's1.safetensors';
    expect((err as SooError).message).toContain(named);
  });

  it('mentions an unreadable pickle checkpoint', async () => {
    const dir = await makeDir({ 'pytorch_model.bin': 'x' });
    await expect(WeightStore.openDir(dir)).rejects.toThrow(/pytorch_model\.bin/);
  });

  it('reports a missing folder as MODEL_DIR_NOT_FOUND', async () => {
    await expect(WeightStore.openDir(path.join(tmp, 'absent'))).rejects.toMatchObject({
      code: 'MODEL_DIR_NOT_FOUND',
    });
  });

  it('prefers model.safetensors over an index, as transformers does', async () => {
    const dir = await makeDir({
      'model.safetensors': shard(['x']),
      [SAFE_WEIGHTS_INDEX_NAME]: { weight_map: { a: 'missing.safetensors' } },
    });
    const store = await WeightStore.openDir(dir);
    expect(store.names()).toEqual(['x']);
    await store.close();
  });

  it('opens a valid hand-made sharded set and closes every shard', async () => {
    const dir = await makeDir({
      [SAFE_WEIGHTS_INDEX_NAME]: {
        metadata: { total_size: 24 },
        weight_map: { a: 's1.safetensors', b: 's2.safetensors', c: 's1.safetensors' },
      },
      's1.safetensors': shard(['a', 'c']),
      's2.safetensors': shard(['b']),
    });
    const store = await WeightStore.openDir(dir);
    expect(store.names().sort()).toEqual(['a', 'b', 'c']);
    expect([...(await store.readFloat32('c'))]).toEqual([2, -1]);
    expect(store.info('b').file).toBe(path.join(dir, 's2.safetensors'));
    await store.close();
    await expect(store.readBytes('a')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // SafetensorsFile is what backs each shard.
    const direct = await SafetensorsFile.open(path.join(dir, 's1.safetensors'));
    expect(direct.names()).toEqual(['a', 'c']);
    await direct.close();
  });
});
