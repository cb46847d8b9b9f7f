/**
 * Full-parameter training of a fresh decoder (what builds the embedded toy model), on any backend with
 * `fullTraining`: `freshModel` (soo-model.ts) initialises every weight from core's `Rng`, an `LmTrainer`
 * owns the step, and these helpers add the learning-rate schedule and the weights file in and out.
 */
import type { HostTensor } from '../backend-spec.js';
import { InvalidArgumentError } from '../errors.js';
import { writeSafetensors } from '../safetensors/index.js';
import type { SooModel } from '../soo-model.js';

export interface LrSchedule {
  /** Peak learning rate. */
  lr: number;
  /** Linear warm-up steps, then cosine decay to `minLrRatio * lr` at `totalSteps`. */
  warmupSteps: number;
  totalSteps: number;
  /** Default 0.1. */
  minLrRatio?: number;
}

/** Learning rate at optimizer step `step` (0-based): linear warm-up, then cosine to `minLrRatio * lr`. */
export function scheduledLr(o: LrSchedule, step: number): number {
  const min = (o.minLrRatio ?? 0.1) * o.lr;
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const t = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
  return min + 0.5 * (o.lr - min) * (1 + Math.cos(Math.PI * t));
}

/** Number of trained values (a tied table counted once). */
export function trainableCount(model: SooModel): number {
  return model.inner.parameters().reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
}

/** Write every trainable weight as an HF `model.safetensors` (float32, names sorted by the writer). */
export async function saveModelWeights(
  model: SooModel,
  file: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  const params = await model.inner.getParameters();
  await writeSafetensors(
    file,
    new Map([...params].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }])),
    { format: 'pt', ...metadata },
  );
}

/** Continue from saved weights: every trainable tensor is read and checked against its shape. */
export async function loadModelWeights(
  model: SooModel,
  src: {
    info(name: string): { shape: readonly number[] } | undefined;
    readFloat32(name: string): Promise<Float32Array>;
  },
): Promise<void> {
  const values = new Map<string, HostTensor>();
  for (const p of model.inner.parameters()) {
    let got: readonly number[] | undefined;
    try {
      got = src.info(p.name)?.shape;
    } catch {
      got = undefined;
    }
    if (!got || got.length !== p.shape.length || got.some((d, i) => d !== p.shape[i])) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `cannot continue from weights: "${p.name}" has shape [${got?.join(', ') ?? 'missing'}], expected [${p.shape.join(', ')}]`,
        { field: p.name },
      );
    }
    values.set(p.name, { data: await src.readFloat32(p.name), shape: [...p.shape] });
  }
  await model.inner.setParameters(values);
}
