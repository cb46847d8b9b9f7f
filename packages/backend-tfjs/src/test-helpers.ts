/** Shared bits of this package's tests (not part of the public API). */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { HostTensor } from '@soo/core';
import type { Decoder } from './model.js';
import type { TfjsModel } from './backend.js';

export interface FixtureReference {
  input_ids: number[];
  greedy: { prompt_ids: number[]; output_ids: number[] };
  lora: { hook: string };
  soo: { self_ids: number[]; other_ids: number[]; loss: number };
}

export async function readReferenceJson(dir: string): Promise<FixtureReference> {
  return JSON.parse(await fsp.readFile(path.join(dir, 'reference.json'), 'utf8')) as FixtureReference;
}

/** White-box access to a model's decoder (weights, LoRA variables) for tests. */
export function decoderOf(model: TfjsModel): Decoder {
  return (model as unknown as { decoder: Decoder }).decoder;
}

export function cloneTensors(m: Map<string, HostTensor>): Map<string, Float64Array> {
  return new Map([...m].map(([k, t]) => [k, Float64Array.from(t.data)]));
}
