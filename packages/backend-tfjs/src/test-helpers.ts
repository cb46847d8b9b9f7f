/** Shared bits of this package's tests (not part of the public API). */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { loadModel, type LoadModelOptions, type SooModel } from '@soo/core';
import type { Decoder } from './model.js';
import type { TfjsBackend } from './backend.js';

export interface FixtureReference {
  input_ids: number[];
  greedy: { prompt_ids: number[]; output_ids: number[] };
  lora: { hook: string };
  soo: { self_ids: number[]; other_ids: number[]; loss: number };
}

export async function readReferenceJson(dir: string): Promise<FixtureReference> {
  return JSON.parse(await fsp.readFile(path.join(dir, 'reference.json'), 'utf8')) as FixtureReference;
}

/** A fixture folder on a tfjs backend, with its PEFT adapter (`<dir>/adapter`) when `adapter` is true. */
export function loadFixture(
  backend: TfjsBackend,
  dir: string,
  adapter = false,
  options: LoadModelOptions = {},
): Promise<SooModel> {
  return loadModel(backend, dir, adapter ? { ...options, adapterDir: path.join(dir, 'adapter') } : options);
}

/** White-box access to a model's decoder (weights, LoRA variables) for tests. */
export function decoderOf(model: SooModel): Decoder {
  return (model.inner as unknown as { decoder: Decoder }).decoder;
}
