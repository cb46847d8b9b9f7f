/**
 * Where a backend reads a model from (`ModelSource`): the config and weights through core's readers, so
 * no backend parses a file. `openModelSource` opens an HF folder lazily (tensors are read when the backend
 * asks for them). Sources in memory (memory-model-source.ts, re-exported here): `memoryModelSource` serves
 * tensors built in memory (a fresh model to train in full), `safetensorsModelSource` a checkpoint's bytes.
 */
import type { ModelSource, WeightSource } from './backend-spec.js';
import { loadDecoderConfig } from './config.js';
import { WeightStore } from './safetensors/index.js';
import { STORED_DTYPES } from './memory-model-source.js';

export * from './memory-model-source.js';

/** A model folder's source; `close()` releases the open files once the backend has loaded it. */
export interface OpenModelSource extends ModelSource {
  dir: string;
  close(): Promise<void>;
}

export async function openModelSource(
  dir: string,
  options: { configFile?: string } = {},
): Promise<OpenModelSource> {
  const config = await loadDecoderConfig(
    dir,
    options.configFile ? { configFileName: options.configFile } : {},
  );
  const store = await WeightStore.openDir(dir);
  const weights: WeightSource = {
    names: () => store.names(),
    shape: (name) => (store.has(name) ? [...store.info(name).shape] : null),
    readFloat32: (name) => store.readFloat32(name),
    storedDtype: (name) => (store.has(name) ? (STORED_DTYPES[store.info(name).dtype] ?? null) : null),
  };
  return { dir, config, weights, close: () => store.close() };
}
