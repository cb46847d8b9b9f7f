/** Safetensors: dtypes and conversions, lazy validated reading, sharded weight stores, reference-exact writing. */

export {
  DTYPES,
  DTYPE_SIZE,
  bf16ToF32,
  dtypeSize,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  float32Bits,
  float32FromBits,
  fromFloat32,
  isDtype,
  isFloatDtype,
  toFloat32,
} from './dtypes.js';
export type { Dtype, FloatDtype } from './dtypes.js';
export { MAX_HEADER_BYTES, SafetensorsFile, parseSafetensorsHeader } from './read.js';
export { SafetensorsBytes } from './bytes.js';
export type { RawTensor, SafetensorsHeader, TensorInfo } from './read.js';
export { SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WeightStore } from './sharded.js';
export type { DtypeSummary, StoredTensorInfo } from './sharded.js';
export { serializeSafetensors, writeSafetensors } from './write.js';
export type { TensorToWrite, TensorsToWrite } from './write.js';
