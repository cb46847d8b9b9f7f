/**
 * Where a backend reads a model from (`ModelSource`): the config and weights through core's readers, so
 * no backend parses a file. `openModelSource` opens an HF folder lazily (tensors are read when the backend
 * asks for them); `memoryModelSource` serves tensors built in memory (a fresh model to train in full).
 */
import type { HostTensor, ModelSource, WeightSource } from './backend-spec.js';
import { loadDecoderConfig } from './config.js';
import type { DecoderConfig } from './config-types.js';
import { InvalidArgumentError } from './errors.js';
import { WeightStore } from './safetensors/index.js';

const STORED_DTYPES: Record<string, ReturnType<WeightSource['storedDtype']>> = {
  F32: 'float32',
  BF16: 'bfloat16',
  F16: 'float16',
  F64: 'float64',
};

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

/** Tensors in memory by HF key (float32). */
export function memoryModelSource(
  config: DecoderConfig,
  tensors: ReadonlyMap<string, HostTensor>,
): ModelSource {
  const get = (name: string): HostTensor => {
    const t = tensors.get(name);
    if (!t) throw new InvalidArgumentError('INVALID_ARGUMENT', `no tensor "${name}"`, { field: name });
    return t;
  };
  return {
    config,
    weights: {
      names: () => [...tensors.keys()],
      shape: (name) => (tensors.has(name) ? [...get(name).shape] : null),
      readFloat32: async (name) => get(name).data,
      storedDtype: (name) => (tensors.has(name) ? 'float32' : null),
    },
  };
}
