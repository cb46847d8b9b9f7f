/**
 * Test helpers: one HF oracle fixture (core's shipped `fixtures/`, or SOO_FIXTURES) opened through core's
 * readers: the model as a `ModelSource`, the oracle's reference.json and reference.safetensors, and the
 * fixture's PEFT adapter as `attachAdapter` input.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  SafetensorsFile,
  adapterTensors,
  openModelSource,
  readAdapter,
  type AdapterTensors,
  type OpenModelSource,
} from '@soo/core';
import { fixturesDir, type OracleJson } from '@soo/core/testing';

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

export interface Fixture {
  dir: string;
  source: OpenModelSource;
  reference: OracleJson;
  tensors: SafetensorsFile;
  close(): Promise<void>;
}

export async function openFixture(name: string): Promise<Fixture> {
  const dir = path.join(fixturesDir(), name);
  const source = await openModelSource(dir);
  const tensors = await SafetensorsFile.open(path.join(dir, 'reference.safetensors'));
  const reference = JSON.parse(await fsp.readFile(path.join(dir, 'reference.json'), 'utf8')) as OracleJson;
  return {
    dir,
    source,
    reference,
    tensors,
    close: async () => {
      await source.close();
      await tensors.close();
    },
  };
}

/** The fixture's PEFT adapter as `attachAdapter` input (checked against the model by core). */
export async function fixtureAdapter(fx: Fixture): Promise<AdapterTensors> {
  const adapterDir = path.join(fx.dir, 'adapter');
  return adapterTensors(
    fx.source.config,
    await readAdapter(adapterDir),
    path.join(adapterDir, 'adapter_model.safetensors'),
  );
}
