/**
 * The typed surface of the addon's engine classes (`native/addon/engine_binding.cpp`). Arrays cross as
 * typed arrays; hooks as `{ layer, module }` with core's `HookModule` names (layer -1 for the model-level
 * hooks). Every method validates its arguments and throws a plain Error on bad input.
 */
import type { NativeAddon } from './native-loader.js';

export interface EngineConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  qkvBias: boolean;
  oProjBias: boolean;
  mlpBias: boolean;
  activation: 'silu' | 'gelu_pytorch_tanh' | 'gelu';
  embeddingMultiplier: number;
  normOnePlusW: boolean;
  sandwichNorms: boolean;
  /** 0 = off. */
  attnSoftcap: number;
  finalSoftcap: number;
  attentionScale: number;
  /** Per layer, 0 = full causal attention. */
  layerWindows: Int32Array;
  invFreq: Float32Array;
  ropeAttentionScaling: number;
  trainableAll: boolean;
  /** Where the engine runs: 'cpu' (default) or 'cuda' (libsoo_cuda.so at cudaLibrary). */
  device?: 'cpu' | 'cuda';
  cudaLibrary?: string;
  /** cuda: 0 fp32 GEMMs, 1 bf16 GEMMs with fp32 accumulation. */
  cudaMode?: 0 | 1;
}

/** What `cudaProbe(libraryPath)` reports (the GPU the cuda device would use, or why there is none). */
export interface CudaProbeResult {
  ok: boolean;
  reason: string;
  device: {
    index: number;
    count: number;
    name: string;
    computeCapability: string;
    totalBytes: number;
    driverVersion: number;
    runtimeVersion: number;
    cublasLt: string;
  } | null;
}

export interface EngineBatch {
  rows: number;
  tokens: number;
  ids: Int32Array;
  attentionMask: Uint8Array;
  positionIds: Int32Array;
}

export interface EngineHook {
  layer: number;
  module: string;
}

export type EngineIntervention = EngineHook & { width: number } & (
    | { kind: 'add'; vector: Float32Array }
    | { kind: 'scale'; factor: number }
    | { kind: 'zero' }
    | { kind: 'patch'; tensor: Float32Array }
    | {
        kind: 'callback';
        fn: (output: { data: Float32Array; shape: number[] }) => { data: Float32Array; shape: number[] };
      }
  );

export type EngineObjective =
  | (EngineHook & { kind: 'soo'; poolWeights: Float32Array | null; weight: number })
  | { kind: 'lm'; targets: Int32Array; weights: Float32Array; weight: number }
  | { kind: 'kl'; weights: Float32Array; weight: number };

export interface EngineNamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface NativeKvCacheHandle {
  readonly length: number;
  dispose(): void;
}

export interface NativeEngineInstance {
  expectedWeights(): Array<{ name: string; shape: number[] }>;
  setWeight(name: string, data: Float32Array): void;
  finalize(): void;
  setRope(invFreq: Float32Array, attentionScaling: number): void;
  forward(
    batch: EngineBatch,
    options: {
      logits: 'all' | 'last' | 'none';
      stopAt: { layer: number; stage: 'attn' | 'block' | 'embed' } | null;
      captures: EngineHook[];
      interventions: EngineIntervention[];
      adapter: boolean;
    },
  ): { logits: Float32Array | null; logitPositions: number; captures: Float32Array[] };
  backward(
    batch: EngineBatch,
    objectives: EngineObjective[],
    options: { scale: number; dropout: number; dropoutSeed: number },
  ): { loss: number; values: number[] };
  parameters(): Array<{ name: string; shape: number[] }>;
  getParameters(): EngineNamedTensor[];
  setParameters(values: EngineNamedTensor[]): void;
  gradNorm(): number;
  getGradients(): EngineNamedTensor[];
  zeroGrad(): void;
  adamwStep(options: {
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    gradScale: number;
  }): void;
  exportOptimizerState(): EngineNamedTensor[];
  importOptimizerState(state: EngineNamedTensor[]): void;
  attachAdapter(scaling: Array<{ path: string; scaling: number }>, tensors: EngineNamedTensor[]): void;
  detachAdapter(): void;
  prefill(batch: EngineBatch, adapter: boolean): { cache: NativeKvCacheHandle; logits: Float32Array };
  decode(
    cache: NativeKvCacheHandle,
    ids: Int32Array,
    positionIds: Int32Array,
    attentionMask: Uint8Array,
    adapter: boolean,
  ): Float32Array;
  memory(): { currentBytes: number; peakBytes: number };
  releaseWorkspace(): void;
  dispose(): void;
}

export interface NativeEngineAddon extends NativeAddon {
  NativeEngine: new (config: EngineConfig) => NativeEngineInstance;
  /** Load libsoo_cuda.so and ask whether a CUDA device can be made here (absent in addons built before it). */
  cudaProbe?: (libraryPath: string) => CudaProbeResult;
}

/** Whether a loaded addon carries the engine classes (an addon built before them does not). */
export function hasEngine(addon: NativeAddon): addon is NativeEngineAddon {
  return typeof (addon as Partial<NativeEngineAddon>).NativeEngine === 'function';
}
