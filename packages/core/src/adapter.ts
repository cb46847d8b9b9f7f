/**
 * PEFT LoRA adapter folders on disk (Node): `readAdapter` and `writeAdapter`. Parsing and checking, which
 * need no file system, are in adapter-parse.ts (re-exported here).
 */

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  loraConfigToJson,
  loraModules,
  parseLoraConfig,
  pythonJsonText,
  type AdapterTensor,
  type LoraAdapter,
} from './adapter-parse.js';
import { FormatError, InvalidArgumentError, NotFoundError, where } from './errors.js';
import { writeFileAtomic } from './fs.js';
import { fromFloat32, isFloatDtype } from './safetensors/dtypes.js';
import { SafetensorsFile } from './safetensors/read.js';
import { writeSafetensors } from './safetensors/write.js';
import type { TensorToWrite } from './safetensors/write.js';

export * from './adapter-parse.js';

/** A LoRA adapter read from disk. */
export interface LoadedLoraAdapter extends LoraAdapter {
  /** The folder it was read from. */
  dir: string;
}

// ---------------------------------------------------------------------------------------------
// Reading and writing folders
// ---------------------------------------------------------------------------------------------

/**
 * Read a PEFT LoRA adapter folder: validate `adapter_config.json`, read every tensor of
 * `adapter_model.safetensors` as float32 (remembering its dtype), and check the A/B pairs and shapes.
 */
export async function readAdapter(dir: string): Promise<LoadedLoraAdapter> {
  const isFolder = await fsp.stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isFolder) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${dir}: not an existing folder, expected a PEFT adapter folder`,
      {
        file: dir,
      },
    );
  }

  const configPath = path.join(dir, ADAPTER_CONFIG_NAME);
  let text: string;
  try {
    text = await fsp.readFile(configPath, 'utf8');
  } catch (cause) {
    throw new NotFoundError(
      'ADAPTER_CONFIG',
      `${configPath}: cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)}), expected the adapter's config`,
      { file: configPath, cause },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new FormatError(
      'ADAPTER_CONFIG',
      `${configPath}: not valid JSON (${(cause as Error).message}), expected a JSON object`,
      { file: configPath, cause },
    );
  }
  const config = parseLoraConfig(json, configPath);

  const weightsPath = path.join(dir, ADAPTER_WEIGHTS_NAME);
  try {
    await fsp.access(weightsPath);
  } catch (cause) {
    let hint = '';
    try {
      await fsp.access(path.join(dir, 'adapter_model.bin'));
      hint = '; found adapter_model.bin, which soo does not read (save with safe_serialization=True)';
    } catch {
      // no pickle file either
    }
    throw new NotFoundError(
      'ADAPTER_WEIGHTS',
      `${weightsPath}: does not exist, expected the adapter's weights${hint}`,
      {
        file: weightsPath,
        cause,
      },
    );
  }
  const file = await SafetensorsFile.open(weightsPath);
  const tensors = new Map<string, AdapterTensor>();
  try {
    for (const info of file.tensors()) {
      tensors.set(info.name, {
        dtype: info.dtype,
        shape: info.shape.slice(),
        data: await file.readFloat32(info.name),
      });
    }
  } finally {
    await file.close();
  }
  const adapter: LoadedLoraAdapter = { dir, config, tensors };
  if (file.metadata !== undefined) adapter.metadata = { ...file.metadata };
  loraModules(adapter, weightsPath);
  return adapter;
}

/**
 * Write `adapter` to `dir` as PEFT does: `adapter_config.json` (every PEFT key, snake_case, sorted) and
 * `adapter_model.safetensors` (each tensor in its `dtype`, metadata {"format": "pt"} unless the adapter
 * carries its own). Validates config and tensors first; both files are written atomically.
 */
export async function writeAdapter(dir: string, adapter: LoraAdapter): Promise<void> {
  const configPath = path.join(dir, ADAPTER_CONFIG_NAME);
  const weightsPath = path.join(dir, ADAPTER_WEIGHTS_NAME);
  const json = loraConfigToJson(adapter.config);
  parseLoraConfig(json, configPath);
  loraModules(adapter, weightsPath);

  const tensors = new Map<string, TensorToWrite>();
  for (const [key, t] of adapter.tensors) {
    if (!isFloatDtype(t.dtype)) {
      throw new InvalidArgumentError(
        'ADAPTER_WEIGHTS',
        `${where(weightsPath, `tensor "${key}"`)}dtype ${t.dtype} cannot hold adapter weights, expected F32, F16, BF16 or F64`,
        { file: weightsPath, field: key },
      );
    }
    const data = fromFloat32(t.dtype, t.data);
    tensors.set(key, { dtype: t.dtype, shape: t.shape, data });
  }
  await writeSafetensors(weightsPath, tensors, adapter.metadata ?? { format: 'pt' });
  await writeFileAtomic(configPath, pythonJsonText(json));
}
