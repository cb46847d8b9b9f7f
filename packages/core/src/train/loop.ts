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
 *   run_settings.json                                 settings checked on resume, status, history
 *   checkpoint/                                       adapter + optimizer.safetensors + trainer_state.json
 *                                                     + state.json (resume point)
 *
 * Reliability: the folder is locked while the loop writes it; every file is written atomically (temp file,
 * fsync, rename); a checkpoint is built in `checkpoint.tmp/` (state.json last) and swapped in by renames, so a
 * SIGKILL at any point leaves a complete checkpoint that `resume` finds (`recoverCheckpoint`). A full disk is
 * DISK_FULL with the previous checkpoint intact.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ADAPTER_WEIGHTS_NAME, readAdapter, type LoadedLoraAdapter } from '../adapter.js';
import type { HostTensor } from '../backend-spec.js';
import {
  FormatError,
  InvalidArgumentError,
  NumericsError,
  OutputError,
  RunError,
  SooError,
} from '../errors.js';
import { fsyncDir, removeStaleTemps, writeFileAtomic } from '../fs.js';
import { faultPoint } from '../run/faults.js';
import { prepareOutDir } from '../run/guards.js';
import { lockRunDir } from '../run/lock.js';
import {
  checkResumeSettings,
  hashJson,
  readRunRecord,
  writeRunRecord,
  type RunRecord,
  type RunSettings,
} from '../run/settings.js';
import { linePlot } from '../report/svg.js';
import { Rng, type RngState, type Seed } from '../rng.js';
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
  /** Continue from `outDir/checkpoint` if it exists (after checking the run's recorded settings). */
  resume?: boolean;
  /** With `resume`: a missing checkpoint is RUN_NO_CHECKPOINT instead of a fresh start (`soo train --resume`). */
  requireCheckpoint?: boolean;
  /** Start over even when `outDir` holds a finished or unfinished run. */
  force?: boolean;
  /** Settings fields whose change on resume is accepted (and recorded in the run's history). */
  resumeOverrides?: readonly string[];
  /**
   * Settings recorded in run_settings.json besides the loop's own (hook, lr, epochs, data hash, seed, ...):
   * the model path and its weights' fingerprint, preset, dtype, flags that shaped the data.
   */
  settings?: RunSettings;
  /** The flag that named `outDir`, for error messages (default "outDir"). */
  outFlag?: string;
  /** Lock `outDir` while writing it (default true). */
  lock?: boolean;
  /** Called once before the first step of a resumed run. */
  onResume?: (event: {
    step: number;
    totalSteps: number;
    epoch: number;
    changes: Record<string, [unknown, unknown]>;
  }) => void;
  /** Long phases without steps (checkpoint writes, the final adapter): a heartbeat for progress displays. */
  onPhase?: (phase: 'checkpoint' | 'final-adapter' | 'resume') => void;
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
  /** Where the adapter is: `outDir` when completed, `outDir/checkpoint` when interrupted. */
  adapterDir: string;
}

export interface LoopState {
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

const STATE_FILE = 'state.json';

/**
 * The training checkpoint: adapter, optimizer.safetensors, trainer_state.json, then state.json, written
 * crash-safely by `writeCheckpointDir`.
 */
async function saveCheckpoint(
  dir: string,
  model: SooModel,
  trainer: LoopTrainer,
  state: LoopState,
): Promise<void> {
  await writeCheckpointDir(dir, async (tmp) => {
    await model.saveAdapter(tmp);
    faultPoint('ckpt-adapter');
    const ts = await trainer.exportState();
    await writeSafetensors(
      path.join(tmp, OPTIMIZER_FILE),
      new Map([...ts.tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }])),
    );
    faultPoint('ckpt-optimizer');
    await writeFileAtomic(path.join(tmp, TRAINER_STATE_FILE), JSON.stringify(ts.json));
    return JSON.stringify(state);
  });
}

/**
 * Write a checkpoint folder crash-safely: `fill(tmp)` writes its files into `<dir>.tmp/` and returns the
 * text of `state.json`, which is written last (its presence marks a complete checkpoint); then
 * `dir` -> `<dir>.old`, `<dir>.tmp` -> `dir`, `<dir>.old` removed, with fsyncs. At every instant one complete
 * checkpoint exists under one of the three names; `recoverCheckpoint` puts it back in place. A failed `fill`
 * (a full disk) removes the temp folder and leaves the previous checkpoint as it was.
 */
export async function writeCheckpointDir(dir: string, fill: (tmp: string) => Promise<string>): Promise<void> {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  faultPoint('ckpt-begin');
  await fsp.rm(tmp, { recursive: true, force: true });
  try {
    await fsp.mkdir(tmp, { recursive: true });
    const stateText = await fill(tmp);
    await writeFileAtomic(path.join(tmp, STATE_FILE), stateText);
    await fsyncDir(tmp);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  await fsp.rm(old, { recursive: true, force: true });
  if (existsSync(dir)) await fsp.rename(dir, old);
  faultPoint('ckpt-swap');
  await fsp.rename(tmp, dir);
  await fsyncDir(path.dirname(dir));
  await fsp.rm(old, { recursive: true, force: true });
  faultPoint('ckpt-done');
}

/**
 * After a crash: put the one complete checkpoint among `dir`, `<dir>.tmp`, `<dir>.old` in place as `dir`
 * and remove the rest. Returns whether a complete checkpoint exists.
 */
export async function recoverCheckpoint(dir: string): Promise<boolean> {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  const complete = (d: string): boolean => existsSync(path.join(d, STATE_FILE));
  if (!complete(dir)) {
    const from = complete(tmp) ? tmp : complete(old) ? old : null;
    if (from) {
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rename(from, dir);
      await fsyncDir(path.dirname(dir));
    }
  }
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.rm(old, { recursive: true, force: true });
  return complete(dir);
}

const isDiskFull = (e: unknown): boolean =>
  ['ENOSPC', 'EDQUOT'].includes((e as NodeJS.ErrnoException | undefined)?.code ?? '');

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
      { file, field: 'json', cause: e },
    );
  }
}

export interface LoadedCheckpoint {
  state: LoopState;
  trainer: TrainerStateJson;
  optimizer: Map<string, HostTensor>;
  adapter: LoadedLoraAdapter;
}

/**
 * Read and validate a checkpoint folder (state.json, trainer_state.json, optimizer.safetensors, adapter).
 * Every problem is a `FormatError` naming the file and the field; nothing is attached to a model.
 */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const stFile = path.join(dir, STATE_FILE);
  const st = (await readCheckpointJson(stFile)) as Partial<LoopState> | null;
  const bad = (file: string, field: string, expected: string): never => {
    throw new FormatError(
      'DATA_INVALID',
      `${file}: ${field}: expected ${expected}; delete the checkpoint folder to start over`,
      {
        file,
        field,
      },
    );
  };
  const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!st || typeof st !== 'object' || Array.isArray(st)) bad(stFile, '(top level)', 'a JSON object');
  const state = st as LoopState;
  if (state.version !== 1) bad(stFile, 'version', 'version 1 of the soo loop state');
  for (const k of ['epoch', 'step', 'batchInEpoch'] as const)
    if (!count(state[k])) bad(stFile, k, 'a non-negative integer');
  if (
    !Array.isArray(state.losses) ||
    state.losses.length !== state.step ||
    !state.losses.every((l) => typeof l === 'number')
  )
    bad(stFile, 'losses', `an array of ${String(state.step)} numbers (one per optimizer step)`);
  const tsFile = path.join(dir, TRAINER_STATE_FILE);
  const tj = (await readCheckpointJson(tsFile)) as (Partial<TrainerStateJson> & { moments?: unknown }) | null;
  if (!tj || typeof tj !== 'object' || Array.isArray(tj)) bad(tsFile, '(top level)', 'a JSON object');
  const t = tj as Partial<TrainerStateJson> & { moments?: unknown };
  if (t.version !== 2) {
    if (t.version === 1 || t.moments !== undefined)
      throw new FormatError(
        'DATA_INVALID',
        `${tsFile}: a v1 trainer state (JSON moments, from an earlier soo); this soo resumes only v2 checkpoints: start the run again`,
        { file: tsFile, field: 'version' },
      );
    bad(tsFile, 'version', 'version 2');
  }
  if (!count(t.optimizerSteps)) bad(tsFile, 'optimizerSteps', 'a non-negative integer');
  if (!count(t.microSteps)) bad(tsFile, 'microSteps', 'a non-negative integer');
  const rng = t.rng as Partial<RngState> | undefined;
  if (
    !rng ||
    typeof rng !== 'object' ||
    typeof rng.path !== 'string' ||
    !Array.isArray(rng.s) ||
    rng.s.length !== 4 ||
    !rng.s.every((w) => Number.isInteger(w) && w >= -(2 ** 31) && w < 2 ** 32) ||
    !(rng.spare === null || (typeof rng.spare === 'number' && Number.isFinite(rng.spare)))
  )
    bad(tsFile, 'rng', 'an rng state {"path", "s": four 32-bit words, "spare": number | null}');
  const optimizer = await readOptimizerTensors(path.join(dir, OPTIMIZER_FILE));
  const adapter = await readAdapter(dir);
  return { state, trainer: t as TrainerStateJson, optimizer, adapter };
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
 *
 * A folder that holds a run is not overwritten unless `force`: a finished or unfinished run is RUN_EXISTS
 * (pass `resume` to continue an unfinished one). On `resume`, the settings recorded at the start are
 * compared with the current ones: any difference is RUN_SETTINGS_MISMATCH unless named in `resumeOverrides`.
 */
export async function trainSoo(o: TrainSooOptions): Promise<TrainSooResult> {
  validate(o);
  const outFlag = o.outFlag ?? 'outDir';
  await prepareOutDir(o.outDir, { flag: outFlag });
  const lock = o.lock === false ? null : await lockRunDir(o.outDir, 'train');
  try {
    return await trainLocked(o);
  } finally {
    await lock?.release();
  }
}

/** The settings a resume must match: the loop's own plus the caller's (model, weights, preset, ...). */
function loopSettings(o: TrainSooOptions): RunSettings {
  return {
    ...o.settings,
    objective: o.objective ?? 'soo',
    hook: o.hook,
    pooling: o.pooling,
    'lora.r': o.lora.r,
    'lora.alpha': o.lora.alpha,
    'lora.dropout': o.lora.dropout,
    'lora.targets': o.lora.targets,
    'lora.rslora': o.lora.useRslora ?? false,
    lr: o.lr,
    weightDecay: o.weightDecay ?? 0,
    betas: o.betas ?? null,
    eps: o.eps ?? null,
    clip: o.clipGradNorm ?? null,
    capabilityKl: o.capabilityKl ?? 0,
    epochs: o.epochs,
    batch: o.batchSize,
    gradAccum: o.gradAccum ?? 1,
    seed: o.seed,
    shuffle: o.shuffle ?? true,
    data: `sha256:${hashJson({ pairs: o.pairs, padId: o.padId })}`,
    pairs: o.pairs.length,
    backend: o.model.backend,
  };
}

async function trainLocked(o: TrainSooOptions): Promise<TrainSooResult> {
  const gradAccum = o.gradAccum ?? 1;
  const nBatches = Math.ceil(o.pairs.length / o.batchSize);
  const stepsPerEpoch = Math.ceil(nBatches / gradAccum);
  const totalSteps = stepsPerEpoch * o.epochs;
  const ckptDir = path.join(o.outDir, 'checkpoint');
  const logFile = path.join(o.outDir, 'train_log.jsonl');
  const outFlag = o.outFlag ?? 'outDir';
  const now = (): string => new Date().toISOString();

  await removeStaleTemps(o.outDir);
  const hasCheckpoint = await recoverCheckpoint(ckptDir);
  let record = await readRunRecord(o.outDir);
  const finalAdapter = path.join(o.outDir, ADAPTER_WEIGHTS_NAME);
  const finished = record ? record.status === 'completed' : existsSync(finalAdapter);
  const settings = loopSettings(o);

  let resuming = false;
  if (o.force) {
    // Start over: drop the previous run's adapter, checkpoint and curve; its history is kept.
    for (const f of [
      ckptDir,
      finalAdapter,
      path.join(o.outDir, 'adapter_config.json'),
      path.join(o.outDir, 'loss_curve.svg'),
    ])
      await fsp.rm(f, { recursive: true, force: true });
  } else if (o.resume) {
    if (hasCheckpoint) resuming = true;
    else if (o.requireCheckpoint) {
      throw new RunError(
        'RUN_NO_CHECKPOINT',
        record || finished
          ? `${outFlag} ${o.outDir}: resume asked for, but the run there has no checkpoint (it stopped before its first one); start it again with --force`
          : `${outFlag} ${o.outDir}: resume asked for, but there is no run to resume (no ${path.join(ckptDir, STATE_FILE)}); start a new run without --resume`,
        { file: path.join(ckptDir, STATE_FILE), field: 'resume' },
      );
    }
  } else if (finished || hasCheckpoint || record) {
    const what = finished
      ? 'a finished run'
      : hasCheckpoint
        ? 'an unfinished run (pass --resume to continue it)'
        : 'a run that stopped before its first checkpoint';
    throw new RunError(
      'RUN_EXISTS',
      `${outFlag} ${o.outDir}: holds ${what}; pass --force to overwrite it, or choose another ${outFlag}`,
      { file: o.outDir, field: outFlag },
    );
  }

  let state: LoopState = { version: 1, epoch: 0, step: 0, batchInEpoch: 0, losses: [] };
  let resumedFrom: number | null = null;
  let lastCheckpointStep = 0;
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
  const writeTrainConfig = async (extra: Record<string, unknown> = {}): Promise<void> =>
    writeFileAtomic(
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
          ...extra,
        },
        null,
        2,
      ) + '\n',
    );
  const setStatus = async (
    status: RunRecord['status'],
    event: 'interrupted' | 'completed',
  ): Promise<void> => {
    if (!record) return;
    record = { ...record, status, history: [...record.history, { at: now(), event, step: state.step }] };
    await writeRunRecord(o.outDir, record);
  };
  const checkpoint = async (): Promise<void> => {
    o.onPhase?.('checkpoint');
    try {
      await saveCheckpoint(ckptDir, o.model, trainer, state);
    } catch (e) {
      if (isDiskFull(e)) {
        throw new OutputError(
          'DISK_FULL',
          `${ckptDir}: no space left on the device while writing the checkpoint at step ${state.step}; the previous checkpoint (step ${lastCheckpointStep}) is intact: free some space and rerun with --resume`,
          { file: ckptDir, field: 'checkpoint', cause: e },
        );
      }
      throw e;
    }
    lastCheckpointStep = state.step;
  };

  let trainer: LoopTrainer;
  if (resuming) {
    o.onPhase?.('resume');
    const ckpt = await readCheckpoint(ckptDir);
    state = ckpt.state;
    let changes: Record<string, [unknown, unknown]> = {};
    if (record) {
      changes = checkResumeSettings(
        path.join(o.outDir, 'run_settings.json'),
        record.settings,
        settings,
        o.resumeOverrides ?? [],
      );
    }
    const adapter = ckpt.adapter;
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
    await trainer.importState({ json: ckpt.trainer, tensors: ckpt.optimizer }, tsFile);
    resumedFrom = state.step;
    lastCheckpointStep = state.step;
    // The log keeps exactly the steps the checkpoint has seen.
    const kept = existsSync(logFile)
      ? (await fsp.readFile(logFile, 'utf8'))
          .split('\n')
          .filter((l) => l.trim())
          .slice(0, state.step)
      : [];
    await writeFileAtomic(logFile, kept.map((l) => l + '\n').join(''));
    const entry = {
      at: now(),
      event: 'resume' as const,
      step: state.step,
      ...(Object.keys(changes).length ? { changes } : {}),
    };
    record = record
      ? {
          ...record,
          status: finished ? 'completed' : 'running',
          settings,
          history: [...record.history, entry],
        }
      : { version: 1, status: 'running', settings, history: [entry] };
    await writeRunRecord(o.outDir, record);
    if (Object.keys(changes).length) {
      await writeTrainConfig({
        resume_overrides: record.history
          .filter((h) => h.changes)
          .map((h) => ({ step: h.step, changes: h.changes })),
      });
    }
    o.onResume?.({ step: state.step, totalSteps, epoch: state.epoch, changes });
  } else {
    record = {
      version: 1,
      status: 'running',
      settings,
      history: [
        ...(o.force && record ? record.history : []),
        { at: now(), event: o.force && record ? 'forced' : 'start', step: 0 },
      ],
    };
    await writeRunRecord(o.outDir, record);
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
    await writeTrainConfig();
    await checkpoint();
  }
  if (finished && resuming && state.epoch >= o.epochs) {
    // Nothing left to do: the final adapter is already there (never rewritten).
    trainer.dispose();
    return {
      status: 'completed',
      steps: state.step,
      epochs: state.epoch,
      losses: state.losses,
      outDir: o.outDir,
      resumedFrom,
      adapterDir: o.outDir,
    };
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
          await checkpoint();
          await setStatus('interrupted', 'interrupted');
          return {
            status: 'interrupted',
            steps: state.step,
            epochs: state.epoch,
            losses: state.losses,
            outDir: o.outDir,
            resumedFrom,
            adapterDir: ckptDir,
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
          // One write per line: a SIGKILL leaves whole lines only.
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
          faultPoint('step');
          tokens = 0;
          t0 = performance.now();
        }
      }
      state = { ...state, epoch: epoch + 1, batchInEpoch: 0 };
      await checkpoint();
      await writeFileAtomic(path.join(o.outDir, 'loss_curve.svg'), lossCurve(state.losses, objective));
      o.onEpoch?.({
        epoch: epoch + 1,
        meanLoss: epochLosses.reduce((a, x) => a + x, 0) / Math.max(1, epochLosses.length),
      });
    }
  } catch (e) {
    if (isDiskFull(e) && !(e instanceof SooError)) {
      throw new OutputError(
        'DISK_FULL',
        `${o.outDir}: no space left on the device at step ${state.step}; the checkpoint (step ${lastCheckpointStep}) is intact: free some space and rerun with --resume`,
        { file: o.outDir, field: 'outDir', cause: e },
      );
    }
    throw e;
  } finally {
    await log.close();
  }
  trainer.dispose();
  o.onPhase?.('final-adapter');
  faultPoint('final-adapter');
  await o.model.saveAdapter(o.outDir);
  await writeFileAtomic(path.join(o.outDir, 'loss_curve.svg'), lossCurve(state.losses, objective));
  faultPoint('completed');
  await setStatus('completed', 'completed');
  return {
    status: 'completed',
    steps: state.step,
    epochs: state.epoch,
    losses: state.losses,
    outDir: o.outDir,
    resumedFrom,
    adapterDir: o.outDir,
  };
}
