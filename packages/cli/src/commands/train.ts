import {
  POOLINGS,
  type Pooling,
  type SelfOtherPair,
  TRAIN_PRESETS,
  type TrainOverrides,
  encodePairs,
  loadTokenizer,
  makeTrainingPairs,
  readPairsJsonl,
  readTemplatesJsonl,
  resolveTrainSettings,
  trainSoo,
  trainingPadId,
  loadDecoderConfig,
  loadModel,
  resolveHookPoint,
  checkModelDir,
  prepareOutDir,
  fingerprintWeights,
} from '@soo/core';
import * as path from 'node:path';
import type { Command } from 'commander';
import { parseList, parseNumber } from '../args.js';
import { BACKEND_HELP, resolveBackend } from '../backends.js';
import { InterruptedError, UsageError } from '../errors.js';
import { type Io, printJson } from '../io.js';
import { createProgress, heartbeat } from '../progress.js';

interface TrainOpts {
  model: string;
  preset?: string;
  layer?: string;
  hook?: string;
  pooling?: string;
  r?: string;
  alpha?: string;
  dropout?: string;
  targets?: string;
  lr?: string;
  weightDecay: string;
  epochs?: string;
  batch?: string;
  gradAccum: string;
  clip?: string;
  seed: string;
  pairs?: string;
  templates?: string;
  allTemplates?: boolean;
  chatTemplate: boolean;
  capabilityKl?: string;
  out: string;
  resume?: boolean;
  resumeOverride: string[];
  force?: boolean;
  backend?: string;
  configFile: string;
  json?: boolean;
}

export function registerTrain(program: Command, io: Io): void {
  program
    .command('train')
    .description('SOO fine-tuning: train LoRA adapters so self and other prompts overlap at one hook')
    .requiredOption('--model <dir>', 'model folder')
    .option('--preset <name>', `paper settings: ${Object.keys(TRAIN_PRESETS).join(' | ')}`)
    .option(
      '--layer <n>',
      'hook model.layers.N.self_attn.o_proj (0-based); default: the preset, else 60% of the depth',
    )
    .option('--hook <name>', 'any hook point instead of --layer')
    .option('--pooling <p>', 'token alignment: last | full | mean (default last)')
    .option('--r <n>', 'LoRA rank (default 8)')
    .option('--alpha <x>', 'LoRA alpha (default 32)')
    .option('--dropout <x>', 'LoRA dropout (default 0)')
    .option('--targets <modules>', 'LoRA target modules (default q_proj,v_proj)')
    .option('--lr <x>', 'learning rate (default 1e-4)')
    .option('--weight-decay <x>', 'AdamW weight decay', '0')
    .option('--epochs <n>', 'epochs (default 15)')
    .option('--batch <n>', 'pairs per micro-batch (default 4)')
    .option('--grad-accum <n>', 'micro-batches per optimizer step', '1')
    .option('--clip <x>', 'clip the global gradient norm')
    .option('--seed <n>', 'seed for LoRA init, dropout and data order', '0')
    .option('--pairs <file>', 'JSONL of {"self", "other"} pairs instead of the paper templates')
    .option(
      '--templates <file>',
      'JSONL of {"self", "other"} templates with {item}, filled with the 52 paper items',
    )
    .option(
      '--all-templates',
      'every item with all three templates (items x 3) instead of the 52-pair layout',
    )
    .option(
      '--no-chat-template',
      'encode prompts as plain text (with special tokens) instead of a chat user turn',
    )
    .option(
      '--capability-kl <w>',
      'add w x KL(base || tuned) of next-token distributions on the same prompts',
    )
    .requiredOption('--out <dir>', 'output folder for the adapter, log, loss curve and checkpoints')
    .option(
      '--resume',
      'continue from <out>/checkpoint; the settings recorded at the start (model, data, flags, backend, seed) must match',
    )
    .option(
      '--resume-override <field>',
      'with --resume: accept a changed setting (repeatable; recorded in the run history)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--force', 'start over in an --out that holds a finished or unfinished run')
    .option('--backend <name>', BACKEND_HELP)
    .option('--config-file <name>', 'config file name inside the model folder', 'config.json')
    .option('--json', 'progress and the summary as JSON lines on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  soo train --model ./Mistral-7B-Instruct-v0.2 --preset mistral-7b-paper --out runs/soo-seed276 --seed 276\n  soo train --model packages/core/assets/tiny-llama --layer 2 --epochs 2 --lr 1e-3 --out /tmp/tiny-soo',
    )
    .action(async (opts: TrainOpts) => {
      if (opts.preset !== undefined && !TRAIN_PRESETS[opts.preset]) {
        throw new UsageError(
          `--preset: expected one of ${Object.keys(TRAIN_PRESETS).join(', ')}, got "${opts.preset}"`,
        );
      }
      if (opts.layer !== undefined && opts.hook !== undefined)
        throw new UsageError('give --layer or --hook, not both');
      if (opts.pooling !== undefined && !(POOLINGS as readonly string[]).includes(opts.pooling)) {
        throw new UsageError(`--pooling: expected one of ${POOLINGS.join(', ')}, got "${opts.pooling}"`);
      }
      const num = (
        flag: string,
        v: string | undefined,
        o: { integer?: boolean; min?: number } = {},
      ): number | undefined => (v === undefined ? undefined : parseNumber(flag, v, o));
      const overrides: TrainOverrides = {
        ...(opts.preset !== undefined ? { preset: opts.preset } : {}),
        ...(opts.hook !== undefined ? { hook: opts.hook } : {}),
        ...(opts.pooling !== undefined ? { pooling: opts.pooling as Pooling } : {}),
        ...(opts.targets ? { targets: parseList(opts.targets) } : {}),
      };
      for (const [key, flag, value, o] of [
        ['layer', '--layer', opts.layer, { integer: true, min: 0 }],
        ['r', '--r', opts.r, { integer: true, min: 1 }],
        ['alpha', '--alpha', opts.alpha, { min: 0 }],
        ['dropout', '--dropout', opts.dropout, { min: 0 }],
        ['lr', '--lr', opts.lr, { min: 0 }],
        ['epochs', '--epochs', opts.epochs, { integer: true, min: 1 }],
        ['batch', '--batch', opts.batch, { integer: true, min: 1 }],
      ] as const) {
        const v = num(flag, value, o);
        if (v !== undefined) (overrides as Record<string, unknown>)[key] = v;
      }
      if ((overrides.dropout ?? 0) >= 1)
        throw new UsageError(`--dropout: expected a value in [0, 1), got ${overrides.dropout}`);
      const gradAccum = parseNumber('--grad-accum', opts.gradAccum, { integer: true, min: 1 });
      const seed = parseNumber('--seed', opts.seed, { integer: true });
      const weightDecay = parseNumber('--weight-decay', opts.weightDecay, { min: 0 });
      const clip = opts.clip === undefined ? null : parseNumber('--clip', opts.clip, { min: 0 });
      const capabilityKl =
        opts.capabilityKl === undefined ? 0 : parseNumber('--capability-kl', opts.capabilityKl, { min: 0 });

      if (opts.resume && opts.force) throw new UsageError('give --resume or --force, not both');
      if (opts.resumeOverride.length && !opts.resume)
        throw new UsageError('--resume-override needs --resume');
      await checkModelDir(opts.model, '--model');
      // The output folder is checked before anything loads: /proc and /sys refused, a time budget, typed errors.
      await prepareOutDir(opts.out, { flag: '--out' });
      const tokenizer = await loadTokenizer(opts.model);
      // Settings and the hook are resolved against the config before any weight loads.
      const config = await loadDecoderConfig(
        opts.model,
        opts.configFile ? { configFileName: opts.configFile } : {},
      );
      const settings = resolveTrainSettings(overrides, config);
      resolveHookPoint(config, settings.hook);
      const backend = await resolveBackend(opts.backend);
      const loading = heartbeat(io, `loading ${opts.model}`, Boolean(opts.json));
      const model = await loadModel(backend, opts.model, { configFile: opts.configFile }).finally(() =>
        loading.stop(),
      );
      const controller = new AbortController();
      const onSigint = (): void => {
        if (controller.signal.aborted) process.exit(130);
        io.err('\ninterrupt: saving a checkpoint (Ctrl-C again to quit at once)\n');
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        const { hook } = settings;
        let pairs: SelfOtherPair[];
        if (opts.pairs && opts.templates) throw new UsageError('give --pairs or --templates, not both');
        if (opts.pairs) pairs = await readPairsJsonl(opts.pairs);
        else {
          const templates = opts.templates ? await readTemplatesJsonl(opts.templates) : undefined;
          pairs = makeTrainingPairs({
            layout: opts.allTemplates ? 'allTemplates' : 'paper52',
            ...(templates ? { templates } : {}),
          });
        }
        const encoded = encodePairs(pairs, tokenizer, { chatTemplate: opts.chatTemplate });
        const padId = trainingPadId(model.config, tokenizer);
        const batch = settings.batch;
        const epochs = settings.epochs;
        const stepsPerEpoch = Math.ceil(Math.ceil(encoded.length / batch) / gradAccum);
        const progress = createProgress(io, {
          label: 'train',
          total: stepsPerEpoch * epochs,
          json: Boolean(opts.json),
        });
        let phase: ReturnType<typeof heartbeat> | null = null;
        const result = await trainSoo({
          model,
          pairs: encoded,
          padId,
          hook,
          pooling: settings.pooling,
          lora: settings.lora,
          lr: settings.lr,
          weightDecay,
          clipGradNorm: clip,
          capabilityKl,
          epochs,
          batchSize: batch,
          gradAccum,
          seed,
          outDir: opts.out,
          resume: Boolean(opts.resume),
          requireCheckpoint: true,
          force: Boolean(opts.force),
          resumeOverrides: opts.resumeOverride,
          outFlag: '--out',
          settings: {
            model: path.resolve(opts.model),
            'model.weights': await fingerprintWeights(opts.model),
            configFile: opts.configFile,
            preset: settings.preset?.name ?? null,
            pairsFile: opts.pairs ? path.resolve(opts.pairs) : null,
            templatesFile: opts.templates ? path.resolve(opts.templates) : null,
            allTemplates: Boolean(opts.allTemplates),
            chatTemplate: opts.chatTemplate,
            dtype: backend.capabilities.dtypes[0] ?? null,
          },
          signal: controller.signal,
          onResume: (e) => {
            progress.rebase(e.step);
            if (opts.json)
              printJson(io, { event: 'resume', step: e.step, total: e.totalSteps, changes: e.changes });
            else
              io.err(
                `resuming from step ${e.step} of ${e.totalSteps} (epoch ${e.epoch + 1})${Object.keys(e.changes).length ? `; overridden: ${Object.keys(e.changes).join(', ')}` : ''}\n`,
              );
          },
          onPhase: (p) => {
            phase?.stop();
            const what = {
              checkpoint: 'writing a checkpoint',
              'final-adapter': 'writing the adapter',
              resume: 'reading the checkpoint',
            }[p];
            phase = heartbeat(io, what, Boolean(opts.json));
          },
          describe: {
            model: opts.model,
            preset: settings.preset?.name ?? null,
            pairsFile: opts.pairs ?? null,
            chatTemplate: opts.chatTemplate,
          },
          onStep: (e) => {
            phase?.stop();
            progress.update(e.step, { epoch: e.epoch, loss: e.loss });
          },
        }).finally(() => phase?.stop());
        progress.finish();
        const summary = {
          status: result.status,
          steps: result.steps,
          epochs: result.epochs,
          first_loss: result.losses[0] ?? null,
          final_loss: result.losses.at(-1) ?? null,
          resumed_from: result.resumedFrom,
          out: result.outDir,
          adapter: result.adapterDir,
          hook,
          backend: backend.name,
        };
        if (opts.json) printJson(io, { event: 'summary', ...summary });
        else
          io.err(
            `${result.status}: ${result.steps} steps over ${result.epochs} epochs at ${hook}; loss ${summary.first_loss} -> ${summary.final_loss}; ${result.status === 'completed' ? `adapter in ${result.outDir}` : `the adapter so far is in ${result.adapterDir}/ (checkpoint at step ${result.steps})`}\n`,
          );
        if (result.status === 'interrupted')
          throw new InterruptedError(
            `interrupted after ${result.steps} of ${stepsPerEpoch * epochs} steps; the adapter so far is in ${result.adapterDir}/; continue with the same command and --resume`,
          );
      } finally {
        process.off('SIGINT', onSigint);
        model.dispose();
      }
    });
}
