/**
 * Test helpers: the HF oracle fixtures (hf-tiny, hf-tiny-extra) read through core's readers, as a
 * `ModelSource`, plus a relative-error measure. The fixture root is SOO_FIXTURES, else core's shipped
 * fixtures (packages/core/fixtures).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SafetensorsFile,
  WeightStore,
  loadDecoderConfig,
  loraModules,
  readAdapter,
  type HostTensor,
  type ModelSource,
  type TokenBatch,
} from '@soo/core';

const here = path.dirname(fileURLToPath(import.meta.url));

export function fixturesRoot(): string | null {
  const candidates = [process.env.SOO_FIXTURES, path.resolve(here, '../../core/fixtures')];
  for (const c of candidates)
    if (c && existsSync(path.join(c, 'hf-tiny', 'llama', 'reference.json'))) return c;
  return null;
}

/** Fixture folders relative to the root: the four architectures and the extra options. */
export const FIXTURES = [
  'hf-tiny/llama',
  'hf-tiny/mistral',
  'hf-tiny/gemma2',
  'hf-tiny/qwen2',
  'hf-tiny-extra/llama3-rope-rslora/llama',
  'hf-tiny-extra/mistral-bf16-sharded/mistral',
  'hf-tiny-extra/mistral-sliding-window/mistral',
] as const;

export interface Reference {
  input_ids: number[];
  padded: { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][] };
  greedy: { prompt_ids: number[]; output_ids: number[] };
  lora: { hook: string };
  soo: {
    self_ids: number[];
    other_ids: number[];
    loss: number;
    adamw: {
      lr: number;
      betas: [number, number];
      eps: number;
      weight_decay: number;
      steps: number;
      losses_before_each_step_then_final: number[];
    };
  };
  num_hidden_layers: number;
}

export interface Fixture {
  dir: string;
  source: ModelSource;
  reference: Reference;
  tensors: SafetensorsFile;
  close(): Promise<void>;
}

export async function openFixture(root: string, name: string): Promise<Fixture> {
  const dir = path.join(root, name);
  const config = await loadDecoderConfig(dir);
  const store = await WeightStore.openDir(dir);
  const tensors = await SafetensorsFile.open(path.join(dir, 'reference.safetensors'));
  const source: ModelSource = {
    config,
    weights: {
      names: () => store.names(),
      shape: (n) => (store.has(n) ? [...store.info(n).shape] : null),
      readFloat32: (n) => store.readFloat32(n),
      storedDtype: (n) => {
        if (!store.has(n)) return null;
        const d = store.info(n).dtype;
        return d === 'BF16' ? 'bfloat16' : d === 'F16' ? 'float16' : d === 'F64' ? 'float64' : 'float32';
      },
    },
  };
  const reference = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as Reference;
  return {
    dir,
    source,
    reference,
    tensors,
    close: async () => {
      await store.close();
      await tensors.close();
    },
  };
}

/** The fixture's PEFT adapter as backend-spec `attachAdapter` input. */
export async function fixtureAdapter(
  dir: string,
): Promise<{ scaling: Map<string, number>; tensors: Map<string, HostTensor> }> {
  const adapter = await readAdapter(path.join(dir, 'adapter'));
  const scaling = new Map(loraModules(adapter).map((m) => [m.modulePath, m.scaling]));
  const tensors = new Map<string, HostTensor>();
  for (const [key, t] of adapter.tensors) tensors.set(key, { data: t.data, shape: t.shape });
  return { scaling, tensors };
}

/** A batch of equal-length rows, no padding, positions 0..T-1. */
export function plainBatch(rows: readonly (readonly number[])[]): TokenBatch {
  const B = rows.length;
  const T = (rows[0] as readonly number[]).length;
  const ids = new Int32Array(B * T);
  const positionIds = new Int32Array(B * T);
  rows.forEach((r, b) =>
    r.forEach((id, t) => {
      ids[b * T + t] = id;
      positionIds[b * T + t] = t;
    }),
  );
  return { rows: B, tokens: T, ids, attentionMask: new Uint8Array(B * T).fill(1), positionIds };
}

/** ||a - b|| / ||b||. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    num += d * d;
    den += (b[i] as number) * (b[i] as number);
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}
