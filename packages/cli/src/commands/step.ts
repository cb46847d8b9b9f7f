import { POOLINGS, type Pooling, type TensorToWrite, writeSafetensors, loadModel } from '@soo/core';
import type { Command } from 'commander';
import { parseIds, parseList, parseNumber } from '../args.js';
import { BACKEND_HELP, resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { createProgress } from '../progress.js';

interface StepOpts {
  model: string;
  adapter?: string;
  selfIds: string;
  otherIds: string;
  hook: string;
  pooling: string;
  optimizer: string;
  lr: string;
  weightDecay: string;
  steps: string;
  targets: string;
  r: string;
  alpha: string;
  seed: string;
  out: string;
  backend?: string;
  configFile: string;
  json?: boolean;
}

export function registerStep(program: Command, io: Io): void {
  program
    .command('step')
    .description('a one-pair SOO probe: loss, LoRA gradients and AdamW steps, written to a safetensors file')
    .requiredOption('--model <dir>', 'model folder')
    .option('--adapter <dir>', 'start from this PEFT adapter (default: fresh LoRA on --targets)')
    .requiredOption('--self-ids <ids>', 'token ids of the self prompt, comma-separated')
    .requiredOption('--other-ids <ids>', 'token ids of the other prompt, comma-separated')
    .requiredOption(
      '--hook <name>',
      'hook point whose output the loss reads, e.g. model.layers.19.self_attn.o_proj',
    )
    .option('--pooling <p>', 'token alignment: last | full | mean', 'last')
    .option('--optimizer <name>', 'optimizer (adamw)', 'adamw')
    .option('--lr <x>', 'learning rate', '1e-2')
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', '0')
    .option('--steps <n>', 'optimizer steps', '1')
    .option('--targets <modules>', 'fresh LoRA targets, comma-separated', 'q_proj,v_proj')
    .option('--r <n>', 'fresh LoRA rank', '8')
    .option('--alpha <x>', 'fresh LoRA alpha', '16')
    .option('--seed <n>', 'seed for the fresh LoRA init', '0')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--backend <name>', BACKEND_HELP)
    .option('--config-file <name>', 'config file name inside the model folder', 'config.json')
    .option('--json', 'progress as JSON lines on stdout')
    .addHelpText(
      'after',
      '\nWrites: loss [steps + 1] (the loss before each step, then the final loss), grad.<PEFT key> from the\nfirst step, adapter.<PEFT key> after the last step.\n\nExample:\n  soo step --model packages/core/fixtures/hf-tiny/llama --adapter packages/core/fixtures/hf-tiny/llama/adapter \\\n    --self-ids 0,330,411 --other-ids 0,321,411 --hook model.layers.2.self_attn.o_proj --pooling full --steps 5 --out step.safetensors',
    )
    .action(async (opts: StepOpts) => {
      if (!(POOLINGS as readonly string[]).includes(opts.pooling)) {
        throw new UsageError(`--pooling: expected one of ${POOLINGS.join(', ')}, got "${opts.pooling}"`);
      }
      if (opts.optimizer !== 'adamw')
        throw new UsageError(`--optimizer: only "adamw" is available, got "${opts.optimizer}"`);
      const selfIds = parseIds('--self-ids', opts.selfIds);
      const otherIds = parseIds('--other-ids', opts.otherIds);
      const steps = parseNumber('--steps', opts.steps, { integer: true, min: 1 });
      const lr = parseNumber('--lr', opts.lr, { min: 0 });
      const weightDecay = parseNumber('--weight-decay', opts.weightDecay, { min: 0 });
      const backend = await resolveBackend(opts.backend);
      const model = await loadModel(backend, opts.model, {
        ...(opts.adapter ? { adapterDir: opts.adapter } : {}),
        configFile: opts.configFile,
      });
      try {
        if (!opts.adapter) {
          await model.attachLora({
            r: parseNumber('--r', opts.r, { integer: true, min: 1 }),
            alpha: parseNumber('--alpha', opts.alpha, { min: 0 }),
            targets: parseList(opts.targets),
            seed: parseNumber('--seed', opts.seed, { integer: true }),
          });
        }
        const padId = model.config.padTokenId ?? model.config.eosTokenIds[0] ?? 0;
        const batch = { selfIds: [selfIds], otherIds: [otherIds], padId };
        const trainer = model.createSooTrainer({
          hook: opts.hook,
          pooling: opts.pooling as Pooling,
          optimizer: { lr, weightDecay },
        });
        const tensors: Record<string, TensorToWrite> = {};
        const first = await trainer.computeLossAndGrads(batch);
        for (const [key, g] of first.grads)
          tensors[`grad.${key}`] = { dtype: 'F32', shape: g.shape, data: g.data };
        const losses: number[] = [];
        const progress = createProgress(io, { label: 'step', total: steps, json: Boolean(opts.json) });
        for (let s = 0; s < steps; s++) {
          const r = await trainer.step(batch);
          losses.push(r.loss);
          progress.update(s + 1, { loss: r.loss, ...(r.gradNorm !== null ? { grad_norm: r.gradNorm } : {}) });
        }
        const final = await trainer.computeLossAndGrads(batch);
        losses.push(final.loss);
        // The final loss (after the last step) is on the summary line below, not a second "step n/n".
        progress.finish();
        trainer.dispose();
        tensors.loss = { dtype: 'F32', shape: [losses.length], data: Float32Array.from(losses) };
        const adapter = await model.getAdapter();
        if (adapter)
          for (const [key, t] of adapter.tensors)
            tensors[`adapter.${key}`] = { dtype: 'F32', shape: t.shape, data: t.data };
        await writeSafetensors(opts.out, tensors, {
          backend: backend.name,
          hook: opts.hook,
          pooling: opts.pooling,
        });
        if (!opts.json)
          io.err(`loss ${losses[0]} -> ${final.loss} after ${steps} step(s); wrote ${opts.out}\n`);
      } finally {
        model.dispose();
      }
    });
}
