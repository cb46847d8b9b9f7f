/**
 * The backend-agnostic SOO training loop: epochs over self/other pairs in a seeded order, micro-batches,
 * gradient accumulation, a log line per optimizer step, a checkpoint every epoch, bit-identical resume,
 * a checkpoint on interrupt, and a hard stop on a non-finite loss that keeps the last good adapter.
 *
 * Files in `outDir`:
 *   adapter_config.json, adapter_model.safetensors   the final adapter (PEFT layout)
 *   train_log.jsonl                                   one JSON object per optimizer step
 *   loss_curve.svg                                    loss per optimizer step
 *   train_config.json                                 the options the run was started with
 *   checkpoint/                                       adapter + trainer_state.json + state.json (resume point)
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readAdapter } from '../adapter.js';
import type { HostTensor } from '../backend-spec.js';
import { FormatError, InvalidArgumentError, NumericsError } from '../errors.js';
import { writeFileAtomic } from '../fs.js';
import { linePlot } from '../report/svg.js';
import { Rng, type Seed } from '../rng.js';
import type { Pooling } from '../soo.js';
import { SafetensorsFile, writeSafetensors } from '../safetensors/index.js';
import type { SooModel } from '../soo-model.js';
import {
  SooTrainer as SooTrainerClass,
  type LmBatch,
  type LmTrainer,
  type SooBatch,
  type SooTrainer,
  type SooTrainerOptions,
} from './model-trainers.js';
import type { TrainerStateJson } from './trainer.js';

export interface EncodedPair {
  selfIds: number[];
  otherIds: number[];
}

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  targets: string[];
  useRslora?: boolean;
}

/**
 * `soo`: the SOO loss at the hook (the method). `exposure`: next-token cross-entropy on the same pair strings
 * (self and other prompts as two rows each), same data order and steps: the control arm that separates SOO's
 * effect from mere exposure to the training strings (method.md section 3).
 */
export type TrainObjective = 'soo' | 'exposure';

type LoopTrainer = SooTrainer | LmTrainer;

export interface TrainSooOptions {
  model: SooModel;
  /** Default `soo`. */
  objective?: TrainObjective;
  /** Pairs already wrapped and encoded (see `wrapPairForChat`). */
  pairs: readonly EncodedPair[];
  padId: number;
  hook: string;
  pooling: Pooling;
  lora: LoraSettings;
  lr: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  clipGradNorm?: number | null;
  /** Weight of KL(base || tuned) of next-token distributions on the same prompts; 0 (default) = off, as the paper. */
  capabilityKl?: number;
  epochs: number;
  batchSize: number;
  gradAccum?: number;
  seed: Seed;
  /** Shuffle pairs each epoch (seeded by seed and epoch). Default true. */
  shuffle?: boolean;
  outDir: string;
  /** Continue from `outDir/checkpoint` if it exists. */
  resume?: boolean;
  /** Stop (after saving a checkpoint) when aborted, e.g. on Ctrl-C. */
  signal?: AbortSignal;
  onStep?: (event: TrainStepEvent) => void;
  onEpoch?: (event: { epoch: number; meanLoss: number }) => void;
  /** Extra fields for train_config.json (model path, preset, ...). */
  describe?: Record<string, unknown>;
}

export interface TrainStepEvent {
  epoch: number;
  /** Optimizer step, 1-based, over the whole run. */
  step: number;
  totalSteps: number;
  loss: number;
  gradNorm: number | null;
  lr: number;
  ms: number;
  tokensPerS: number;
}

export interface TrainSooResult {
  status: 'completed' | 'interrupted';
  steps: number;
  epochs: number;
  losses: number[];
  outDir: string;
  resumedFrom: number | null;
}

interface LoopState {
  version: 1;
  /** Epochs fully done. */
  epoch: number;
  /** Optimizer steps done. */
  step: number;
  /** Micro-batches done inside the current epoch. */
  batchInEpoch: number;
  losses: number[];
}

/** Micro-batch order of one epoch: depends only on (seed, epoch), so resume replays it exactly. */
export function epochOrder(n: number, seed: Seed, epoch: number, shuffle = true): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  return shuffle ? new Rng(seed).split('data').split(epoch).shuffle(idx) : idx;
}

function validate(o: TrainSooOptions): void {
  const bad = (field: string, msg: string): never => {
    throw new InvalidArgumentError('INVALID_ARGUMENT', `${field}: ${msg}`, { field });
  };
  if (o.pairs.length === 0) bad('pairs', 'expected at least one training pair');
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    bad('epochs', `expected a positive integer, got ${o.epochs}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    bad('batchSize', `expected a positive integer, got ${o.batchSize}`);
  const ga = o.gradAccum ?? 1;
  if (!Number.isInteger(ga) || ga < 1) bad('gradAccum', `expected a positive integer, got ${ga}`);
  if (!(o.lr > 0)) bad('lr', `expected > 0, got ${o.lr}`);
}

/** Optimizer tensors of a checkpoint (AdamW moments and step counts, by parameter). */
const OPTIMIZER_FILE = 'optimizer.safetensors';
const TRAINER_STATE_FILE = 'trainer_state.json';

async function saveCheckpoint(
  dir: string,
  model: SooModel,
  trainer: LoopTrainer,
  state: LoopState,
): Promise<void> {
  const tmp = `${dir}.tmp`;
  await fsp.rm(tmp, { recursive: true, force: true });
  await model.saveAdapter(tmp);
  const ts = await trainer.exportState();
  await writeSafetensors(
    path.join(tmp, OPTIMIZER_FILE),
    new Map([...ts.tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }])),
  );
  await writeFileAtomic(path.join(tmp, TRAINER_STATE_FILE), JSON.stringify(ts.json));
  await writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(state));
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.rename(tmp, dir);
}

async function readOptimizerTensors(file: string): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  if (!existsSync(file)) {
    throw new FormatError(
      'DATA_INVALID',
      `${file}: missing; this checkpoint was written by an earlier soo (v1 trainer state, JSON moments) and cannot be resumed: start the run again`,
      { file },
    );
  }
  const f = await SafetensorsFile.open(file);
  try {
    for (const name of f.names())
      out.set(name, { data: await f.readFloat32(name), shape: [...f.info(name).shape] });
  } finally {
    await f.close();
  }
  return out;
}

async function readCheckpointJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as unknown;
  } catch (e) {
    throw new FormatError(
      'DATA_INVALID',
      `${file}: unreadable checkpoint (${(e as Error).message}); delete the checkpoint folder to start over`,
      { file, cause: e },
    );
  }
}

function lossCurve(losses: readonly number[], objective: TrainObjective): string {
  return linePlot(
    [
      {
        name: objective === 'soo' ? 'SOO loss' : 'next-token loss',
        points: losses.map((l, i) => [i + 1, l] as [number, number]),
      },
    ],
    {
      title: objective === 'soo' ? 'SOO training loss' : 'Exposure (next-token) training loss',
      xLabel: 'optimizer step',
      yLabel: objective === 'soo' ? 'MSE at the hook' : 'cross-entropy (nats)',
      logY: losses.every((l) => l > 0),
    },
  );
}

/**
 * Train fresh LoRA adapters with the SOO loss. Attaches LoRA to `model` (or, on resume, loads the
 * checkpoint's adapter), runs the loop, and writes the adapter, log and curve into `outDir`.
 */
export async function trainSoo(o: TrainSooOptions): Promise<TrainSooResult> {
  validate(o);
  const gradAccum = o.gradAccum ?? 1;
  const nBatches = Math.ceil(o.pairs.length / o.batchSize);
  const stepsPerEpoch = Math.ceil(nBatches / gradAccum);
  const totalSteps = stepsPerEpoch * o.epochs;
  const ckptDir = path.join(o.outDir, 'checkpoint');
  const logFile = path.join(o.outDir, 'train_log.jsonl');
  await fsp.mkdir(o.outDir, { recursive: true });

  let state: LoopState = { version: 1, epoch: 0, step: 0, batchInEpoch: 0, losses: [] };
  let resumedFrom: number | null = null;
  const trainerOptions: SooTrainerOptions = {
    hook: o.hook,
    pooling: o.pooling,
    optimizer: {
      lr: o.lr,
      weightDecay: o.weightDecay ?? 0,
      ...(o.betas ? { betas: o.betas } : {}),
      ...(o.eps ? { eps: o.eps } : {}),
    },
    clipGradNorm: o.clipGradNorm ?? null,
    gradAccum,
    seed: o.seed,
    ...(o.capabilityKl ? { capabilityKlWeight: o.capabilityKl } : {}),
  };
  const objective = o.objective ?? 'soo';
  const makeTrainer = (): LoopTrainer =>
    objective === 'soo'
      ? o.model.createSooTrainer(trainerOptions)
      : o.model.createLmTrainer({
          optimizer: trainerOptions.optimizer,
          clipGradNorm: trainerOptions.clipGradNorm ?? null,
          gradAccum,
          seed: o.seed,
        });
  let trainer: LoopTrainer;
  if (o.resume && existsSync(path.join(ckptDir, 'state.json'))) {
    const stFile = path.join(ckptDir, 'state.json');
    state = (await readCheckpointJson(stFile)) as LoopState;
    if (state.version !== 1 || !Number.isInteger(state.step) || !Array.isArray(state.losses)) {
      throw new FormatError(
        'DATA_INVALID',
        `${stFile}: not a soo loop state (expected version 1 with "step" and "losses")`,
        { file: stFile },
      );
    }
    const adapter = await readAdapter(ckptDir);
    await o.model.attachLora({
      r: o.lora.r,
      alpha: o.lora.alpha,
      dropout: o.lora.dropout,
      targets: o.lora.targets,
      useRslora: o.lora.useRslora ?? false,
      seed: o.seed,
    });
    await o.model.setAdapterTensors(adapter.tensors);
    trainer = makeTrainer();
    const tsFile = path.join(ckptDir, TRAINER_STATE_FILE);
    await trainer.importState(
      {
        json: (await readCheckpointJson(tsFile)) as TrainerStateJson,
        tensors: await readOptimizerTensors(path.join(ckptDir, OPTIMIZER_FILE)),
      },
      tsFile,
    );
    resumedFrom = state.step;
    // The log keeps exactly the steps the checkpoint has seen.
    const kept = existsSync(logFile)
      ? (await fsp.readFile(logFile, 'utf8'))
          .split('\n')
          .filter((l) => l.trim())
          .slice(0, state.step)
      : [];
    await writeFileAtomic(logFile, kept.map((l) => l + '\n').join(''));
  } else {
    await o.model.attachLora({
      r: o.lora.r,
      alpha: o.lora.alpha,
      dropout: o.lora.dropout,
      targets: o.lora.targets,
      useRslora: o.lora.useRslora ?? false,
      seed: o.seed,
    });
    trainer = makeTrainer();
    await writeFileAtomic(logFile, '');
    await writeFileAtomic(
      path.join(o.outDir, 'train_config.json'),
      JSON.stringify(
        {
          ...o.describe,
          objective,
          hook: o.hook,
          pooling: o.pooling,
          lora: o.lora,
          lr: o.lr,
          weightDecay: o.weightDecay ?? 0,
          epochs: o.epochs,
          batchSize: o.batchSize,
          gradAccum,
          seed: o.seed,
          capabilityKl: o.capabilityKl ?? 0,
          pairs: o.pairs.length,
          backend: o.model.backend,
        },
        null,
        2,
      ) + '\n',
    );
    await saveCheckpoint(ckptDir, o.model, trainer, state);
  }
  const log = await fsp.open(logFile, 'a');
  try {
    for (let epoch = state.epoch; epoch < o.epochs; epoch++) {
      const order = epochOrder(o.pairs.length, o.seed, epoch, o.shuffle ?? true);
      const epochLosses: number[] = [];
      let microLosses: number[] = [];
      let tokens = 0;
      let t0 = performance.now();
      for (let b = state.batchInEpoch; b < nBatches; b++) {
        // A checkpoint is taken between optimizer steps: an interrupt finishes the accumulation window first.
        if (o.signal?.aborted && trainer.pending === 0) {
          await saveCheckpoint(ckptDir, o.model, trainer, state);
          return {
            status: 'interrupted',
            steps: state.step,
            epochs: state.epoch,
            losses: state.losses,
            outDir: o.outDir,
            resumedFrom,
          };
        }
        const rows = order
          .slice(b * o.batchSize, (b + 1) * o.batchSize)
          .map((i) => o.pairs[i] as EncodedPair);
        tokens += rows.reduce((a, r) => a + r.selfIds.length + r.otherIds.length, 0);
        const lastOfEpoch = b === nBatches - 1;
        const nonFinite = (loss: number): NumericsError =>
          new NumericsError(
            'NON_FINITE_LOSS',
            `the ${objective === 'soo' ? 'SOO' : 'next-token'} loss became ${loss} at epoch ${epoch + 1}, optimizer step ${state.step + 1}; the last good adapter is in ${ckptDir} (epoch ${state.epoch}). Lower the learning rate or check the data.`,
          );
        let r: Awaited<ReturnType<LoopTrainer['step']>>;
        try {
          r =
            trainer instanceof SooTrainerClass
              ? await trainer.step({
                  selfIds: rows.map((r) => r.selfIds),
                  otherIds: rows.map((r) => r.otherIds),
                  padId: o.padId,
                } satisfies SooBatch)
              : await trainer.step({
                  ids: rows.flatMap((r) => [r.selfIds, r.otherIds]),
                  padId: o.padId,
                } satisfies LmBatch);
        } catch (e) {
          if (e instanceof NumericsError && e.code === 'NON_FINITE_LOSS') throw nonFinite(Number.NaN);
          throw e;
        }
        let result = r;
        if (!r.updated && lastOfEpoch) {
          const flushed = await trainer.flush();
          if (flushed) result = { ...r, ...flushed, loss: r.loss };
        }
        if (!Number.isFinite(r.loss)) throw nonFinite(r.loss);
        microLosses.push(r.loss);
        state.batchInEpoch = b + 1;
        if (result.updated) {
          const loss = microLosses.reduce((a, x) => a + x, 0) / microLosses.length;
          microLosses = [];
          state.step++;
          state.losses.push(loss);
          epochLosses.push(loss);
          const ms = performance.now() - t0;
          const ev: TrainStepEvent = {
            epoch: epoch + 1,
            step: state.step,
            totalSteps,
            loss,
            gradNorm: result.gradNorm,
            lr: o.lr,
            ms,
            tokensPerS: tokens / (ms / 1000),
          };
          await log.write(
            JSON.stringify({
              epoch: ev.epoch,
              step: ev.step,
              loss,
              grad_norm: ev.gradNorm,
              lr: o.lr,
              ms: Number(ms.toFixed(1)),
              tokens_per_s: Number(ev.tokensPerS.toFixed(1)),
            }) + '\n',
          );
          o.onStep?.(ev);
          tokens = 0;
          t0 = performance.now();
        }
      }
      state = { ...state, epoch: epoch + 1, batchInEpoch: 0 };
      await saveCheckpoint(ckptDir, o.model, trainer, state);
      await writeFileAtomic(path.join(o.outDir, 'loss_curve.svg'), lossCurve(state.losses, objective));
      o.onEpoch?.({
        epoch: epoch + 1,
        meanLoss: epochLosses.reduce((a, x) => a + x, 0) / Math.max(1, epochLosses.length),
      });
    }
  } finally {
    await log.close();
  }
  trainer.dispose();
  await o.model.saveAdapter(o.outDir);
  await writeFileAtomic(path.join(o.outDir, 'loss_curve.svg'), lossCurve(state.losses, objective));
  return {
    status: 'completed',
    steps: state.step,
    epochs: state.epoch,
    losses: state.losses,
    outDir: o.outDir,
    resumedFrom,
  };
}
