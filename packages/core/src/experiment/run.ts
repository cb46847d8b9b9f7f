/**
 * One experiment run, self-contained in its folder: `run.json` says everything it needs, so the same
 * folder can be handed to a cluster scheduler (one `soo experiment run-one <dir>/run.json` per job).
 *
 *   <run>/run.json        the RunSpec
 *   <run>/adapter/        the trained adapter, train_log.jsonl, loss_curve.svg (arms soo, exposure)
 *   <run>/eval/           answers.jsonl, results.{json,md}, rates.svg
 *   <run>/latent/         latent.{json,md}, latent_layers.svg
 *   <run>/capability/     capability.{json,md}
 *   <run>/summary.json    the numbers the report aggregates
 *   <run>/done.json       written last: a run with it is not redone
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { loadModel, type SooModel } from '../soo-model.js';
import { type Backend } from '../backend-spec.js';
import { encodePairs, latentProbePairs, makeTrainingPairs, readPairsJsonl } from '../data/pairs.js';
import { FormatError } from '../errors.js';
import { measureCapability, readCapabilityTexts, writeCapability } from '../eval/capability.js';
import { runEvaluation, writeEvaluation } from '../eval/evaluate.js';
import { measureLatentSoo, writeLatent } from '../eval/latent.js';
import { removeStaleTemps, writeFileAtomic } from '../fs.js';
import { lockRunDir, type LockOptions } from '../run/lock.js';
import { loadTokenizer } from '../tokenizer.js';
import { trainSoo, type TrainStepEvent } from '../train/loop.js';
import { resolveTrainSettings, trainingPadId } from '../train/presets.js';
import type { RunSpec } from './config.js';

export interface RunSummary {
  id: string;
  arm: RunSpec['arm'];
  seed: number;
  /** Per scenario label: soo rate, paper rate and counts. */
  eval: Record<string, { rate: number; paperRate: number; counts: Record<string, number>; n: number }>;
  latent: number | null;
  capability: { perplexity: number; basePerplexity: number; kl: number | null } | null;
  train: { steps: number; firstLoss: number | null; finalLoss: number | null; seconds: number } | null;
  seconds: number;
}

export interface RunEvents {
  onPhase?: (phase: string) => void;
  /** Every training step of the trained arms (progress bars). */
  onTrainStep?: (event: TrainStepEvent) => void;
}

export interface ExecuteRunOptions {
  /**
   * How the run folder is locked while this process writes it (a second writer is RUN_LOCKED): the job
   * recorded in the lock, and how to tell that a holder on another host is gone (see `lockRunDir`).
   */
  lock?: Omit<LockOptions, 'command'>;
}

export function isRunDone(runDir: string): boolean {
  return existsSync(path.join(runDir, 'done.json'));
}

export async function writeRunSpec(runDir: string, spec: RunSpec): Promise<string> {
  const file = path.join(runDir, 'run.json');
  await writeFileAtomic(file, JSON.stringify(spec, null, 2) + '\n');
  return file;
}

/**
 * Execute the run described by `<runDir>/run.json`; returns its summary (also written to summary.json).
 * The run folder is locked for the whole run: two processes (two cluster tasks, a task and a local run)
 * never write the same run folder; the second gets RUN_LOCKED.
 */
export async function executeRun(
  runFile: string,
  getBackend: (name?: string) => Promise<Backend>,
  events: RunEvents = {},
  options: ExecuteRunOptions = {},
): Promise<RunSummary> {
  const runDir = path.dirname(runFile);
  const spec = JSON.parse(await fsp.readFile(runFile, 'utf8')) as RunSpec;
  if (!spec || !spec.experiment || !spec.arm)
    throw new FormatError('DATA_INVALID', `${runFile}: not a run spec (expected "arm" and "experiment")`, {
      file: runFile,
    });
  const lock = await lockRunDir(runDir, { ...options.lock, command: 'experiment run' });
  try {
    return await executeLocked(runFile, runDir, spec, getBackend, events);
  } finally {
    await lock.release();
  }
}

async function executeLocked(
  runFile: string,
  runDir: string,
  spec: RunSpec,
  getBackend: (name?: string) => Promise<Backend>,
  events: RunEvents,
): Promise<RunSummary> {
  const exp = spec.experiment;
  // temp files of atomic writes that a killed earlier attempt left behind
  for (const d of ['', 'eval', 'latent', 'capability']) await removeStaleTemps(path.join(runDir, d));
  const t0 = performance.now();
  const backend = await getBackend(exp.backend);
  const tokenizer = await loadTokenizer(exp.model);
  const model = await loadModel(backend, exp.model);
  let base: SooModel | undefined;
  try {
    let train: RunSummary['train'] = null;
    if (spec.arm !== 'none') {
      events.onPhase?.('train');
      const t = exp.train;
      const settings = resolveTrainSettings(t, model.config);
      const pairs = t.pairs
        ? await readPairsJsonl(t.pairs)
        : makeTrainingPairs({ layout: t.allTemplates ? 'allTemplates' : 'paper52' });
      const encoded = encodePairs(pairs, tokenizer);
      const tt = performance.now();
      const res = await trainSoo({
        model,
        objective: spec.arm === 'soo' ? 'soo' : 'exposure',
        pairs: encoded,
        padId: trainingPadId(model.config, tokenizer),
        hook: settings.hook,
        pooling: settings.pooling,
        lora: settings.lora,
        lr: settings.lr,
        weightDecay: t.weightDecay ?? 0,
        capabilityKl: spec.arm === 'soo' ? (t.capabilityKl ?? 0) : 0,
        epochs: settings.epochs,
        batchSize: settings.batch,
        gradAccum: t.gradAccum ?? 1,
        seed: spec.seed,
        outDir: path.join(runDir, 'adapter'),
        resume: true,
        // the run folder's lock (above) covers the adapter folder
        lock: false,
        describe: { model: exp.model, run: spec.id },
        ...(events.onTrainStep ? { onStep: events.onTrainStep } : {}),
      });
      train = {
        steps: res.steps,
        firstLoss: res.losses[0] ?? null,
        finalLoss: res.losses.at(-1) ?? null,
        seconds: (performance.now() - tt) / 1000,
      };
    }
    events.onPhase?.('eval');
    const ev = await runEvaluation({
      model,
      tokenizer,
      scenarios: exp.eval.scenarios,
      mirrored: exp.eval.mirrored,
      n: exp.eval.n,
      seed: exp.eval.seed,
      suffix: exp.eval.suffix,
      maxNewTokens: exp.eval.maxNewTokens,
      batchSize: exp.eval.batch,
    });
    await writeEvaluation(path.join(runDir, 'eval'), ev);
    // The untouched base model, for the before/after comparisons of trained arms.
    const baseModel = async (): Promise<SooModel> => (base ??= await loadModel(backend, exp.model));
    let latent: number | null = null;
    if (exp.latent) {
      events.onPhase?.('latent');
      const pairs = exp.latent.limit ? latentProbePairs().slice(0, exp.latent.limit) : undefined;
      const probe = (m: SooModel) =>
        measureLatentSoo({
          model: m,
          tokenizer,
          modules: exp.latent ? exp.latent.modules : 'all',
          pooling: exp.latent ? exp.latent.pooling : 'full',
          ...(pairs ? { pairs } : {}),
        });
      const tuned = await probe(model);
      if (spec.arm === 'none') await writeLatent(path.join(runDir, 'latent'), tuned);
      else await writeLatent(path.join(runDir, 'latent'), await probe(await baseModel()), tuned);
      latent = tuned.mean;
    }
    let capability: RunSummary['capability'] = null;
    if (exp.capability) {
      events.onPhase?.('capability');
      const texts = await readCapabilityTexts(exp.capability.text);
      const cr =
        spec.arm === 'none'
          ? await measureCapability({ base: model, tokenizer, texts, maxTokens: exp.capability.maxTokens })
          : await measureCapability({
              base: await baseModel(),
              tuned: model,
              tokenizer,
              texts,
              maxTokens: exp.capability.maxTokens,
            });
      await writeCapability(path.join(runDir, 'capability'), cr);
      capability = {
        basePerplexity: cr.base.perplexity,
        perplexity: (cr.tuned ?? cr.base).perplexity,
        kl: cr.kl ?? null,
      };
    }
    const summary: RunSummary = {
      id: spec.id,
      arm: spec.arm,
      seed: spec.seed,
      eval: Object.fromEntries(
        ev.scenarios.map((s) => [
          s.scenario,
          { rate: s.rate, paperRate: s.paperRate, counts: s.counts, n: s.n },
        ]),
      ),
      latent,
      capability,
      train,
      seconds: (performance.now() - t0) / 1000,
    };
    await writeFileAtomic(path.join(runDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    await writeFileAtomic(
      path.join(runDir, 'done.json'),
      JSON.stringify({ finished: new Date().toISOString() }) + '\n',
    );
    return summary;
  } finally {
    model.dispose();
    base?.dispose();
  }
}
