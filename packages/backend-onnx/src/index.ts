/**
 * `@soo/backend-onnx`: soo on onnxruntime-node.
 *
 * Importing this module registers the `onnx` backend (inference only: forward, prefill, decode) with
 * `@soo/core`'s registry at priority 5, below every backend that can train, so it runs only when named
 * (`--backend onnx`).
 */
import { registerBackend } from '@soo/core';
import { ONNX_BACKEND, createOnnxBackend } from './backend.js';

registerBackend(ONNX_BACKEND, () => createOnnxBackend(), 5);

export { ONNX_BACKEND, ONNX_CAPABILITIES, OnnxBackend, OnnxModel, createOnnxBackend } from './backend.js';
export type { OnnxBackendOptions } from './backend.js';
export { MASK_MIN, OPSET, buildDecoderGraph, hookOutputName } from './decoder-graph.js';
export type { DecoderGraphOptions, GraphIntervention } from './decoder-graph.js';
export { mergeLora, readDecoderWeights } from './weights.js';
export {
  COPIED_FILES,
  EXPORT_MANIFEST_FILE,
  EXTERNAL_DATA_THRESHOLD,
  ONNX_DATA_FILE,
  ONNX_MODEL_FILE,
  exportOnnx,
} from './export.js';
export type { ExportManifest, ExportOptions, ExportResult } from './export.js';
export {
  ExportedOnnxModel,
  isOnnxExport,
  loadExportedBackendModel,
  loadExportedModel,
  readExportManifest,
} from './exported-model.js';
export type { LoadExportedOptions } from './exported-model.js';
