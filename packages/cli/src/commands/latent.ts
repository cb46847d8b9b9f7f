import {
  LINEAR_SUBSETS,
  type LatentSooReport,
  type LinearSubset,
  POOLINGS,
  type Pooling,
  type SelfOtherPair,
  latentMarkdown,
  latentProbePairs,
  loadTokenizer,
  measureLatentSoo,
  readPairsJsonl,
  writeLatent,
  ADAPTER_WEIGHTS_NAME,
  adapterTensors,
  checkModelDir,
  loadDecoderConfig,
  prepareOutDir,
  readAdapter,
} from '@soo/core';
import * as path from 'node:path';
import type { Command } from 'commander';
import { parseNumber } from '../args.js';
import { BACKEND_HELP, loadModelFor, resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import { type Io, printJson } from '../io.js';
import { createProgress, heartbeat } from '../progress.js';

interface LatentOpts {
  model: string;
  adapter?: string;
  modules: string;
  pooling: string;
  pairs?: string;
  limit?: string;
  batch: string;
  out: string;
  backend?: string;
  configFile: string;
  json?: boolean;
}

export function registerLatent(program: Command, io: Io): void {
  program
    .command('latent')
    .description(
      'latent SOO: MSE between self and other activations of the Linear layers on the probe pairs (lower = more overlap)',
    )
    .requiredOption('--model <dir>', 'model folder')
    .option(
      '--adapter <dir>',
      'PEFT LoRA adapter folder: measure the base model and the model with the adapter',
    )
    .option('--modules <subset>', `Linear outputs to average over: ${LINEAR_SUBSETS.join(' | ')}`, 'all')
    .option(
      '--pooling <p>',
      'token alignment: full (right-pad the pair to one length, MSE over [T, hidden]) | last | mean',
      'full',
    )
    .option(
      '--pairs <file>',
      'probe pairs JSONL ({"self", "other"} per line) instead of the 52 built-in probe pairs',
    )
    .option('--limit <n>', 'use only the first n pairs')
    .option('--batch <n>', 'pairs per forward pass', '1')
    .requiredOption('--out <dir>', 'output folder: latent.json, latent.md, latent_layers.svg')
    .option('--backend <name>', BACKEND_HELP)
    .option('--config-file <name>', 'config file name inside the model folder', 'config.json')
    .option('--json', 'progress as JSON lines on stdout, then the report as one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  soo latent --model ./Mistral-7B-Instruct-v0.2 --adapter runs/soo-seed276 --out runs/soo-seed276/latent\n' +
        '  soo latent --model packages/core/fixtures/hf-tiny/llama --adapter packages/core/fixtures/hf-tiny/llama/adapter --limit 4 --out /tmp/tiny-latent',
    )
    .action(async (opts: LatentOpts) => {
      if (!(LINEAR_SUBSETS as readonly string[]).includes(opts.modules)) {
        throw new UsageError(
          `--modules: expected one of ${LINEAR_SUBSETS.join(', ')}, got "${opts.modules}"`,
        );
      }
      if (!(POOLINGS as readonly string[]).includes(opts.pooling)) {
        throw new UsageError(`--pooling: expected one of ${POOLINGS.join(', ')}, got "${opts.pooling}"`);
      }
      const batchSize = parseNumber('--batch', opts.batch, { integer: true, min: 1 });
      const limit =
        opts.limit !== undefined ? parseNumber('--limit', opts.limit, { integer: true, min: 1 }) : undefined;
      // Probe pairs are measurement prompts, not training data: no overlap check against the test vocabulary.
      let pairs: SelfOtherPair[] = opts.pairs
        ? await readPairsJsonl(opts.pairs, { checkAgainst: false })
        : latentProbePairs();
      if (limit !== undefined) pairs = pairs.slice(0, limit);
      const json = Boolean(opts.json);
      await checkModelDir(opts.model, '--model');
      await prepareOutDir(opts.out, { flag: '--out' });
      if (opts.adapter) {
        // The adapter must fit the model before the base pass runs (not after it): same modules, same shapes.
        const config = await loadDecoderConfig(opts.model, { configFileName: opts.configFile });
        await checkModelDir(opts.adapter, '--adapter');
        const adapter = await readAdapter(opts.adapter);
        adapterTensors(config, adapter, path.join(opts.adapter, ADAPTER_WEIGHTS_NAME));
      }
      const tokenizer = await loadTokenizer(opts.model);
      const backend = await resolveBackend(opts.backend);
      const runs: Array<{ label: string; adapterDir?: string }> = [{ label: 'base' }];
      if (opts.adapter) runs.push({ label: 'adapter', adapterDir: opts.adapter });
      const reports: LatentSooReport[] = [];
      for (const run of runs) {
        const loading = heartbeat(io, `loading ${opts.model}`, json);
        const model = await loadModelFor(backend, opts.model, {
          ...(run.adapterDir ? { adapterDir: run.adapterDir } : {}),
          configFile: opts.configFile,
        }).finally(() => loading.stop());
        try {
          const progress = createProgress(io, { label: `pair (${run.label})`, total: pairs.length, json });
          reports.push(
            await measureLatentSoo({
              model,
              tokenizer,
              pairs,
              modules: opts.modules as LinearSubset,
              pooling: opts.pooling as Pooling,
              batchSize,
              onProgress: (p) => progress.update(p.done),
            }),
          );
          progress.finish();
        } finally {
          model.dispose();
        }
      }
      const [base, tuned] = reports as [LatentSooReport, LatentSooReport | undefined];
      const files = await writeLatent(opts.out, base, tuned);
      if (json) {
        printJson(io, { event: 'result', base, ...(tuned ? { adapter: tuned } : {}), files });
      } else {
        io.out(latentMarkdown(base, tuned));
        io.err(`wrote ${files.join(', ')}\n`);
      }
    });
}
