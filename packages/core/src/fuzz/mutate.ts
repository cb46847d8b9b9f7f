/**
 * Input generators for the fuzz harness, built on fast-check arbitraries so that every case is reproducible
 * from (seed, path) and shrinks to a small failing input:
 *
 * - `mutatedBytes(seeds)`: a fixture's bytes under 1-4 byte-level mutations (bit flips, interesting bytes,
 *   interesting little-endian u64s such as 2^62 or the file size +/- 1 written over a random offset or the
 *   safetensors length prefix, truncation, insertion, duplication of a slice);
 * - `mutatedJson(seeds)`: a fixture's JSON with 1-3 structural mutations (a node replaced by an interesting
 *   value of another type, a key deleted or added, a string or number nudged);
 * - `mutatedText(seeds)`: JSONL / template text under line and character mutations.
 */
import fc from 'fast-check';

export const INTERESTING_NUMBERS: readonly number[] = [
  0,
  -0,
  1,
  -1,
  2,
  3,
  7,
  8,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  -(2 ** 31),
  2 ** 53,
  2 ** 53 + 2,
  2 ** 62,
  2 ** 63,
  1e308,
  -1e308,
  1e-320,
  0.5,
  1.5,
  -0.5,
  Number.MAX_SAFE_INTEGER,
];

const INTERESTING_U64: readonly bigint[] = [
  0n,
  1n,
  7n,
  8n,
  0xffn,
  0xffffn,
  0xffffffffn,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n,
  2n ** 62n,
  2n ** 63n,
  2n ** 64n - 1n,
  100_000_000n,
  100_000_001n,
];

export const INTERESTING_JSON: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  2 ** 62,
  1e308,
  -1e308,
  0.5,
  '',
  'x',
  '-1',
  'NaN',
  'F32',
  'BF16',
  'I64',
  'BOOL',
  'F8_E4M3',
  'U8',
  'C64',
  '__proto__',
  'constructor',
  '\u0000',
  'a'.repeat(300),
  [],
  [0],
  [-1],
  [2 ** 62],
  [1, 2],
  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  {},
  { a: 1 },
  JSON.parse('{"__proto__": {"polluted": 1}}') as unknown,
  [[[[[]]]]],
];

type ByteOp =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'u64'; at: number; value: bigint; relative: number }
  | { kind: 'prefix'; value: bigint; relative: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'dup'; at: number; len: number };

const pos = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('byte' as const),
    at: pos,
    value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x39),
  }),
  fc.record({
    kind: fc.constant('u64' as const),
    at: pos,
    value: fc.constantFrom(...INTERESTING_U64),
    relative: fc.constantFrom(0, 0, -1, 1),
  }),
  fc.record({
    kind: fc.constant('prefix' as const),
    value: fc.constantFrom(...INTERESTING_U64),
    relative: fc.constantFrom(0, -1, 1, 8, -8),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: pos }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: pos,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('dup' as const), at: pos, len: fc.integer({ min: 1, max: 64 }) }),
);

function applyByteOp(b: Uint8Array, op: ByteOp): Uint8Array {
  const at = 'at' in op ? Math.floor(op.at * Math.max(1, b.length)) : 0;
  switch (op.kind) {
    case 'flip': {
      const out = b.slice();
      if (out.length) out[at] = out[at]! ^ (1 << op.bit);
      return out;
    }
    case 'byte': {
      const out = b.slice();
      if (out.length) out[at] = op.value;
      return out;
    }
    case 'u64':
    case 'prefix': {
      const out = b.slice();
      const off = op.kind === 'prefix' ? 0 : Math.min(at, Math.max(0, out.length - 8));
      if (out.length < off + 8) return out;
      let v = op.value;
      if (op.kind === 'prefix' && op.relative !== 0) {
        // relative to the real header length
        const real = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
        v = real + BigInt(op.relative);
        if (v < 0n) v = 0n;
      } else if (op.relative !== 0) v = (v + BigInt(op.relative) + 2n ** 64n) % 2n ** 64n;
      new DataView(out.buffer, out.byteOffset + off, 8).setBigUint64(0, v % 2n ** 64n, true);
      return out;
    }
    case 'truncate':
      return b.slice(0, at);
    case 'insert': {
      const out = new Uint8Array(b.length + op.bytes.length);
      out.set(b.subarray(0, at), 0);
      out.set(op.bytes, at);
      out.set(b.subarray(at), at + op.bytes.length);
      return out;
    }
    case 'dup': {
      const slice = b.subarray(at, at + op.len);
      const out = new Uint8Array(b.length + slice.length);
      out.set(b.subarray(0, at + slice.length), 0);
      out.set(slice, at + slice.length);
      out.set(b.subarray(at + slice.length), at + 2 * slice.length);
      return out;
    }
  }
}

/** A seed's bytes under 1-4 byte mutations (or unchanged, 1 case in 20: the correct-result path). */
export function mutatedBytes(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(byteOp, { minLength: 0, maxLength: 4 }),
      fc.integer({ min: 0, max: 19 }),
    )
    .map(([i, ops, keep]) => {
      let b = seeds[i] as Uint8Array;
      if (keep === 0) return b.slice();
      for (const op of ops.length ? ops : [{ kind: 'flip', at: 0.5, bit: 0 } as ByteOp])
        b = applyByteOp(b, op);
      return b;
    });
}

/** Every path (array of keys) to a node of a JSON value, the root first. */
function jsonPaths(
  v: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (out.length > 2000) return out;
  if (Array.isArray(v)) v.forEach((x, i) => jsonPaths(x, [...prefix, i], out));
  else if (v && typeof v === 'object')
    for (const k of Object.keys(v)) jsonPaths((v as Record<string, unknown>)[k], [...prefix, k], out);
  return out;
}

type JsonOp =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'delete'; at: number }
  | { kind: 'add'; at: number; key: string; value: unknown }
  | { kind: 'nudge'; at: number; by: number }
  | { kind: 'string'; at: number; value: string };

const jsonOp: fc.Arbitrary<JsonOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('replace' as const),
      at: pos,
      value: fc.constantFrom(...INTERESTING_JSON),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: pos }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      at: pos,
      key: fc.constantFrom(
        'dtype',
        'shape',
        'data_offsets',
        'r',
        'lora_alpha',
        'extra',
        '__metadata__',
        'weight_map',
        'x',
      ),
      value: fc.constantFrom(...INTERESTING_JSON),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('nudge' as const),
      at: pos,
      by: fc.constantFrom(-1, 1, -2, 2, 1000, 2 ** 40, -(2 ** 40), 0.5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('string' as const),
      at: pos,
      value: fc.string({ maxLength: 12 }),
    }),
  },
);

function applyJsonOp(root: unknown, op: JsonOp): unknown {
  const paths = jsonPaths(root);
  const p = paths[Math.floor(op.at * paths.length)] as (string | number)[];
  if (p.length === 0) {
    if (op.kind === 'replace') return op.value;
    if (op.kind === 'add' && root && typeof root === 'object' && !Array.isArray(root))
      return { ...(root as object), [op.key]: op.value };
    return root;
  }
  const parent = p
    .slice(0, -1)
    .reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], root) as
    Record<string | number, unknown> | unknown[];
  const key = p[p.length - 1] as string | number;
  const cur = (parent as Record<string | number, unknown>)[key];
  switch (op.kind) {
    case 'replace':
      (parent as Record<string | number, unknown>)[key] = structuredClone(op.value);
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete (parent as Record<string, unknown>)[key];
      break;
    case 'add':
      if (cur && typeof cur === 'object' && !Array.isArray(cur))
        (cur as Record<string, unknown>)[op.key] = structuredClone(op.value);
      else if (Array.isArray(cur)) cur.push(structuredClone(op.value));
      break;
    case 'nudge':
      if (typeof cur === 'number') (parent as Record<string | number, unknown>)[key] = cur + op.by;
      else if (Array.isArray(cur) && typeof cur[0] === 'number') cur[0] = (cur[0] as number) + op.by;
      break;
    case 'string':
      if (typeof cur === 'string') (parent as Record<string | number, unknown>)[key] = cur + op.value;
      else (parent as Record<string | number, unknown>)[key] = op.value;
      break;
  }
  return root;
}

/** A seed JSON value under 1-3 structural mutations (or unchanged, 1 case in 20). */
export function mutatedJson(seeds: readonly unknown[]): fc.Arbitrary<unknown> {
  return fc
    .tuple(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(jsonOp, { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 0, max: 19 }),
    )
    .map(([i, ops, keep]) => {
      let v = structuredClone(seeds[i]);
      if (keep === 0) return v;
      for (const op of ops) v = applyJsonOp(v, op);
      return v;
    });
}

/** Text (JSONL, templates) under line and character mutations. */
export function mutatedText(seeds: readonly string[]): fc.Arbitrary<string> {
  const lineOp = fc.oneof(
    fc.record({ kind: fc.constant('drop' as const), at: pos }),
    fc.record({ kind: fc.constant('dup' as const), at: pos }),
    fc.record({ kind: fc.constant('cut' as const), at: pos, frac: pos }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: pos,
      text: fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom(
          '{',
          '}',
          '[]',
          'null',
          '{"self": 1}',
          '{"self": "", "other": ""}',
          '\uFEFF',
          '\r',
          '{{',
          '{%',
          '%}',
          '}}',
          '{% for x in y %}',
          '{% endfor %}',
          "{{ messages[0]['content'] }}",
          '{% if %}',
          '\u2028',
        ),
      ),
    }),
  );
  return fc
    .tuple(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(lineOp, { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 0, max: 19 }),
    )
    .map(([i, ops, keep]) => {
      let s = seeds[i] as string;
      if (keep === 0) return s;
      for (const op of ops) {
        const lines = s.split('\n');
        const li = Math.floor(op.at * lines.length);
        if (op.kind === 'drop') lines.splice(li, 1);
        else if (op.kind === 'dup') lines.splice(li, 0, lines[li] ?? '');
        else if (op.kind === 'cut') {
          const l = lines[li] ?? '';
          lines[li] = l.slice(0, Math.floor(op.frac * l.length));
        } else {
          const l = lines[li] ?? '';
          const c = Math.floor(op.at * l.length);
          lines[li] = l.slice(0, c) + op.text + l.slice(c);
        }
        s = lines.join('\n');
      }
      return s;
    });
}
