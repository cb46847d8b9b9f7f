/**
 * `SooModel`: `SooModelBase` (soo-model-base.ts, re-exported here) plus PEFT adapter folders on disk, and
 * the loaders of model folders (`loadModel`) and fresh models (`freshModel`).
 */
import * as path from 'node:path';
import type { Backend, BackendModel, ComputeDtype, LoadOptions } from './backend-spec.js';
import { requireCapability } from './backend-registry.js';
import type { DecoderConfig } from './config-types.js';
import { ADAPTER_WEIGHTS_NAME, readAdapter, writeAdapter } from './adapter.js';
import { InvalidArgumentError } from './errors.js';
import { initDecoderWeights } from './lora-init.js';
import { memoryModelSource, openModelSource } from './model-source.js';
import type { Seed } from './rng.js';
import { SooModelBase } from './soo-model-base.js';

export * from './soo-model-base.js';

export interface LoadModelOptions {
  /** A PEFT LoRA adapter folder to load on top of the base weights (trainable if the backend can train). */
  adapterDir?: string;
  /** Config file name inside the model folder (default `config.json`), e.g. `config.hub-v4.json`. */
  configFile?: string;
  /** Compute dtype; default the backend's first. */
  dtype?: ComputeDtype;
  /** See `LoadOptions.checkpointDtypeBuffers`. */
  checkpointDtypeBuffers?: boolean;
  /** `'all'`: train every base weight (full-parameter training). */
  trainable?: 'adapter' | 'all';
}

export class SooModel extends SooModelBase {
  /** Load a PEFT adapter folder (replacing any current adapter). */
  async loadAdapter(dir: string): Promise<void> {
    await this.attachAdapter(await readAdapter(dir), path.join(dir, ADAPTER_WEIGHTS_NAME));
  }

  /** Write the current adapter as a PEFT folder. */
  async saveAdapter(dir: string): Promise<void> {
    const snap = await this.getAdapter();
    if (!snap) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'saveAdapter: the model has no adapter (attachLora or load one first)',
      );
    }
    const tensors = new Map(
      [...snap.tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }]),
    );
    await writeAdapter(dir, { config: snap.config, tensors });
  }
}

/** Load an HF model folder on `backend` (and a PEFT adapter on top, when given). */
export async function loadModel(
  backend: Backend,
  dir: string,
  options: LoadModelOptions = {},
): Promise<SooModel> {
  const source = await openModelSource(dir, options.configFile ? { configFile: options.configFile } : {});
  let inner: BackendModel;
  try {
    inner = await backend.loadModel(source, loadOptions(options));
  } finally {
    await source.close();
  }
  const model = new SooModel(inner, backend);
  if (options.adapterDir) {
    try {
      await model.loadAdapter(options.adapterDir);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return model;
}

/** A freshly initialised model (transformers' init from core's `Rng`) whose every weight is trainable. */
export async function freshModel(
  backend: Backend,
  config: DecoderConfig,
  seed: Seed,
  initStd = 0.02,
): Promise<SooModel> {
  requireCapability(backend, 'fullTraining');
  const source = memoryModelSource(config, initDecoderWeights(config, seed, initStd));
  return new SooModel(await backend.loadModel(source, { trainable: 'all' }), backend);
}

function loadOptions(o: LoadModelOptions): LoadOptions {
  return {
    ...(o.dtype ? { dtype: o.dtype } : {}),
    ...(o.checkpointDtypeBuffers ? { checkpointDtypeBuffers: true } : {}),
    ...(o.trainable ? { trainable: o.trainable } : {}),
  };
}
