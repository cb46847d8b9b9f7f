/**
 * Model sources in memory, with no file access (a browser can use them): `memoryModelSource` serves float32
 * tensors built in memory (a fresh model to train in full); `safetensorsModelSource` serves the bytes of a
 * `model.safetensors` already in memory (fetched by a browser, say) with the checks `openModelSource` makes.
 */
import type { HostTensor, ModelSource, WeightSource } from './backend-spec.js';
import type { DecoderConfig } from './config-types.js';
import { InvalidArgumentError } from './errors.js';
import { SafetensorsBytes } from './safetensors/bytes.js';

/** A safetensors dtype name -> the `storedDtype` a weight source reports (null: not a float dtype). */
export const STORED_DTYPES: Readonly<Record<string, ReturnType<WeightSource['storedDtype']>>> = {
  F32: 'float32',
  BF16: 'bfloat16',
  F16: 'float16',
  F64: 'float64',
};

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

/**
 * The weights of a single-file checkpoint whose bytes are in memory (`model.safetensors`), with `config`
 * parsed from its `config.json` (`parseDecoderConfig`). `file` names the checkpoint in errors. The header
 * is validated here; tensors are converted to float32 when the backend reads them.
 */
export function safetensorsModelSource(
  config: DecoderConfig,
  bytes: Uint8Array,
  file = 'model.safetensors',
): ModelSource {
  const st = new SafetensorsBytes(file, bytes);
  return {
    config,
    weights: {
      names: () => st.names(),
      shape: (name) => (st.has(name) ? [...st.info(name).shape] : null),
      readFloat32: async (name) => st.readFloat32(name),
      storedDtype: (name) => (st.has(name) ? (STORED_DTYPES[st.info(name).dtype] ?? null) : null),
    },
  };
}
