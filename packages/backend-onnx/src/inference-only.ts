/**
 * What makes the `onnx` backend inference only: its name, the typed refusal, and the training primitives of
 * contract v2 that both of its model kinds (an HF folder run through onnxruntime, an exported folder) refuse.
 */
import { BackendError, type BackwardResult, type HostTensor } from '@soo/core';

/** The backend's registered name. */
export const ONNX_BACKEND = 'onnx';

/** `BACKEND_CAPABILITY`: the onnx backend does not do `what`. */
export function capabilityError(what: string): BackendError {
  return new BackendError(
    'BACKEND_CAPABILITY',
    `backend "${ONNX_BACKEND}" does not support ${what} (inference only); pick another backend with --backend`,
    { field: 'train' },
  );
}

/** The training primitives of a `BackendModel`, each refused with `capabilityError`. */
export abstract class InferenceOnlyModel {
  async backward(): Promise<BackwardResult> {
    throw capabilityError('training (backward)');
  }
  async gradNorm(): Promise<number> {
    throw capabilityError('training (gradNorm)');
  }
  async getGradients(): Promise<Map<string, HostTensor>> {
    throw capabilityError('training (getGradients)');
  }
  zeroGrad(): void {
    throw capabilityError('training (zeroGrad)');
  }
  async adamwStep(): Promise<void> {
    throw capabilityError('training (adamwStep)');
  }
  async exportOptimizerState(): Promise<Map<string, HostTensor>> {
    throw capabilityError('training (optimizer state)');
  }
  async importOptimizerState(): Promise<void> {
    throw capabilityError('training (optimizer state)');
  }
}
